"""Recorded traces, v1 (`spec/hardware.md` section 3): the file format, read and written.

A trace holds what the agent received, as it received it: a header line, then
one JSON line per received chunk. Reading never fails on a line: a damaged one
(not UTF-8, not JSON, too long, wrong fields, bad base64, an unknown source, a
`t` that is not a usable time) is counted in `TraceDamage` and skipped, and a
gzip file that is cut short or corrupt keeps the chunks before the damage. Only
a header that cannot be read, or of another format or version, is refused
(`TraceError`, naming the file).

Times: `t` must be a finite number of seconds in 0..MAX_T_S. A step back of up to
MAX_BACK_S is kept at the last time (jitter); a step back further is damage. A jump
ahead of more than MAX_JUMP_S is kept only once the JUMP_CONFIRM_LINES lines after
it do not come back to the time before it (the recording went on after a long gap);
a lone line far ahead of its neighbours is damage, so one bad `t` cannot push the
rest of the trace into the past.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
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

from edge.decode import placement_code
from edge.sources.base import Received

TRACE_FORMAT = "posture-trace"
TRACE_VERSION = 1
TRANSPORTS = ("serial", "ble")
# The exact shape TraceWriter writes: {"t":<number>,"src":"<name>","b64":"<base64>"}
_CANONICAL_LINE = re.compile(
    rb'\{"t":(-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?),"src":"([A-Za-z0-9_.-]+)",'
    rb'"b64":"([A-Za-z0-9+/=]*)"\}\r?\n?$')

MAX_LINE_BYTES = 1 << 20
"""A line longer than this is damage: the longest real one holds a serial read ([mat]
read_size, at most 64 KiB), under 90 KB as base64."""
MAX_T_S = 1e9
"""The latest `t` (about 31.7 years): no recording runs longer, and up to it a float64
still resolves the microseconds TraceWriter writes."""
MAX_BACK_S = 1.0
"""A step back in `t` up to this is clock jitter, kept at the last time; further is damage."""
MAX_JUMP_S = 60.0
"""A jump ahead in `t` of more than this is kept only once the lines after it confirm it.
While any sensor is connected chunks arrive many times a second, so a longer silence is a
gap in the recording, which the next lines confirm at once. A single bad `t` less far
ahead is taken as it comes, and costs the lines after it that are then in its past."""
JUMP_CONFIRM_LINES = 2
"""Lines after a long jump ahead that must stay past the time before it."""
SAMPLE_RATES_HZ = (1, 1000)
"""The range a source's `rate_hz` / `imu_rate_hz` may name (the LegIMU has 25, 50, 100)."""
STARTED_YEARS = (1970, 9000)
"""The years a header's `started` may name: a trace's times are added to it as dates."""
_BLOCK_BYTES = 1 << 18  # read, and inflate, this much at a time


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
        except (ValueError, RecursionError):
            raise TraceError(f"{where}: the first line is not JSON, so this is not a "
                             f"{TRACE_FORMAT} file") from None
        if not isinstance(head, dict) or head.get("format") != TRACE_FORMAT:
            found = head.get("format") if isinstance(head, dict) else type(head).__name__
            raise TraceError(f"{where}: format {_shown(found)} is not {TRACE_FORMAT!r}")
        if head.get("version") != TRACE_VERSION:
            raise TraceError(f"{where}: {TRACE_FORMAT} version {_shown(head.get('version'))} is "
                             f"not supported (this legwake reads version {TRACE_VERSION})")
        sources = head.get("sources")
        if not isinstance(sources, dict) or not all(
                isinstance(info, dict) and info.get("transport") in TRANSPORTS
                for info in sources.values()):
            raise TraceError(f"{where}: header 'sources' must map each name to an object with "
                             f"'transport' one of {', '.join(TRANSPORTS)}")
        for name, info in sources.items():
            problem = _source_problem(info)
            if problem:
                raise TraceError(f"{where}: header source {_shown(name)}: {problem}")
        started = str(head.get("started", ""))
        _check_started(started, where)
        meta = head.get("meta", {})
        return cls(started=started, sources=sources,
                   meta=meta if isinstance(meta, dict) else {"value": meta})


