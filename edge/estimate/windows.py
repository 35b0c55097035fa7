"""Decoded frames -> fixed windows (one second by default) on the arrival clock.

Owns when a window is complete and which samples belong to it, and whether each
stream (the mat, each thigh unit) counts as present in it. It computes no feature.

- Time is the data's: a mat frame is placed at its arrival time; a thigh sample
  at its notification's arrival time minus how long before the notification's
  last sample it was taken (device clock), so the up to 19 samples a BLE
  notification batches are spread back over the time they were taken. Nothing
  reads a clock.
- Window k covers [k * period_s, (k + 1) * period_s). It closes once data from
  any source has arrived `close_delay_s` past its end (later samples for it are
  dropped and counted in `late_samples`), or at `flush()`. Every window from the
  first data onward is emitted, also one in which nothing arrived: a gap in all
  the data shows as windows in which no stream has samples, up to `GAP_S` of
  them. Past that the windower jumps to the window of the next data (counted in
  `skipped_windows`), so a gap of any length costs at most `GAP_S` of windows; a
  run of windows never spans a jump, and the next run's `first` says where the
  data resumed.
- A time that is not finite or beyond `MAX_TIME_S` is no time: such samples are
  dropped and counted in `bad_times`, and never move the arrival clock.
- A stream counts as present in a window when it has delivered a sample within
  `missing_after_s` before the window's end (and, for a configured-off stream,
  never).
- Thigh units are told apart by placement, not by source name: a mat with wired
  IMUs carries both placements in its own `Decoded.imu`.

Core code: numpy only, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from edge.wire import PLACEMENT_LEFT, PLACEMENT_RIGHT, Decoded, ImuSamples

STREAMS = ("mat", "imu_left", "imu_right")
PLACEMENT_STREAMS = {PLACEMENT_LEFT: "imu_left", PLACEMENT_RIGHT: "imu_right"}
GAP_S = 600.0
"""The longest gap in all the data that is windowed second by second. Longer than any
state the estimate stages keep of the data before a gap (a stream is missing 3 s after
its last sample, the relief reference covers 2 min, a relief lasts at most 5 min), so
by its end the windows show nobody known to be there, whatever comes after."""
MAX_TIME_S = 1e12
"""The largest time (s) a window can be found for: far past any trace (`edge.sources.trace`
allows 1e9 s), and well inside what an int64 window index and a float64 hold."""


@dataclass(frozen=True, slots=True)
class ImuWindowed:
    """One thigh unit's samples in a run of windows: `window[i]` indexes the run."""

    window: np.ndarray  # (m,) int64, 0..n-1, non-decreasing
    t_s: np.ndarray  # (m,) float64, sample time on the arrival clock
    accel_mg: np.ndarray  # (m, 3) float64
    gyro_dps: np.ndarray  # (m, 3) float64, degrees per second

    @classmethod
    def empty(cls) -> ImuWindowed:
        return cls(np.zeros(0, np.int64), np.zeros(0), np.zeros((0, 3)), np.zeros((0, 3)))

    def __len__(self) -> int:
        return len(self.window)


@dataclass(frozen=True, slots=True)
class MatWindowed:
    """The mat's frames in a run of windows (one geometry)."""

    window: np.ndarray  # (m,) int64, 0..n-1, non-decreasing
    t_s: np.ndarray  # (m,) float64
    counts: np.ndarray  # (m, rows, cols) uint16

    @classmethod
    def empty(cls, shape: tuple[int, int]) -> MatWindowed:
        return cls(np.zeros(0, np.int64), np.zeros(0), np.zeros((0, *shape), np.uint16))

    def __len__(self) -> int:
        return len(self.window)


@dataclass(frozen=True, slots=True)
class Windows:
    """A run of n consecutive completed windows and everything that fell in them."""

    first: int  # index of the first window: it starts at first * period_s
    period_s: float
    mat: MatWindowed | None  # None until the mat's geometry is known
    imu: dict[str, ImuWindowed]  # "imu_left", "imu_right"
    present: dict[str, np.ndarray]  # stream -> (n,) bool
    samples: dict[str, np.ndarray]  # stream -> (n,) int, samples in each window

    def __len__(self) -> int:
        return len(next(iter(self.present.values())))

    @property
    def end_s(self) -> np.ndarray:
        """End of each window on the arrival clock (the estimate's `t_s`)."""
        return (self.first + 1 + np.arange(len(self), dtype=np.float64)) * self.period_s


