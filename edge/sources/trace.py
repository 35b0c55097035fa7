"""Recorded traces, v1 (`spec/hardware.md` section 3): the file format, read and written.

A trace holds what the agent received, as it received it: a header line, then
one JSON line per received chunk. Reading never fails on a bad line (it is
counted and skipped); only a header of another format or version is refused.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import io
import json
import math
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Self

from edge.sources.base import Received

TRACE_FORMAT = "posture-trace"
TRACE_VERSION = 1
TRANSPORTS = ("serial", "ble")
# The exact shape TraceWriter writes: {"t":<number>,"src":"<name>","b64":"<base64>"}
_CANONICAL_LINE = re.compile(
    rb'\{"t":(-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?),"src":"([A-Za-z0-9_.-]+)",'
    rb'"b64":"([A-Za-z0-9+/=]*)"\}\r?\n?$')


class TraceError(ValueError):
    """The file is not a posture trace this version can read."""


def _open_text(path: str | os.PathLike[str], mode: str) -> IO[str]:
    if os.fspath(path).endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, mode + "b"), encoding="utf-8", newline="\n")
    return open(path, mode, encoding="utf-8", newline="\n")


@dataclass(frozen=True, slots=True)
class TraceHeader:
    started: str
    sources: dict[str, dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"format": TRACE_FORMAT, "version": TRACE_VERSION,
                           "started": self.started, "sources": self.sources, "meta": self.meta},
                          separators=(",", ":"))

    @classmethod
    def parse(cls, line: str, where: str) -> TraceHeader:
        try:
            head = json.loads(line)
        except ValueError:
            raise TraceError(f"{where}: the first line is not JSON, so this is not a "
                             f"{TRACE_FORMAT} file") from None
        if not isinstance(head, dict) or head.get("format") != TRACE_FORMAT:
            found = head.get("format") if isinstance(head, dict) else type(head).__name__
            raise TraceError(f"{where}: format {found!r} is not {TRACE_FORMAT!r}")
        if head.get("version") != TRACE_VERSION:
            raise TraceError(f"{where}: {TRACE_FORMAT} version {head.get('version')!r} is not "
                             f"supported (this legwake reads version {TRACE_VERSION})")
        sources = head.get("sources")
        if not isinstance(sources, dict) or not all(
                isinstance(info, dict) and info.get("transport") in TRANSPORTS
                for info in sources.values()):
            raise TraceError(f"{where}: header 'sources' must map each name to an object with "
                             f"'transport' one of {', '.join(TRANSPORTS)}")
        meta = head.get("meta", {})
        return cls(started=str(head.get("started", "")), sources=sources,
                   meta=meta if isinstance(meta, dict) else {"value": meta})


@dataclass(slots=True)
class TraceDamage:
    """Lines a replay skipped, by reason."""

    bad_json: int = 0
    bad_fields: int = 0
    bad_base64: dict[str, int] = field(default_factory=dict)
    unknown_source: dict[str, int] = field(default_factory=dict)
    time_went_back: int = 0

    def __str__(self) -> str:
        parts = [f"{self.bad_json} line(s) not JSON"] if self.bad_json else []
        if self.bad_fields:
            parts.append(f"{self.bad_fields} line(s) without a number t and strings src, b64")
        parts += [f"{n} chunk(s) of {src!r} with bad base64" for src, n in self.bad_base64.items()]
        parts += [f"{n} chunk(s) of unknown source {src!r}"
                  for src, n in self.unknown_source.items()]
        if self.time_went_back:
            parts.append(f"{self.time_went_back} chunk(s) whose t went back (kept, at the last t)")
        return ", ".join(parts) or "nothing damaged"

    @property
    def total(self) -> int:
        return (self.bad_json + self.bad_fields + sum(self.bad_base64.values())
                + sum(self.unknown_source.values()) + self.time_went_back)


class TraceReader:
    """Iterates a trace's chunks as `Received`, with `arrival_s` = seconds since the trace start."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.damage = TraceDamage()
        with _open_text(self.path, "r") as f:
            first = f.readline()
        if not first:
            raise TraceError(f"{self.path}: empty file, not a {TRACE_FORMAT}")
        self.header = TraceHeader.parse(first, str(self.path))

    def __iter__(self) -> Iterator[Received]:
        sources = self.header.sources
        last_t = 0.0
        lines = _lines(self.path)
        next(lines, None)  # the header
        for line in lines:
            # Fast path for the line shape our recorder writes; anything else is parsed
            # as JSON in full, so a trace from elsewhere reads the same, only slower.
            fast = _CANONICAL_LINE.match(line)
            if fast is not None:
                t, src, b64 = float(fast[1]), fast[2].decode("ascii"), fast[3]
            else:
                parsed = self._parse(line)
                if parsed is None:
                    continue
                t, src, b64 = parsed
            if src not in sources:
                self.damage.unknown_source[src] = self.damage.unknown_source.get(src, 0) + 1
                continue
            try:
                data = base64.b64decode(b64, validate=True)
            except (binascii.Error, ValueError):
                self.damage.bad_base64[src] = self.damage.bad_base64.get(src, 0) + 1
                continue
            if t < last_t:
                # The spec makes t non-decreasing; keep the chunk, at the latest time seen.
                self.damage.time_went_back += 1
                t = last_t
            last_t = float(t)
            yield Received(src, last_t, data)

    def _parse(self, line: bytes) -> tuple[float, str, str] | None:
        """(t, src, b64) of one line, or None when it is blank or damaged (counted)."""
        if not line.strip():
            return None
        try:
            record = json.loads(line)
        except ValueError:
            self.damage.bad_json += 1
            return None
        if not isinstance(record, dict):
            self.damage.bad_fields += 1
            return None
        t, src, b64 = record.get("t"), record.get("src"), record.get("b64")
        if (not isinstance(t, (int, float)) or isinstance(t, bool) or not math.isfinite(t)
                or not isinstance(src, str) or not isinstance(b64, str)):
            self.damage.bad_fields += 1
            return None
        return float(t), src, b64