def _shown(value: Any, limit: int = 60) -> str:
    """A header value for a message: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _source_problem(info: dict[str, Any]) -> str:
    """Why the decoders could not work from this source entry ("" when they can)."""
    for key in ("rate_hz", "imu_rate_hz"):
        if key not in info:
            continue
        rate = info[key]
        low, high = SAMPLE_RATES_HZ
        if (isinstance(rate, bool) or not isinstance(rate, (int, float))
                or not low <= rate <= high):
            return (f"{key} must be a number of samples a second, {low} to {high}; "
                    f"got {_shown(rate)}")
    placement = info.get("placement")
    if placement is not None and (not isinstance(placement, (str, int))
                                  or placement_code(placement) is None):
        return f"placement must be left, right, 1 or 2; got {_shown(placement)}"
    return ""


def _check_started(started: str, where: str) -> None:
    """A `started` that reads as a time must be a date the trace's times can be added to; one
    that does not is left for the replay to replace with now (`edge.agent.trace_start`)."""
    try:
        when = datetime.fromisoformat(started)
    except ValueError:
        return
    first, last = STARTED_YEARS
    if not first <= when.year < last:
        raise TraceError(f"{where}: header 'started' {_shown(started)} is not a time from "
                         f"{first} to {last}")


@dataclass(slots=True)
class TraceDamage:
    """What a replay could not use, by reason: lines skipped, lines kept at an earlier time,
    and where the file became unreadable."""

    not_utf8: int = 0
    too_long: int = 0
    bad_json: int = 0
    bad_fields: int = 0
    bad_base64: dict[str, int] = field(default_factory=dict)
    unknown_source: dict[str, int] = field(default_factory=dict)
    bad_time: int = 0  # t not finite, negative or past MAX_T_S
    time_jumped_back: int = 0  # more than MAX_BACK_S before the last kept t
    time_jumped_ahead: int = 0  # past MAX_JUMP_S ahead, and the lines after it came back
    time_went_back: int = 0  # up to MAX_BACK_S back: kept, at the last t
    truncated: str = ""  # why reading stopped before the end of the file ("" if it did not)

    def __str__(self) -> str:
        counted = [
            (self.not_utf8, "line(s) not UTF-8"),
            (self.too_long, f"line(s) longer than {MAX_LINE_BYTES} bytes"),
            (self.bad_json, "line(s) not JSON"),
            (self.bad_fields, "line(s) without a number t and strings src, b64"),
        ]
        parts = [f"{n} {what}" for n, what in counted if n]
        parts += [f"{n} chunk(s) of {src!r} with bad base64" for src, n in self.bad_base64.items()]
        parts += [f"{n} chunk(s) of unknown source {src!r}"
                  for src, n in self.unknown_source.items()]
        counted = [
            (self.bad_time, f"chunk(s) whose t is not a time from 0 to {MAX_T_S:g} s"),
            (self.time_jumped_back, f"chunk(s) whose t went back more than {MAX_BACK_S:g} s"),
            (self.time_jumped_ahead,
             f"chunk(s) whose t jumped more than {MAX_JUMP_S:g} s ahead of the lines around them"),
            (self.time_went_back, "chunk(s) whose t went back (kept, at the last t)"),
        ]
        parts += [f"{n} {what}" for n, what in counted if n]
        if self.truncated:
            parts.append(f"the file is truncated: {self.truncated} (the chunks before it "
                         f"were read)")
        return ", ".join(parts) or "nothing damaged"

    @property
    def skipped(self) -> int:
        """Lines left out of the replay."""
        return (self.not_utf8 + self.too_long + self.bad_json + self.bad_fields
                + sum(self.bad_base64.values()) + sum(self.unknown_source.values())
                + self.bad_time + self.time_jumped_back + self.time_jumped_ahead)

    @property
    def total(self) -> int:
        """Everything damaged: the lines skipped, those kept at an earlier time, and a
        truncated file (once)."""
        return self.skipped + self.time_went_back + (1 if self.truncated else 0)


class TraceReader:
    """Iterates a trace's chunks as `Received`, with `arrival_s` = seconds since the trace start.

    `damage` counts what the iteration skipped; it is complete once the iteration ends.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.damage = TraceDamage()
        first = _first_line(self.path)
        try:
            text = first.decode("utf-8")
        except UnicodeDecodeError as error:
            raise TraceError(f"{self.path}: the first line is not UTF-8 (byte {error.start}), "
                             f"so this is not a {TRACE_FORMAT} file") from None
        self.header = TraceHeader.parse(text, str(self.path))

    def __iter__(self) -> Iterator[Received]:
        self.damage = damage = TraceDamage()
        sources = self.header.sources
        last_t = 0.0
        held: list[Received] = []  # a long jump ahead and the lines after it, unconfirmed
        lines = _lines(self.path, damage)
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
                damage.unknown_source[src] = damage.unknown_source.get(src, 0) + 1
                continue
            try:
                data = base64.b64decode(b64, validate=True)
            except (binascii.Error, ValueError):
                damage.bad_base64[src] = damage.bad_base64.get(src, 0) + 1
                continue
            if last_t <= t <= last_t + MAX_JUMP_S and t <= MAX_T_S and not held:
                last_t = t
                yield Received(src, t, data)
                continue
            ready, last_t = self._place(Received(src, t, data), last_t, held)
            yield from ready
        while held:  # nothing after them came back: the jump holds
            ready, last_t = self._confirm(held)
            yield from ready

    def _place(self, chunk: Received, last_t: float, held: list[Received]
               ) -> tuple[list[Received], float]:
        """The chunks ready to yield once `chunk` is placed in time, and the last time kept;
        `held` keeps an unconfirmed jump ahead and the lines after it."""
        damage, t = self.damage, chunk.arrival_s
        if not 0.0 <= t <= MAX_T_S:  # also NaN
            damage.bad_time += 1
            return [], last_t
        if held:
            if last_t - MAX_BACK_S <= t <= last_t + MAX_JUMP_S:
                # Back at the time before the jump: the jump was damage.
                damage.time_jumped_ahead += len(held)
                held.clear()
            elif t < last_t - MAX_BACK_S:
                damage.time_jumped_back += 1
                return [], last_t
            else:
                held.append(chunk)
                if len(held) <= JUMP_CONFIRM_LINES:
                    return [], last_t
                return self._confirm(held)
        if t < last_t - MAX_BACK_S:
            damage.time_jumped_back += 1
            return [], last_t
        if t < last_t:
            # The spec makes t non-decreasing; keep the chunk, at the latest time seen.
            damage.time_went_back += 1
            return [Received(chunk.source, last_t, chunk.data)], last_t
        if t <= last_t + MAX_JUMP_S:
            return [chunk], t
        held.append(chunk)
        return [], last_t

    def _confirm(self, held: list[Received]) -> tuple[list[Received], float]:
        """Take the held jump ahead as real, and place the lines after it from its time on."""
        first, rest = held[0], held[1:]
        held.clear()
        ready, last_t = [first], first.arrival_s
        for chunk in rest:
            more, last_t = self._place(chunk, last_t, held)
            ready += more
        return ready, last_t

    def _parse(self, line: bytes) -> tuple[float, str, str] | None:
        """(t, src, b64) of one line, or None when it is blank or damaged (counted)."""
        if not line.strip():
            return None
        try:
            record = json.loads(line)
        except UnicodeDecodeError:
            self.damage.not_utf8 += 1
            return None
        except (ValueError, RecursionError):
            self.damage.bad_json += 1
            return None
        if not isinstance(record, dict):
            self.damage.bad_fields += 1
            return None
        t, src, b64 = record.get("t"), record.get("src"), record.get("b64")
        if (not isinstance(t, (int, float)) or isinstance(t, bool)
                or not isinstance(src, str) or not isinstance(b64, str)):
            self.damage.bad_fields += 1
            return None
        try:
            return float(t), src, b64
        except OverflowError:  # an integer too large for a float
            return math.inf, src, b64