@dataclass(slots=True)
class _Pending:
    """Samples of one stream not yet assigned to a closed window."""

    t_s: list[np.ndarray] = field(default_factory=list)
    values: list[tuple[np.ndarray, ...]] = field(default_factory=list)

    def add(self, t_s: np.ndarray, *values: np.ndarray) -> None:
        if len(t_s):
            self.t_s.append(t_s)
            self.values.append(values)

    def take_before(self, end_s: float) -> tuple[np.ndarray, tuple[np.ndarray, ...]] | None:
        """Remove and return (sorted by time) every sample before `end_s`."""
        if not self.t_s:
            return None
        t = np.concatenate(self.t_s) if len(self.t_s) > 1 else self.t_s[0]
        columns = tuple(np.concatenate(c) if len(self.t_s) > 1 else c[0]
                        for c in zip(*self.values))
        order = np.argsort(t, kind="stable")
        if np.any(order[1:] < order[:-1]):
            t, columns = t[order], tuple(c[order] for c in columns)
        cut = int(np.searchsorted(t, end_s, side="left"))
        if cut < len(t):
            self.t_s, self.values = [t[cut:]], [tuple(c[cut:] for c in columns)]
        else:
            self.t_s, self.values = [], []
        if cut == 0:
            return None
        return t[:cut], tuple(c[:cut] for c in columns)


def imu_sample_times(imu: ImuSamples) -> np.ndarray:
    """Each sample's time on the arrival clock.

    The samples of one notification share its arrival time; the last of them was
    taken just before it was sent, and the others `device_ms` earlier than that.
    """
    n = len(imu)
    if n == 0:
        return np.zeros(0)
    new = np.ones(n, bool)
    new[1:] = ((imu.seq[1:] != imu.seq[:-1]) | (imu.arrival_s[1:] != imu.arrival_s[:-1])
               | (imu.placement[1:] != imu.placement[:-1]))
    starts = np.flatnonzero(new)
    group = np.cumsum(new) - 1
    last_ms = np.maximum.reduceat(imu.device_ms, starts)[group]
    return imu.arrival_s - (last_ms - imu.device_ms) / 1000.0


def _bad_times(t_s: np.ndarray) -> np.ndarray | None:
    """Which of these times are no time (not finite, or beyond MAX_TIME_S); None if none."""
    usable = np.abs(t_s) <= MAX_TIME_S
    return None if usable.all() else ~usable


