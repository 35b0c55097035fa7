"""Simulated SeatMat -> pseudo-terminal -> pyserial -> decoder, with no mocks."""

from __future__ import annotations

import asyncio

import numpy as np

from edge.decode import Decoders
from edge.sources.serial import SerialSource
from firmware_sim.clock import SimClock
from firmware_sim.seatmat import PtySeatMat, SeatMatFirmware
from tests.signals import ramp_pressure


async def collect(source: SerialSource, sink: list, stop: asyncio.Event) -> None:
    async for received in source.stream():
        sink.append(received)
        if stop.is_set():
            return


async def wait_for(predicate, timeout_s: float = 10.0) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.01)
    await asyncio.wait_for(poll(), timeout_s)


def test_pty_round_trip_gives_back_exactly_the_simulated_counts():
    async def main():
        clock = SimClock(speed=10.0)
        firmware = SeatMatFirmware(pressure=ramp_pressure, rate_hz=20, boot_ms=2**32 - 1500)
        mat = PtySeatMat(firmware, clock, until_s=6.0)
        source = SerialSource(mat.path)
        received: list = []
        reader = asyncio.create_task(collect(source, received, asyncio.Event()))
        try:
            await wait_for(lambda: source.health.connects == 1)
            clock.restart()
            await asyncio.wait_for(mat.run(), 10)
            await wait_for(lambda: sum(len(r.data) for r in received) >= mat.stats.bytes_sent)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            mat.close()
        return firmware, mat, received

    _firmware, mat, received = asyncio.run(main())
    assert mat.stats.packets_dropped == 0
    decoders = Decoders({"mat": source_info()})
    decoded = decoders.feed(received)["mat"]
    frames = decoded.pressure[0]
    expected_times = np.arange(0, 6.0 * 20 + 1) / 20
    np.testing.assert_array_equal(frames.counts, ramp_pressure(expected_times))
    np.testing.assert_array_equal(frames.device_ms, 2**32 - 1500 + expected_times * 1000)
    assert decoded.status is not None and len(decoded.status) == 7
    assert decoders.stats()["mat"] == {"packets": 121 + 7, "bad_packets": 0, "seq_gaps": 0,
                                       "pressure_frames": 121, "imu_samples": 0}


def source_info() -> dict:
    return {"transport": "serial"}


def test_serial_source_reopens_when_the_port_disappears_and_comes_back(tmp_path):
    link = tmp_path / "ttyACM0"

    async def main():
        received: list = []
        first = PtySeatMat(SeatMatFirmware(pressure=ramp_pressure), SimClock(), until_s=600,
                           link=link)
        source = SerialSource(str(link), reopen_interval_s=0.05)
        reader = asyncio.create_task(collect(source, received, asyncio.Event()))
        playing = asyncio.create_task(first.run())
        try:
            await wait_for(lambda: len(received) > 3)
            playing.cancel()
            first.close()  # unplugged
            await wait_for(lambda: source.health.disconnects == 1)
            before = len(received)
            second = PtySeatMat(SeatMatFirmware(pressure=ramp_pressure), SimClock(), until_s=600,
                                link=link)
            playing = asyncio.create_task(second.run())
            await wait_for(lambda: source.health.connects == 2 and len(received) > before + 3)
            second.close()
        finally:
            for task in (reader, playing):
                task.cancel()
            await asyncio.gather(reader, playing, return_exceptions=True)
        return source, received

    source, received = asyncio.run(main())
    decoders = Decoders({"mat": source_info()})
    decoded = decoders.feed(received)["mat"]
    assert decoded.pressure_frames > 4
    assert source.health.connects == 2
