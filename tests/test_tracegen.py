"""The offline trace generator writes what the live devices would have delivered."""

from __future__ import annotations

import numpy as np
import pytest

from edge.decode import Decoders
from edge.sources.replay import batches, trace_stats
from edge.sources.trace import TraceReader
from firmware_sim.tracegen import write_trace
from tests.signals import ramp_pressure, wave_motion


@pytest.mark.parametrize("imu_transport, mtu", [("ble", 23), ("ble", 247), ("serial", 247)])
def test_generated_trace_decodes_to_exactly_the_simulated_values(tmp_path, imu_transport, mtu):
    path = tmp_path / "sim.jsonl.gz"
    write_trace(path, duration_s=30.0, pressure=ramp_pressure, motion=wave_motion,
                meta={"scenario": "test"}, imu_mtu=mtu, imu_transport=imu_transport)
    reader = TraceReader(path)
    decoders = Decoders(reader.header.sources)
    counts, imu = [], []
    for batch in batches(reader, size=500):
        for decoded in decoders.feed(batch).values():
            counts += [frames.counts for frames in decoded.pressure]
            if decoded.imu is not None:
                imu.append(decoded.imu)
    frames = np.concatenate(counts)
    np.testing.assert_array_equal(frames, ramp_pressure(np.arange(len(frames)) / 20))
    assert len(frames) == 30 * 20 + 1
    for placement in (1, 2):
        samples = [chunk.for_placement(placement) for chunk in imu]
        accel = np.concatenate([s.accel_mg for s in samples])
        device_ms = np.concatenate([s.device_ms for s in samples])
        t_s = (device_ms - device_ms[0]) / 1000.0
        np.testing.assert_array_equal(accel, wave_motion(placement, t_s)[:, :3])
        assert len(accel) >= 30 * 50 - 19
    stats = trace_stats(TraceReader(path))
    assert all(s["bad_packets"] == 0 and s["seq_gaps"] == 0 for s in stats.values())
    assert reader.damage.total == 0
