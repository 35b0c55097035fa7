"""Replay of a recorded trace: its chunks, as fast as possible or paced in time.

Owns pacing only; reading the file is `edge.sources.trace`. Batches let a
replay decode many chunks per call (the same decoders the live agent uses).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

from edge.decode import Decoders
from edge.sources.base import Received
from edge.sources.trace import TraceReader


def batches(reader: TraceReader, size: int = 4096, *,
            span_s: float | None = None) -> Iterator[list[Received]]:
    """The trace's chunks in lists of up to `size`, in file order; with `span_s`, each list
    also covers at most `span_s` seconds of arrivals (sparse chunks spanning hours would
    otherwise make one feed hold all their windows)."""
    batch: list[Received] = []
    for received in reader:
        if batch and span_s is not None and received.arrival_s - batch[0].arrival_s > span_s:
            yield batch
            batch = []
        batch.append(received)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


async def paced(reader: TraceReader, *, speed: float | None = None) -> AsyncIterator[Received]:
    """Chunks at their recorded times divided by `speed` (1.0 = real time; None = no waiting)."""
    if speed is not None and not speed > 0:
        raise ValueError(f"speed must be positive, got {speed}")
    wall_start = time.monotonic()
    for received in reader:
        if speed is not None:
            delay = wall_start + received.arrival_s / speed - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        yield received


def trace_stats(reader: TraceReader) -> dict[str, dict[str, int]]:
    """Decode a whole trace; per-source counters, a chunk whose base64 is bad counted as bad."""
    decoders = Decoders(reader.header.sources)
    for batch in batches(reader):
        decoders.feed(batch)
    return stats_of(decoders, reader)


def stats_of(decoders: Decoders, reader: TraceReader) -> dict[str, dict[str, int]]:
    """The decoders' counters after a replay, with chunks whose base64 was bad as bad packets."""
    stats = decoders.stats()
    for name, count in reader.damage.bad_base64.items():
        stats[name]["bad_packets"] += count
    return stats
