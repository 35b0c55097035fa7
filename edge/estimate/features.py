"""Completed windows -> the per-window feature vector posture is classified from, plus the
zeroed maps and per-frame loads that the other estimate stages use.

Owns the order of the feature vector (`FEATURES`) and its groups (which columns come
from which sensor, so a missing sensor's columns can be left out), zeroing the mat's
frames, and holding a stream's last values across a short gap in its data. The
features themselves are `mat_features` and `imu_features`.

A window whose stream is absent (missing, or not configured) has nan in that
stream's columns. A present stream without samples in this window (a short gap)
repeats its previous window.

Core code: numpy only, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.calibration import Calibration
from edge.estimate.imu_features import IMU_SIDE_FEATURES, thigh_angles, window_stats
from edge.estimate.mat_features import (
    MAT_FEATURES,
    cell_newtons,
    ischial_row,
    mat_features,
)
from edge.estimate.orientation import MatOrientation, orient
from edge.estimate.windows import Windows
from edge.estimate.zeroing import AutoZero, zeroed_kpa

FEATURES: tuple[str, ...] = (
    MAT_FEATURES
    + tuple(f"{name}_left" for name in IMU_SIDE_FEATURES)
    + tuple(f"{name}_right" for name in IMU_SIDE_FEATURES)
)
_N_MAT, _N_SIDE = len(MAT_FEATURES), len(IMU_SIDE_FEATURES)
GROUPS: dict[str, slice] = {
    "mat": slice(0, _N_MAT),
    "imu_left": slice(_N_MAT, _N_MAT + _N_SIDE),
    "imu_right": slice(_N_MAT + _N_SIDE, _N_MAT + 2 * _N_SIDE),
}
# Thigh motion is measured over this many windows (one gait cycle or more at 1 s).
MOTION_WINDOWS = 3


@dataclass(frozen=True, slots=True)
class WindowFeatures:
    """Everything the estimate stages need of a run of n windows."""

    t_s: np.ndarray  # (n,) end of each window
    features: np.ndarray  # (n, len(FEATURES)), nan where a stream is absent
    present: dict[str, np.ndarray]  # stream -> (n,) bool
    kpa: np.ndarray | None  # (n, rows, cols) mean zeroed map of each window; nan if no mat
    seat_load_n: np.ndarray  # (n,) nan if no mat
    ischial_row: np.ndarray  # (n,) the tuberosities' row (mat_features.ischial_row); nan
    row_load_n: np.ndarray  # (n, rows) load on each row of the mean map; nan if no mat
    frame_t_s: np.ndarray  # (m,) the mat frames' times
    frame_window: np.ndarray  # (m,) their window
    frame_row_load_n: np.ndarray  # (m, rows) load on each row of each frame
    mat_motion_mm: np.ndarray  # (n,) spread of the centre of pressure within the window
    thigh_pitch_deg: np.ndarray  # (n, 2) left, right; nan where absent
    thigh_motion_dps: np.ndarray  # (n, 2) rms angular rate within the window; nan where absent
    zero_offsets: np.ndarray | None  # (rows, cols) counts, in effect after the last window

    def __len__(self) -> int:
        return len(self.t_s)


def window_sums(values: np.ndarray, window: np.ndarray, n: int) -> np.ndarray:
    """Sum of `values` (m, ...) per window (n, ...); `window` (m,) is non-decreasing."""
    out = np.zeros((n, *values.shape[1:]))
    if len(window) == 0:
        return out
    starts = np.searchsorted(window, np.arange(n))
    has = np.bincount(window, minlength=n) > 0
    out[has] = np.add.reduceat(values, starts[has], axis=0)
    return out


class FeatureStage:
    """Stateful: zeroing, the last values of each stream, and recent thigh motion."""

    def __init__(self, *, calibration: Calibration, pitch_mm: float = 28.0,
                 empty_load_n: float = 40.0, zero_time_constant_s: float = 20.0,
                 zero_settle_s: float = 3.0, zero_offsets: np.ndarray | None = None,
                 orientation: str = "auto"):
        self.calibration = calibration
        self.pitch_mm = pitch_mm
        self.empty_load_n = empty_load_n
        self.zero_time_constant_s = zero_time_constant_s
        self.zero_settle_s = zero_settle_s
        self._initial_zero = zero_offsets
        self.orientation = MatOrientation(orientation, pitch_mm=pitch_mm)
        self.zero: AutoZero | None = None  # made when the mat's geometry is known
        self._last_kpa: np.ndarray | None = None
        self._last_side: dict[str, np.ndarray | None] = {"imu_left": None, "imu_right": None}
        self._recent_sq: dict[str, list[tuple[float, float]]] = {"imu_left": [],
                                                                  "imu_right": []}

    def process(self, win: Windows) -> WindowFeatures:
        n = len(win)
        features = np.full((n, len(FEATURES)), np.nan)
        kpa_mean: np.ndarray | None = None
        seat_load = np.full(n, np.nan)
        isch_row = np.full(n, np.nan)
        row_load = np.full((n, 0), np.nan)
        mat_motion = np.full(n, np.nan)
        frame_t = np.zeros(0)
        frame_window = np.zeros(0, np.int64)
        frame_rows = np.zeros((0, 0))

        mat = win.mat
        if mat is not None:
            shape = mat.counts.shape[1:]
            if self.zero is None:
                self.zero = AutoZero(
                    (shape[0], shape[1]), calibration=self.calibration, pitch_mm=self.pitch_mm,
                    empty_load_n=self.empty_load_n, time_constant_s=self.zero_time_constant_s,
                    settle_s=self.zero_settle_s, initial=self._initial_zero)
            count = np.bincount(mat.window, minlength=n)
            has = count > 0
            safe = np.maximum(count, 1)[:, None, None]
            raw_mean = window_sums(mat.counts.astype(np.float64), mat.window, n) / safe
            offsets = self.zero.update(raw_mean, has, win.period_s)
            # Zeroed in the mat's own cells; read the contract's way round from here on.
            kpa = self.orientation.apply(
                zeroed_kpa(mat.counts, offsets[mat.window], self.calibration))
            kpa_mean = window_sums(kpa, mat.window, n) / safe
            # Hold the last map through a short gap; nothing where the mat is absent.
            present = win.present["mat"]
            for k in range(n):
                if not present[k]:
                    kpa_mean[k] = np.nan
                    self._last_kpa = None
                elif has[k]:
                    self._last_kpa = kpa_mean[k].copy()
                elif self._last_kpa is not None:
                    kpa_mean[k] = self._last_kpa
                else:
                    kpa_mean[k] = np.nan
            usable = present & ~np.isnan(kpa_mean[:, 0, 0])
            kpa_mean[~usable] = np.nan
            if not self.orientation.decided:
                before = self.orientation.name
                self.orientation.observe(kpa_mean[usable])
                if self.orientation.name != before:  # it lies the other way round
                    kpa, kpa_mean = orient(kpa, "rotated_180"), orient(kpa_mean, "rotated_180")
                    self._last_kpa = None
            per_cell = cell_newtons(self.pitch_mm)
            row_load = kpa_mean.sum(axis=2) * per_cell
            frame_t, frame_window = mat.t_s, mat.window
            frame_rows = kpa.sum(axis=2) * per_cell
            if usable.any():
                features[usable, GROUPS["mat"]] = mat_features(kpa_mean[usable], self.pitch_mm)
                seat_load[usable] = row_load[usable].sum(axis=1)
                isch_row[usable] = ischial_row(kpa_mean[usable])
                # Centre-of-pressure movement within each window (fidgeting on the seat).
                x = (np.arange(shape[1]) + 0.5) * self.pitch_mm
                y = (np.arange(shape[0]) + 0.5) * self.pitch_mm
                total = np.maximum(kpa.sum(axis=(1, 2)), 1e-9)
                cop_x = (kpa.sum(axis=1) @ x) / total
                cop_y = (kpa.sum(axis=2) @ y) / total
                mean_x = np.bincount(mat.window, cop_x, n) / np.maximum(count, 1)
                mean_y = np.bincount(mat.window, cop_y, n) / np.maximum(count, 1)
                dev = (cop_x - mean_x[mat.window]) ** 2 + (cop_y - mean_y[mat.window]) ** 2
                spread = np.sqrt(np.bincount(mat.window, dev, n) / np.maximum(count, 1))
                loaded = seat_load > 2 * self.empty_load_n
                mat_motion = np.where(has & usable & loaded, spread, np.nan)

        pitch = np.full((n, 2), np.nan)
        motion = np.full((n, 2), np.nan)
        for side, stream in enumerate(("imu_left", "imu_right")):
            stats = window_stats(win.imu[stream], n)
            p, r = thigh_angles(stats.accel_mg)
            values = np.column_stack([p, r, np.full(n, np.nan)])
            recent = self._recent_sq[stream]
            present = win.present[stream]
            for k in range(n):
                if not present[k]:
                    values[k] = np.nan
                    self._last_side[stream] = None
                    recent.clear()
                elif stats.count[k] > 0:
                    recent.append((float(stats.gyro_sq[k]), float(stats.count[k])))
                    del recent[:-MOTION_WINDOWS]
                    squares, samples = (sum(v) for v in zip(*recent))
                    values[k, 2] = np.log1p(np.sqrt(squares / samples))
                    self._last_side[stream] = values[k].copy()
                elif self._last_side[stream] is not None:
                    values[k] = self._last_side[stream]  # a short gap: hold
            features[:, GROUPS[stream]] = values
            pitch[:, side] = values[:, 0]
            motion[:, side] = np.where(present, stats.gyro_rms, np.nan)

        if kpa_mean is not None:
            self.orientation.observe_crossings(kpa_mean, pitch)
        return WindowFeatures(
            t_s=win.end_s, features=features, present=dict(win.present), kpa=kpa_mean,
            seat_load_n=seat_load, ischial_row=isch_row, row_load_n=row_load,
            frame_t_s=frame_t, frame_window=frame_window, frame_row_load_n=frame_rows,
            mat_motion_mm=mat_motion, thigh_pitch_deg=pitch, thigh_motion_dps=motion,
            zero_offsets=None if self.zero is None else self.zero.offsets.copy())