def _first_line(path: Path) -> bytes:
    """The header line, as bytes; a TraceError when there is none to read."""
    scratch = TraceDamage()
    head = b""
    try:
        for block in _blocks(path, scratch):
            cut = block.find(b"\n")
            head += block if cut < 0 else block[:cut]
            if cut >= 0 or len(head) > MAX_LINE_BYTES:
                break
    except OSError as error:
        raise TraceError(f"{path}: cannot be read: {error.strerror or error}") from None
    if len(head) > MAX_LINE_BYTES:
        raise TraceError(f"{path}: the first line is longer than {MAX_LINE_BYTES} bytes, so "
                         f"this is not a {TRACE_FORMAT} file")
    if scratch.truncated and b"\n" not in head:
        raise TraceError(f"{path}: {scratch.truncated} before the end of the first line")
    if not head.strip():
        raise TraceError(f"{path}: empty file, not a {TRACE_FORMAT}")
    return head


def _blocks(path: Path, damage: TraceDamage) -> Iterator[bytes]:
    """The file's bytes in blocks; a .gz file inflated (several members allowed, as gzip
    permits, and zero padding after them). Where a gzip file is cut short or corrupt, the
    blocks stop there, having given what came before, and `damage.truncated` says why."""
    with open(path, "rb") as f:
        if path.suffix != ".gz":
            try:
                while block := f.read(_BLOCK_BYTES):
                    yield block
            except OSError as error:
                damage.truncated = f"reading failed ({error.strerror or error})"
            return
        inflate = None  # between members
        try:
            while compressed := f.read(_BLOCK_BYTES):
                while compressed:
                    if inflate is None:
                        compressed = compressed.lstrip(b"\0")
                        if not compressed:
                            break
                        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    before = inflate.copy()
                    try:
                        text = inflate.decompress(compressed, _BLOCK_BYTES)
                    except zlib.error as error:
                        yield from _inflated_before_error(before, compressed)
                        damage.truncated = f"corrupt gzip data ({str(error).rsplit(': ', 1)[-1]})"
                        return
                    if text:
                        yield text
                    if inflate.eof:
                        compressed, inflate = inflate.unused_data, None
                    else:
                        compressed = inflate.unconsumed_tail
        except OSError as error:
            damage.truncated = f"reading failed ({error.strerror or error})"
            return
        if inflate is not None:
            damage.truncated = "the gzip data stops before its end"


