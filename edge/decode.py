"""Received chunks of named sources -> decoded frames, one decoder per source.

Owns the choice of decoder from what a source is (its trace-header entry or
`describe()`): a serial source carries the SeatMat stream, a BLE source one
LegIMU's notifications. Live and replay both decode through here, in batches.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from edge.sources.base import Received
from edge.wire import (
    DEFAULT_IMU_RATE_HZ,
    PLACEMENTS,
    Decoded,
    LegImuDecoder,
    SeatMatDecoder,
    StreamCounters,
)

_PLACEMENT_CODES = {name: code for code, name in PLACEMENTS.items()}


def placement_code(value: Any) -> int | None:
    """A placement as the header may give it: 1/2, or "left"/"right"; None when unknown."""
    if value in PLACEMENTS:
        return int(value)
    return _PLACEMENT_CODES.get(str(value).lower()) if value is not None else None


class SourceDecoder:
    """The decoder for one named source, and its counters."""

    def __init__(self, name: str, info: Mapping[str, Any]):
        self.name = name
        self.transport = info.get("transport")
        rate = info.get("rate_hz", DEFAULT_IMU_RATE_HZ)
        rate = rate if isinstance(rate, (int, float)) and rate > 0 else DEFAULT_IMU_RATE_HZ
        self.counters = StreamCounters()
        if self.transport == "serial":
            self._mat = SeatMatDecoder(imu_rate_hz=info.get("imu_rate_hz", rate),
                                       counters=self.counters)
        elif self.transport == "ble":
            self._imu = LegImuDecoder(rate_hz=rate, placement=placement_code(info.get("placement")),
                                      counters=self.counters)
        else:
            raise ValueError(f"source {name!r}: unknown transport {self.transport!r}")

    def feed(self, chunks: list[bytes], arrivals_s: list[float]) -> Decoded:
        if self.transport == "serial":
            return self._mat.feed_many(chunks, arrivals_s)
        return Decoded(imu=self._imu.feed(chunks, arrivals_s))


class Decoders:
    """All sources' decoders. `feed` takes received chunks in arrival order, of any sources."""

    def __init__(self, sources: Mapping[str, Mapping[str, Any]]):
        self.by_source = {name: SourceDecoder(name, info) for name, info in sources.items()}

    def feed(self, received: Iterable[Received]) -> dict[str, Decoded]:
        """Decode a batch; each source's chunks stay in order. Unknown sources raise KeyError."""
        batches: dict[str, tuple[list[bytes], list[float]]] = {}
        for chunk in received:
            data, arrivals = batches.setdefault(chunk.source, ([], []))
            data.append(chunk.data)
            arrivals.append(chunk.arrival_s)
        return {name: self.by_source[name].feed(data, arrivals)
                for name, (data, arrivals) in batches.items()}

    def stats(self) -> dict[str, dict[str, int]]:
        return {name: decoder.counters.stats() for name, decoder in self.by_source.items()}
