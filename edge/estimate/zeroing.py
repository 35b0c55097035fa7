"""Mat zeroing and the sitter's upright baseline.

Owns the per-cell offsets (ADC counts) subtracted from every frame before the
calibration table turns counts into kPa, and how they are learnt:

- automatically, from windows in which the seat is certainly empty: a seat load
  under `empty_load_n` and no cell above `empty_max_counts`, computed on the raw
  counts (so the decision does not depend on the offsets it updates), held for
  `settle_s` so that someone getting up is not mistaken for an empty seat. The
  offsets then follow each empty window's mean counts with a time constant of
  `time_constant_s`: a mat's cells drift over tens of minutes (docs/simulator.md),
  and any empty spell re-zeroes them;
- explicitly, by `zero_from_frames` (`legwake calibrate`): the per-cell median of
  frames of the empty seat.

`upright_baseline` summarises the current sitter sitting upright: the reference
load on the ischial region that weight-shift (relief) detection compares against.
For `legwake calibrate`: `offsets = zero_from_frames(empty_counts)`, then
`upright_baseline(zeroed_kpa(upright_counts, offsets, calibration))`; both go to
`Estimator(..., zero_offsets=offsets, baseline=baseline)`.

Core code: numpy only, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge.calibration import Calibration
from edge.estimate.mat_features import cell_newtons, ischial_load, ischial_row
from edge.numbers import finite_number

# An empty-seat frame may not look loaded in any cell: a cell's drift stays well under
# 100 counts, a noisy cell's noise averages out over a window.
DEFAULT_EMPTY_MAX_COUNTS = 150.0


class NotEmptyError(ValueError):
    """The frames given as an empty seat carry load."""


class NotSeatedError(ValueError):
    """The frames given as the sitter sitting upright carry too little load."""


def seat_load_n(kpa: np.ndarray, pitch_mm: float = 28.0) -> np.ndarray:
    """Seat load (N) of each (rows, cols) map in kPa."""
    return np.asarray(kpa, np.float64).sum(axis=(-2, -1)) * cell_newtons(pitch_mm)


def zeroed_kpa(counts: np.ndarray, offsets: np.ndarray | None,
               calibration: Calibration) -> np.ndarray:
    """Frames (..., rows, cols) of counts -> kPa, after taking off the per-cell zero."""
    counts = np.asarray(counts, np.float64)
    if offsets is not None:
        counts = np.maximum(counts - offsets, 0.0)
    return calibration.kpa(counts)


def zero_from_frames(counts: np.ndarray, *, calibration: Calibration | None = None,
                     pitch_mm: float = 28.0, empty_load_n: float = 40.0,
                     empty_max_counts: float = DEFAULT_EMPTY_MAX_COUNTS) -> np.ndarray:
    """Per-cell offsets (rows, cols) in counts from frames (n, rows, cols) of the empty seat.

    The median over the frames, so a noisy cell's spikes do not move it. Raises
    NotEmptyError when the frames do not look like an empty seat (someone or
    something on it): zeroing that away would hide real load from then on.
    """
    counts = np.asarray(counts)
    if counts.ndim != 3 or counts.shape[0] == 0:
        raise ValueError(f"expected frames (n, rows, cols) with n >= 1, got shape {counts.shape}")
    offsets = np.median(counts.astype(np.float64), axis=0)
    calibration = calibration or Calibration()
    load = float(seat_load_n(calibration.kpa(offsets), pitch_mm))
    peak = float(offsets.max())
    if load >= empty_load_n or peak >= empty_max_counts:
        raise NotEmptyError(
            f"the seat does not look empty: {load:.0f} N on it (empty: under "
            f"{empty_load_n:g} N), highest cell {peak:.0f} counts (empty: under "
            f"{empty_max_counts:g}); get up and clear the seat, then zero again")
    return offsets


@dataclass(frozen=True, slots=True)
class UprightBaseline:
    """The current sitter sitting upright: the reference for weight-shift detection."""

    ischial_load_n: float  # load on the ischial region (tuberosities and buttocks)
    seat_load_n: float  # load on the whole seat
    ischial_row: float  # the pelvis' load peak, in mat rows from the front edge
    frames: int

    def __post_init__(self) -> None:
        for name in ("ischial_load_n", "seat_load_n", "ischial_row"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"{name} must be a number, got {value!r:.40}")
            number = finite_number(value)
            if number is None or not (number > 0 or name == "ischial_row"):
                raise ValueError(f"{name} must be a positive number, got {value!r:.40}")
        if isinstance(self.frames, bool) or not isinstance(self.frames, int) or self.frames < 0:
            raise ValueError(f"frames must be a whole number, got {self.frames!r:.40}")


def upright_baseline(kpa: np.ndarray, *, pitch_mm: float = 28.0,
                     min_seat_load_n: float = 150.0) -> UprightBaseline:
    """The baseline from zeroed maps (n, rows, cols) in kPa of the sitter sitting upright.

    Raises NotSeatedError when the seat carries less than `min_seat_load_n`
    (a 45 kg person puts about 330 N on the seat).
    """
    kpa = np.asarray(kpa, np.float64)
    if kpa.ndim != 3 or kpa.shape[0] == 0:
        raise ValueError(f"expected maps (n, rows, cols) with n >= 1, got shape {kpa.shape}")
    mean = kpa.mean(axis=0, keepdims=True)
    load = float(seat_load_n(mean, pitch_mm)[0])
    if load < min_seat_load_n:
        raise NotSeatedError(f"only {load:.0f} N on the seat (a sitter puts at least "
                             f"{min_seat_load_n:g} N on it): sit upright on the seat and "
                             f"try again")
    row = ischial_row(mean)
    return UprightBaseline(ischial_load_n=float(ischial_load(mean, row, pitch_mm)[0]),
                           seat_load_n=load, ischial_row=float(row[0]), frames=kpa.shape[0])


class AutoZero:
    """Per-cell offsets that follow the mat's drift while the seat is empty.

    `update` is sequential in time (each window's offsets come from the windows
    before it), so a replay in large chunks gives the same offsets as live.
    """

    def __init__(self, shape: tuple[int, int], *, calibration: Calibration,
                 pitch_mm: float = 28.0, empty_load_n: float = 40.0,
                 empty_max_counts: float = DEFAULT_EMPTY_MAX_COUNTS,
                 time_constant_s: float = 20.0, settle_s: float = 3.0,
                 initial: np.ndarray | None = None):
        self.shape = shape
        self.calibration = calibration
        self.pitch_mm = pitch_mm
        self.empty_load_n = empty_load_n
        self.empty_max_counts = empty_max_counts
        self.time_constant_s = time_constant_s
        self.settle_s = settle_s
        if initial is not None:
            initial = np.asarray(initial, np.float64)
            if initial.shape != shape:
                raise ValueError(f"zero offsets of shape {initial.shape} do not fit a mat of "
                                 f"{shape[0]} x {shape[1]} cells")
        self.offsets = np.zeros(shape) if initial is None else initial.copy()
        self.empty_for_s = 0.0  # how long the seat has been empty, up to now
        self.updates = 0  # windows that re-zeroed
        self._spell_updates = 0  # ... in the current empty spell

    def is_empty(self, mean_counts: np.ndarray) -> np.ndarray:
        """Per window (n, rows, cols) of mean raw counts: does the seat look empty?"""
        load = seat_load_n(self.calibration.kpa(mean_counts), self.pitch_mm)
        return (load < self.empty_load_n) & (mean_counts.max(axis=(1, 2)) < self.empty_max_counts)

    def update(self, mean_counts: np.ndarray, has_frames: np.ndarray,
               period_s: float) -> np.ndarray:
        """Offsets in effect in each window (n, rows, cols); learns from the empty ones."""
        n = len(has_frames)
        out = np.empty((n, *self.shape))
        empty = np.zeros(n, bool)
        if has_frames.any():
            empty[has_frames] = self.is_empty(mean_counts[has_frames])
        alpha = 1.0 - math.exp(-period_s / self.time_constant_s)
        for k in range(n):
            out[k] = self.offsets
            if not has_frames[k]:
                continue  # no frames: neither evidence of empty nor of occupied
            if not empty[k]:
                self.empty_for_s = 0.0
                self._spell_updates = 0
                continue
            self.empty_for_s += period_s
            if self.empty_for_s > self.settle_s:
                # A running mean over this empty spell, then an exponential one: the
                # first empty seconds after a long time seated replace stale offsets.
                self._spell_updates += 1
                weight = max(1.0 / self._spell_updates, alpha)
                self.offsets = self.offsets + weight * (mean_counts[k] - self.offsets)
                self.updates += 1
        return out