class Windower:
    """Collects decoded frames and hands back completed windows, in order, exactly once."""

    def __init__(self, *, period_s: float = 1.0, close_delay_s: float = 1.0,
                 missing_after_s: float = 3.0, enabled: Mapping[str, bool] | None = None):
        if not period_s > 0:
            raise ValueError(f"period_s must be positive, got {period_s}")
        self.period_s = float(period_s)
        self.close_delay_s = float(close_delay_s)
        self.missing_after_s = float(missing_after_s)
        enabled = dict(enabled or {})
        unknown = set(enabled) - set(STREAMS)
        if unknown:
            raise ValueError(f"unknown streams {sorted(unknown)}; streams are {STREAMS}")
        self.enabled = {s: bool(enabled.get(s, True)) for s in STREAMS}
        self.shape: tuple[int, int] | None = None  # the mat's (rows, cols), from its first frame
        self.late_samples = {s: 0 for s in STREAMS}
        self.bad_times = {s: 0 for s in STREAMS}  # samples dropped: their time is no time
        self.foreign_frames = 0  # frames of another geometry than the first one seen
        self.skipped_windows = 0  # empty windows jumped over, past GAP_S into a gap
        self._gap_windows = max(1, math.ceil(GAP_S / self.period_s))
        self._pending = {s: _Pending() for s in STREAMS}
        self._next: int | None = None  # index of the next window to close
        self._watermark = -math.inf  # latest arrival seen from any source
        self._last_sample = {s: -math.inf for s in STREAMS}

    # --- input -----------------------------------------------------------------------------

    def add(self, decoded: Mapping[str, Decoded]) -> None:
        """Take one feed's decoded frames, of any sources."""
        for item in decoded.values():
            for frames in item.pressure:
                if not len(frames):
                    continue
                arrival = frames.arrival_s.astype(np.float64)
                counts = frames.counts
                bad = _bad_times(arrival)
                if bad is not None:
                    self.bad_times["mat"] += int(bad.sum())
                    arrival, counts = arrival[~bad], counts[~bad]
                    if not len(arrival):
                        continue
                self._watermark = max(self._watermark, float(arrival.max()))
                shape = tuple(counts.shape[1:])
                if self.shape is None:
                    self.shape = shape  # type: ignore[assignment]
                if shape != self.shape:
                    self.foreign_frames += len(arrival)
                    continue
                if self.enabled["mat"]:
                    self._add("mat", arrival, counts)
            if item.imu is not None and len(item.imu):
                imu = item.imu
                self._arrived(imu.arrival_s)
                t_all = imu_sample_times(imu)
                bad = _bad_times(t_all)
                for placement, stream in PLACEMENT_STREAMS.items():
                    keep = imu.placement == placement
                    if bad is not None:
                        self.bad_times[stream] += int((keep & bad).sum())
                        keep &= ~bad
                    if not self.enabled[stream] or not keep.any():
                        continue
                    self._add(stream, t_all[keep],
                              imu.accel_mg[keep].astype(np.float64),
                              imu.gyro_dps10[keep].astype(np.float64) / 10.0)
            if item.status is not None and len(item.status):
                self._arrived(item.status.arrival_s)

    def _arrived(self, arrival_s: np.ndarray) -> None:
        """Move the arrival clock to the latest of these arrivals that is a time."""
        bad = _bad_times(arrival_s)
        usable = arrival_s if bad is None else arrival_s[~bad]
        if len(usable):
            self._watermark = max(self._watermark, float(usable.max()))

    def _add(self, stream: str, t_s: np.ndarray, *values: np.ndarray) -> None:
        if self._next is None:
            self._next = math.floor(float(t_s.min()) / self.period_s)
        too_late = t_s < self._next * self.period_s
        if too_late.any():
            self.late_samples[stream] += int(too_late.sum())
            keep = ~too_late
            t_s, values = t_s[keep], tuple(v[keep] for v in values)
        self._pending[stream].add(t_s, *values)

    # --- output ----------------------------------------------------------------------------

    def close(self, max_windows: int | None = None) -> Windows | None:
        """The windows completed by the data so far (None when none completed); at most
        `max_windows` of them: call again for the rest."""
        if self._next is None:
            return None
        end = math.floor((self._watermark - self.close_delay_s) / self.period_s)
        return self._close_until(end, max_windows)

    def flush(self, max_windows: int | None = None) -> Windows | None:
        """Every window up to and including the one holding the latest sample."""
        if self._next is None:
            return None
        # Every sample was taken at or before its arrival, so none lies past the watermark.
        return self._close_until(math.floor(self._watermark / self.period_s) + 1,
                                 max_windows)

    def _close_until(self, end: int, max_windows: int | None = None) -> Windows | None:
        """Close windows _next .. end - 1 (at most max_windows of them)."""
        assert self._next is not None
        end = self._through_gap(end)
        if max_windows is not None:
            end = min(end, self._next + max_windows)
        n = end - self._next
        if n <= 0:
            return None
        first, period = self._next, self.period_s
        end_s = end * period
        ends = (first + 1 + np.arange(n, dtype=np.float64)) * period
        present: dict[str, np.ndarray] = {}
        samples: dict[str, np.ndarray] = {}
        imu: dict[str, ImuWindowed] = {}
        mat: MatWindowed | None = None
        for stream in STREAMS:
            taken = self._pending[stream].take_before(end_s)
            if taken is None:
                t = np.zeros(0)
                window = np.zeros(0, np.int64)
                columns: tuple[np.ndarray, ...] = ()
            else:
                t, columns = taken
                window = np.minimum(np.floor(t / period).astype(np.int64) - first, n - 1)
            count = np.bincount(window, minlength=n)
            samples[stream] = count
            # The latest sample at or before each window's end, carried across closes.
            last = np.full(n, -math.inf)
            if len(t):
                has = count > 0
                last_in = np.full(n, -math.inf)
                last_in[has] = t[np.cumsum(count)[has] - 1]
                last = np.maximum.accumulate(last_in)
            last = np.maximum(last, self._last_sample[stream])
            self._last_sample[stream] = float(last[-1])
            present[stream] = (ends - last <= self.missing_after_s) & self.enabled[stream]
            if stream == "mat":
                if self.shape is not None:
                    mat = (MatWindowed(window, t, columns[0]) if columns
                           else MatWindowed.empty(self.shape))
            else:
                imu[stream] = (ImuWindowed(window, t, columns[0], columns[1]) if columns
                               else ImuWindowed.empty())
        self._next = end
        return Windows(first=first, period_s=period, mat=mat, imu=imu, present=present,
                       samples=samples)

    def _through_gap(self, end: int) -> int:
        """Where this close must stop (at most `end`), after jumping `_next` over the part
        of a gap in all the data past its first GAP_S: to the window of the next data, or
        as far as the arrival clock allows when none is waiting. A run stops where such a
        part begins, so none spans a jump."""
        assert self._next is not None
        last = max(self._last_sample.values())
        last_k = self._next - 1 if last == -math.inf else math.floor(last / self.period_s)
        gap = self._gap_windows
        if end <= last_k + 1 + gap:
            return end  # the common case: no gap this long can lie before `end`
        waiting = [np.floor(t / self.period_s) for p in self._pending.values() for t in p.t_s]
        keys = np.unique(np.concatenate([[last_k], *waiting]).astype(np.int64)).tolist()
        for data_k, next_k in zip(keys, [*keys[1:], None]):
            skip_from = data_k + 1 + gap  # the windows from here to the next data are skipped
            if next_k is not None and (skip_from >= next_k or next_k <= self._next):
                continue
            if skip_from >= end:
                break
            if self._next < skip_from:
                return skip_from  # close up to the skip; it happens on the next close
            target = end if next_k is None else min(next_k, end)
            self.skipped_windows += target - self._next
            self._next = target
        return end
