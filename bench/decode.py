"""Decode throughput on a one-hour simulated trace.

Generates (once, cached under the system temp dir) a one-hour `workday`
trace of the simulated mat at 20 frames/s and both thigh sensors at 50 Hz
over BLE, then times decoding it as `legwake replay --stats` does: reading
the file, base64, COBS, CRC, numpy frames. Prints packets/s, MB/s of sensor
bytes, and the multiple of real time, best of --repeat runs, one core.

    .venv/bin/python bench/decode.py [--minutes 60] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from edge.decode import Decoders
from edge.sources.replay import batches
from edge.sources.trace import TraceReader
from firmware_sim.body import Body
from firmware_sim.scenario import get_scenario
from firmware_sim.tracegen import write_trace


def make_trace(minutes: float) -> Path:
    path = Path(tempfile.gettempdir()) / f"legwake-bench-workday-{minutes:g}min.jsonl.gz"
    if path.exists():
        return path
    scenario = get_scenario("workday", seed=11)
    duration = min(scenario.duration_s, minutes * 60)
    body = Body(weight_kg=80, seat="cushioned", seed=11)
    started = time.perf_counter()
    partial = path.with_name(path.name.replace(".jsonl.gz", ".part.jsonl.gz"))
    write_trace(partial, duration_s=duration,
                pressure=lambda t: body.pressure_counts(scenario, t),
                motion=lambda placement, t: body.imu_samples(scenario, placement, t),
                meta={"scenario": "workday", "seed": 11, "bench": True})
    os.replace(partial, path)
    print(f"generated {path} ({path.stat().st_size / 1e6:.1f} MB, {duration / 60:.0f} min) "
          f"in {time.perf_counter() - started:.1f} s")
    return path


def decode_once(path: Path) -> tuple[float, int, int, float]:
    """(seconds, packets, sensor bytes, trace duration in seconds)."""
    started = time.perf_counter()
    reader = TraceReader(path)
    decoders = Decoders(reader.header.sources)
    sensor_bytes = 0
    last_t = 0.0
    for batch in batches(reader):
        sensor_bytes += sum(len(r.data) for r in batch)
        last_t = batch[-1].arrival_s
        decoders.feed(batch)
    elapsed = time.perf_counter() - started
    packets = sum(d.counters.packets for d in decoders.by_source.values())
    return elapsed, packets, sensor_bytes, last_t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    path = make_trace(args.minutes)
    runs = [decode_once(path) for _ in range(args.repeat)]
    elapsed, packets, sensor_bytes, duration = min(runs)
    print(f"trace: {duration / 60:.1f} min, {packets} packets, {sensor_bytes / 1e6:.1f} MB of "
          f"sensor bytes, {path.stat().st_size / 1e6:.1f} MB on disk")
    print(f"decode (best of {args.repeat}): {elapsed:.2f} s = {packets / elapsed:,.0f} packets/s, "
          f"{sensor_bytes / elapsed / 1e6:.1f} MB/s, {duration / elapsed:,.0f}x real time")


if __name__ == "__main__":
    main()
