"""Live simulated devices -> real pyserial and bleak -> recorder -> replay: the same arrays."""

from __future__ import annotations

import asyncio

import numpy as np

from edge.decode import Decoders
from edge.sources.ble import BleImuSource
from edge.sources.recorder import Recorder
from edge.sources.replay import batches
from edge.sources.serial import SerialSource
from edge.sources.trace import TraceReader
from firmware_sim.radio import BumbleClient, BumbleScanner
from firmware_sim.scenario import get_scenario
from firmware_sim.simulation import LiveDesk, Sitter


def gather(decoded_batches):
    """Concatenate decoded output per source: pressure counts and device times, IMU samples."""
    out: dict[str, dict[str, list]] = {}
    for decoded_by_source in decoded_batches:
        for name, decoded in decoded_by_source.items():
            parts = out.setdefault(name, {"counts": [], "mat_ms": [], "imu": [], "imu_ms": []})
            for frames in decoded.pressure:
                parts["counts"].append(frames.counts)
                parts["mat_ms"].append(frames.device_ms)
            if decoded.imu is not None:
                parts["imu"].append(np.hstack([decoded.imu.accel_mg, decoded.imu.gyro_dps10]))
                parts["imu_ms"].append(decoded.imu.device_ms)
    return {name: {key: np.concatenate(value) if value else np.empty(0)
                   for key, value in parts.items()} for name, parts in out.items()}


def test_record_then_replay_gives_the_live_arrays_and_the_simulated_values(tmp_path):
    sitter = Sitter(get_scenario("crossed_legs", seed=3), weight_kg=70, seat="hard", seed=3)
    path = tmp_path / "live.jsonl.gz"
    live_decoders: Decoders | None = None
    live: list = []

    async def main():
        nonlocal live_decoders
        desk = LiveDesk(sitter, speed=5.0, hci="tcp-server:127.0.0.1:0")
        async with desk:
            backends = {"scanner_backend": BumbleScanner, "client_backend": BumbleClient,
                        "backend_kwargs": {"bumble": {"hci": desk.hci_client}}}
            sources = [SerialSource(desk.serial_path),
                       BleImuSource("left", rate_hz=50, mtu=247, **backends),
                       BleImuSource("right", rate_hz=50, mtu=23, **backends)]
            live_decoders = Decoders({s.name: s.describe() for s in sources})
            recorder = Recorder(path, sources, meta=sitter.meta(),
                                tap=lambda r: live.append(live_decoders.feed([r])))
            playing = asyncio.create_task(desk.run())
            try:
                await recorder.run(seconds=6.0)
            finally:
                playing.cancel()
                await asyncio.gather(playing, return_exceptions=True)
        return desk

    asyncio.run(main())
    live_arrays = gather(live)

    reader = TraceReader(path)
    assert set(reader.header.sources) == {"mat", "imu_left", "imu_right"}
    assert reader.header.meta["ground_truth"]["segments"]
    replay_decoders = Decoders(reader.header.sources)
    replayed = gather(replay_decoders.feed(batch) for batch in batches(reader, size=1000))
    assert reader.damage.total == 0

    for name in ("mat", "imu_left", "imu_right"):
        for key, value in live_arrays[name].items():
            np.testing.assert_array_equal(replayed[name][key], value, err_msg=f"{name} {key}")
    assert replay_decoders.stats() == live_decoders.stats()

    # And the arrays are exactly what the simulated body produced.
    body, scenario = sitter.body(), sitter.scenario
    mat = replayed["mat"]
    assert len(mat["counts"]) > 100
    np.testing.assert_array_equal(mat["counts"], body.pressure_counts(scenario, mat["mat_ms"] / 1000))
    for name, placement in (("imu_left", 1), ("imu_right", 2)):
        imu = replayed[name]
        assert len(imu["imu"]) > 200
        np.testing.assert_array_equal(imu["imu"],
                                      body.imu_samples(scenario, placement, imu["imu_ms"] / 1000))
    assert replay_decoders.stats()["mat"]["bad_packets"] == 0
