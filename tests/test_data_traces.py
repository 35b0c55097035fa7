"""The recorded traces shipped under tests/data replay cleanly and carry their ground truth."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.sources.replay import trace_stats
from edge.sources.trace import TraceReader
from firmware_sim.scenario import Scenario

DATA = Path(__file__).parent / "data"
TRACES = sorted(DATA.glob("*.jsonl.gz"))


def test_there_are_test_traces():
    assert len(TRACES) >= 3


@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.name)
def test_trace_is_small_decodes_cleanly_and_has_ground_truth(path):
    assert path.stat().st_size < 1_000_000
    reader = TraceReader(path)
    meta = reader.header.meta
    scenario = Scenario.from_dict(meta["scenario_plan"])
    assert meta["ground_truth"] == scenario.ground_truth()
    stats = trace_stats(reader)
    assert reader.damage.total == 0
    duration = scenario.duration_s
    mat = stats["mat"]
    assert mat["bad_packets"] == 0
    # Every frame of the sitting (a live recording may miss the first read's partial packet).
    assert duration * 20 - 2 <= mat["pressure_frames"] <= duration * 20 + 1
    for name in ("imu_left", "imu_right"):
        assert stats[name]["bad_packets"] == 0 and stats[name]["seq_gaps"] == 0
        assert stats[name]["imu_samples"] >= duration * 50 - 2 * 19
