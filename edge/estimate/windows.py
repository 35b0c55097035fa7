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
  the data shows as windows in which no stream has samples.
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
        self.foreign_frames = 0  # frames of another geometry than the first one seen
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
                self._watermark = max(self._watermark, float(frames.arrival_s.max()))
                shape = tuple(frames.counts.shape[1:])
                if self.shape is None:
                    self.shape = shape  # type: ignore[assignment]
                if shape != self.shape:
                    self.foreign_frames += len(frames)
                    continue
                if self.enabled["mat"]:
                    self._add("mat", frames.arrival_s.astype(np.float64), frames.counts)
            if item.imu is not None and len(item.imu):
                self._watermark = max(self._watermark, float(item.imu.arrival_s.max()))
                t_all = imu_sample_times(item.imu)
                for placement, stream in PLACEMENT_STREAMS.items():
                    keep = item.imu.placement == placement
                    if not self.enabled[stream] or not keep.any():
                        continue
                    self._add(stream, t_all[keep],
                              item.imu.accel_mg[keep].astype(np.float64),
                              item.imu.gyro_dps10[keep].astype(np.float64) / 10.0)
            if item.status is not None and len(item.status):
                self._watermark = max(self._watermark, float(item.status.arrival_s.max()))

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
