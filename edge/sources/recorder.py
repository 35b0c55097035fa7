"""The recorder: everything the live sources deliver, written as a trace v1.

It writes exactly what each source delivered, when it arrived, so a replay
of the file runs the same decoders on the same bytes as the live agent did.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Sequence
from typing import Any

from edge.sources.base import Clock, Received, Source, monotonic_clock
from edge.sources.trace import TraceWriter


class Recorder:
    """Runs sources side by side and tees every chunk into a trace file.

    `tap`, when given, sees every chunk too, just after it is written: the live pipeline
    can run on the very chunks the trace holds.
    """

    def __init__(self, path: str | os.PathLike[str], sources: Sequence[Source], *,
                 meta: dict[str, Any] | None = None, clock: Clock = monotonic_clock,
                 flush_every_s: float = 1.0, tap: Callable[[Received], None] | None = None):
        self.sources = list(sources)
        self.tap = tap
        self.clock = clock
        self.flush_every_s = flush_every_s
        self.writer = TraceWriter(path, {s.name: s.describe() for s in self.sources},
                                  meta=meta, start_s=clock())

    async def run(self, seconds: float) -> int:
        """Record for `seconds` of the clock; returns the number of chunks written."""
        deadline = self.writer.start_s + seconds

        async def pump(source: Source) -> None:
            async for received in source.stream():
                self.writer.write(received)
                if self.tap is not None:
                    self.tap(received)

        tasks = [asyncio.create_task(pump(s)) for s in self.sources]
        try:
            while (left := deadline - self.clock()) > 0:
                done = [t for t in tasks if t.done()]
                for task in done:
                    task.result()  # a source that failed outright stops the recording loudly
                await asyncio.sleep(min(left, self.flush_every_s))
                self.writer.flush()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self.writer.close()
        return self.writer.chunks
