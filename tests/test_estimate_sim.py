"""Simulated sittings for the estimate tests, replayed from real trace bytes; and the checks
that the estimate stage gives the same answers however the bytes are batched.

The helpers here (`sim_trace`, `replay`, `tour`) are imported by the other
tests/test_estimate_*.py modules.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from edge.decode import Decoders
from edge.estimate.estimator import EstimateSeconds, Estimator
from edge.estimate.labels import POSTURES
from edge.sources.replay import batches
from edge.sources.trace import TraceReader
from firmware_sim.scenario import Scenario, Segment, Shift
from firmware_sim.simulation import Sitter, write_simulated_trace

DATA = Path(__file__).parent / "data"
ALL = {"mat": True, "imu_left": True, "imu_right": True}


def tour(seed: int, hold_s: float = 35.0) -> Scenario:
    """Every posture in turn, `hold_s` each, starting upright (seeds >= 1000 only)."""
    order = ["upright", "leaning_left", "leaning_right", "slouched", "crossed_left_over_right",
             "upright", "crossed_right_over_left", "foot_under_left", "foot_under_right",
             "standing", "empty", "standing", "upright"]
    segments = [Segment(posture=p, activity="walking" if p == "empty" else "still",
                        duration_s=hold_s, transition_s=0.0 if i == 0 else 2.0)
                for i, p in enumerate(order)]
    return Scenario(name="tour", seed=seed, segments=tuple(segments))


def shifted(seed: int) -> Scenario:
    """Upright with a 20 s lift of the left buttock at 40 s, then fidgeting, then still."""
    return Scenario(name="shifted", seed=seed, segments=(
        Segment(posture="upright", activity="shifts", duration_s=100.0,
                shifts=(Shift(offset_s=40.0, duration_s=20.0, kind="lift_left"),)),
        Segment(posture="upright", activity="fidget", duration_s=40.0, transition_s=1.2),
        Segment(posture="upright", activity="still", duration_s=30.0, transition_s=1.2),
    ))


_made: dict[tuple, Path] = {}


def sim_trace(base: Path, scenario: Scenario, *, weight_kg: float = 75.0,
              seat: str = "cushioned", seed: int | None = None) -> Path:
    """The sitting written as a trace (once per session)."""
    seed = scenario.seed if seed is None else seed
    key = (scenario.name, scenario.seed, weight_kg, seat, seed, len(scenario.segments))
    if key not in _made:
        path = base / f"{scenario.name}-{scenario.seed}-{weight_kg:g}-{seat}-{seed}.jsonl.gz"
        write_simulated_trace(path, Sitter(scenario, weight_kg=weight_kg, seat=seat, seed=seed))
        _made[key] = path
    return _made[key]


def replay(path: Path, *, present: dict[str, bool] | None = None, batch: int = 4096,
           drop=None, **kwargs) -> EstimateSeconds:
    """Trace -> Decoders -> Estimator -> every window's estimate. `drop(received)` True
    leaves a chunk out (a sensor going silent)."""
    reader = TraceReader(path)
    decoders = Decoders(reader.header.sources)
    est = Estimator(present=present or ALL, seat=reader.header.meta.get("seat"), **kwargs)
    parts = []
    for chunk in batches(reader, batch):
        if drop is not None:
            chunk = [r for r in chunk if not drop(r)]
        parts.append(est.feed(decoders.feed(chunk)))
    parts.append(est.flush())
    return EstimateSeconds.concat(parts)


def scored(scenario: Scenario, out: EstimateSeconds, margin_s: float = 3.0):
    """(truth, estimated) of the windows away from transitions."""
    t = out.t_s
    keep = t <= scenario.duration_s
    for tr in scenario.ground_truth()["transitions"]:
        keep &= ~((t > tr["start_s"] - margin_s) & (t - 1.0 < tr["end_s"] + margin_s))
    truth = scenario.posture_index_at(np.minimum(t - 0.5, scenario.duration_s - 1e-6))
    return truth[keep], out.posture[keep].astype(np.int64), keep


@functools.cache
def _data(name: str) -> EstimateSeconds:
    return replay(DATA / name)


# --- batching does not change the estimates ------------------------------------------------


@pytest.mark.parametrize("name", ["upright_shift.jsonl.gz", "walk_away.jsonl.gz"])
def test_small_and_large_batches_give_the_same_estimates(name):
    whole = _data(name)
    live = replay(DATA / name, batch=7)
    assert len(whole) == len(live) > 40
    for field in ("t_s", "posture", "confidence", "site_mmHg", "relief", "fidget", "walking",
                  "mat", "imu_left", "imu_right", "probabilities"):
        np.testing.assert_array_equal(getattr(whole, field), getattr(live, field), err_msg=field)
    np.testing.assert_array_equal(whole.seat.load_n, live.seat.load_n)
    assert whole.events == live.events


def test_every_second_once_in_order_from_the_first_data_to_the_last():
    out = _data("walk_away.jsonl.gz")
    scenario = Scenario.from_dict(TraceReader(DATA / "walk_away.jsonl.gz").header.meta[
        "scenario_plan"])
    np.testing.assert_array_equal(out.t_s, np.arange(1, len(out) + 1, dtype=float))
    assert out.t_s[-1] >= scenario.duration_s
    assert out.posture.dtype == np.int8 and out.site_mmHg.shape == (len(out), 6)
    assert np.all((out.confidence >= 0) & (out.confidence <= 1))
    np.testing.assert_allclose(out.probabilities.sum(axis=1), 1.0)
    assert {POSTURES[p] for p in out.posture} >= {"upright", "standing", "empty"}