def _lines(path: Path, block: int = 1 << 20) -> Iterator[bytes]:
    """The file's lines as bytes; a .gz file is inflated in large blocks (several members
    allowed, as gzip permits), which is much faster than reading it line by line."""
    with open(path, "rb") as f:
        if path.suffix != ".gz":
            yield from f
            return
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        rest = b""
        while compressed := f.read(block):
            while compressed:
                text = inflate.decompress(compressed)
                compressed = inflate.unused_data
                if compressed:  # the next gzip member
                    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
                *complete, rest = (rest + text).split(b"\n")
                for line in complete:
                    yield line + b"\n"
        rest += inflate.flush()
        if rest:
            yield rest


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TraceWriter:
    """Writes trace v1. Times are made relative to `start_s` and never go backwards."""

    def __init__(self, path: str | os.PathLike[str], sources: dict[str, dict[str, Any]], *,
                 meta: dict[str, Any] | None = None, start_s: float = 0.0,
                 started: str | None = None):
        for name, info in sources.items():
            if info.get("transport") not in TRANSPORTS:
                raise ValueError(f"source {name!r}: transport must be one of {TRANSPORTS}")
        self.path = Path(path)
        self.start_s = start_s
        self.header = TraceHeader(started or utc_now_iso(), sources, meta or {})
        self.chunks = 0
        self._last_t = 0.0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = _open_text(self.path, "w")
        self._file.write(self.header.to_json() + "\n")

    def write(self, received: Received) -> None:
        if received.source not in self.header.sources:
            raise ValueError(f"source {received.source!r} is not in the trace header")
        t = max(self._last_t, received.arrival_s - self.start_s)
        self._last_t = t
        self._file.write(json.dumps(
            {"t": round(t, 6), "src": received.source,
             "b64": base64.b64encode(received.data).decode("ascii")},
            separators=(",", ":")) + "\n")
        self.chunks += 1

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
