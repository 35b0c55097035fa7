"""What every source delivers: received bytes, stamped with their arrival time.

A source owns one link (a serial port, one BLE unit, a trace file) and turns
it into `Received` chunks. It never decodes: decoding is `edge.wire`'s job, so
the recorder can write exactly what arrived and a replay decodes it again.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

Clock = Callable[[], float]
"""Seconds from an arbitrary origin, never going backwards (time.monotonic by default)."""


@dataclass(frozen=True, slots=True)
class Received:
    """One chunk as the link delivered it: a serial read, or one BLE notification."""

    source: str
    arrival_s: float
    data: bytes


@dataclass(slots=True)
class LinkHealth:
    """Counters a source keeps about its link (not about the bytes: see edge.wire)."""

    connects: int = 0
    disconnects: int = 0
    dropped_chunks: int = 0
    battery_pct: int | None = None  # the unit's battery level, where it reports one
    last_error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Source(Protocol):
    """A link that yields `Received` chunks until cancelled (or, for a trace, until its end)."""

    name: str
    transport: str  # "serial" or "ble", as in the trace header
    health: LinkHealth

    def describe(self) -> dict[str, Any]:
        """What is known of the link, for the trace header's `sources` entry."""
        ...

    def stream(self) -> AsyncIterator[Received]:
        """Received chunks, in arrival order."""
        ...


def monotonic_clock() -> float:
    return time.monotonic()