def _inflated_before_error(inflate: Any, compressed: bytes) -> Iterator[bytes]:
    """What `inflate` gives of `compressed` before it fails, a little at a time: zlib drops
    the output of the call that fails (at a member's end, a whole block of good lines)."""
    with contextlib.suppress(zlib.error):
        while compressed and not inflate.eof:
            text = inflate.decompress(compressed, 4096)
            if text:
                yield text
            compressed = inflate.unconsumed_tail


def _lines(path: Path, damage: TraceDamage) -> Iterator[bytes]:
    """The file's lines as bytes, without their newline, read in large blocks (much faster
    than line by line). A line longer than MAX_LINE_BYTES is counted in `damage` and skipped
    without being held whole."""
    rest = b""
    skipping = False  # inside a line already counted as too long
    for block in _blocks(path, damage):
        if skipping:
            cut = block.find(b"\n")
            if cut < 0:
                continue
            block, skipping = block[cut + 1:], False
        *complete, rest = (rest + block).split(b"\n")
        # Only the first line can be too long: the others lie within one block.
        if complete and len(complete[0]) > MAX_LINE_BYTES:
            damage.too_long += 1
            del complete[0]
        yield from complete
        if len(rest) > MAX_LINE_BYTES:
            damage.too_long += 1
            rest, skipping = b"", True
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
