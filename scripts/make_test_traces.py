"""Write the short simulated traces under tests/data/ (each well under 1 MB).

One is recorded live, through the same path as on a Pi: the simulated mat on
a pseudo-terminal read with pyserial, the simulated thigh units on the
simulated radio read with bleak, and the recorder. The others are written by
the offline generator. Each header's `meta` holds the sitter, the scenario
plan and its ground truth.

    .venv/bin/python scripts/make_test_traces.py [--out tests/data]
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from edge.sources.ble import BleImuSource
from edge.sources.recorder import Recorder
from edge.sources.serial import SerialSource
from firmware_sim.radio import BumbleClient, BumbleScanner
from firmware_sim.scenario import Scenario, Segment, Shift
from firmware_sim.simulation import LiveDesk, Sitter, write_simulated_trace


def plan(name: str, *segments: Segment) -> Scenario:
    return Scenario(name=name, seed=5, segments=segments)


TRACES = {
    # name: (sitter, recorded live?)
    "crossing_left": (Sitter(plan(
        "crossing_left", Segment("upright", "still", 15.0),
        Segment("crossed_left_over_right", "still", 30.0, transition_s=2.0),
        Segment("upright", "still", 10.0, transition_s=2.0)),
        weight_kg=68.0, seat="cushioned", seed=21), True),
    "foot_under_right": (Sitter(plan(
        "foot_under_right", Segment("upright", "fidget", 12.0),
        Segment("foot_under_right", "still", 30.0, transition_s=2.5),
        Segment("upright", "still", 10.0, transition_s=2.0)),
        weight_kg=112.0, seat="hard", seed=22), False),
    "walk_away": (Sitter(plan(
        "walk_away", Segment("upright", "still", 10.0),
        Segment("standing", "still", 6.0, transition_s=2.0),
        Segment("empty", "walking", 20.0, transition_s=2.0),
        Segment("upright", "still", 10.0, transition_s=2.5)),
        weight_kg=52.0, seat="cushioned", seed=23), False),
    "upright_shift": (Sitter(plan(
        "upright_shift", Segment("upright", "shifts", 50.0,
                                 shifts=(Shift(15.0, 20.0, "lift_left"),))),
        weight_kg=85.0, seat="hard", seed=24), False),
}


async def record_live(path: Path, sitter: Sitter) -> int:
    async with LiveDesk(sitter, speed=1.0, hci="tcp-server:127.0.0.1:0") as desk:
        backends = {"scanner_backend": BumbleScanner, "client_backend": BumbleClient,
                    "backend_kwargs": {"bumble": {"hci": desk.hci_client}}}
        sources = [SerialSource(desk.serial_path),
                   BleImuSource("left", rate_hz=50, **backends),
                   BleImuSource("right", rate_hz=50, **backends)]
        recorder = Recorder(path, sources, meta={**sitter.meta(), "recorded": "live"})
        playing = asyncio.create_task(desk.run())
        try:
            return await recorder.run(seconds=desk.duration_s)
        finally:
            playing.cancel()
            await asyncio.gather(playing, return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("tests/data"))
    args = parser.parse_args()
    for name, (sitter, live) in TRACES.items():
        path = args.out / f"{name}.jsonl.gz"
        if live:
            chunks = asyncio.run(record_live(path, sitter))
        else:
            chunks = write_simulated_trace(path, sitter)
        print(f"{path}: {chunks} chunks, {path.stat().st_size / 1e6:.2f} MB"
              f"{' (recorded live)' if live else ''}")


if __name__ == "__main__":
    main()
