"""Movement: weight shifts (reliefs), fidgeting, walking, standing up and sitting down.

Owns the movement definitions:

- relief: the load on the ischial region (tuberosities and buttocks) at least
  `offload` (30%) below the sitter's reference for at least `min_s` (15 s): the
  wheelchair-seating definition of a pressure relief. Measured frame by frame
  (20 a second), so a 15 s relief does not depend on where window edges fall. The
  reference is the ischial load of the recent windows in the same posture (a
  slouch or a crossing loads the pelvis differently from sitting upright, so no
  posture is compared with another's); until a posture has `min_reference_s` of
  history there is no reference, except for sitting upright when the upright
  baseline of `legwake calibrate` is given. The ischial region is the seat behind
  a line 28 mm in front of the tuberosities (`mat_features.ischial_weights`). A window is
  `relief` from the moment its relief qualifies until it ends (causal: the first
  15 s are only known to be a relief afterwards), and the "relief" event carries
  the time it qualified.
- fidget: the thighs or the load on the seat moving more than a still sitter's
  breathing and sway, while not walking.
- walking: the thighs upright (standing) and swinging.
- stand_up / sit_down: the posture leaving or entering the seated postures (on
  this seat); without the mat, the thighs turning upright or level again.

Core code: numpy only, no I/O.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from edge.estimate.features import WindowFeatures
from edge.estimate.labels import POSTURE_INDEX, POSTURES, SEATED
from edge.estimate.mat_features import ischial_weights
from edge.estimate.zeroing import UprightBaseline

_SEATED = np.array([name in SEATED for name in POSTURES])
_UPRIGHT = POSTURE_INDEX["upright"]
# The reference ischial load of a posture: this percentile of its recent windows.
REFERENCE_PERCENTILE = 75.0
# The first windows of each posture episode settle it (no relief is looked for); when
# their ischial load is this far from the posture's earlier reference, the person sits
# differently this time and the earlier reference is dropped.
SETTLE_WINDOWS = 3
STALE_REFERENCE = 0.2

# Thresholds measured on the simulated sitter (bench/estimate.py reports how they do):
# a still sitter's thighs move under 0.5 deg/s rms (sensor noise and breathing) and the
# centre of pressure under 0.5 mm within a second; a fidget burst moves the thighs by
# several deg/s and the load by a few mm.
FIDGET_THIGH_DPS = 1.0
FIDGET_SEAT_MM = 1.0
# A thigh within this angle of vertical (pitch below -90 + this) is a standing one.
STANDING_PITCH_DEG = -55.0
# Walking swings the thighs at tens of deg/s; standing sway is a few deg/s.
WALKING_THIGH_DPS = 12.0


@dataclass(frozen=True, slots=True)
class Movement:
    relief: np.ndarray  # (n,) bool
    offload: np.ndarray  # (n,) fraction of the reference ischial load taken off; nan unknown
    fidget: np.ndarray  # (n,) bool
    walking: np.ndarray  # (n,) bool
    events: list[tuple[float, str]]


class ReliefDetector:
    """Frame-by-frame offload runs against a per-posture reference; keeps state.

    The reference of a posture comes from its last `reference_s` of windows: where
    the tuberosities are (the median of their rows, so that a shift that moves the
    load onto the thighs does not move the region) and a high percentile of the
    load on the ischial region there (reliefs are a minority of any posture's time,
    so they do not pull it down). Each time a posture is taken up again its first
    windows are compared with that reference, which is dropped when the person sits
    differently this time. An offload is measured against the reference from just
    before it began; one that lasts over `max_s` is how the person sits now, not a
    relief, and ends.
    """

    def __init__(self, *, offload: float = 0.30, min_s: float = 15.0,
                 reference_s: float = 120.0, min_reference_s: float = 10.0,
                 gap_s: float = 0.5, max_s: float = 300.0, period_s: float = 1.0,
                 pitch_mm: float = 28.0, baseline: UprightBaseline | None = None):
        self.offload = offload
        self.min_s = min_s
        self.max_s = max_s
        self.gap_s = gap_s
        self.pitch_mm = pitch_mm
        self.baseline = baseline
        self._keep = max(1, round(reference_s / period_s))
        self._min_windows = max(1, round(min_reference_s / period_s))
        self._history: dict[int, deque[tuple[float, np.ndarray]]] = {}
        self._run_start: float | None = None
        self._run_reference: tuple[float, float] | None = None
        self._last_offloaded = -np.inf
        self._qualified = False
        self._episode: int | None = None  # the posture of the current seated episode
        self._settling: list[tuple[float, np.ndarray]] | None = None

    def _weights(self, row: float, rows: int) -> np.ndarray:
        return ischial_weights(np.array([row]), rows, self.pitch_mm)[0]

    def reference(self, posture: int, rows: int) -> tuple[float, float] | None:
        """(ischial row, ischial load N) this posture normally has; None if unknown."""
        own = self._history.get(posture)
        if own is not None and len(own) >= self._min_windows:
            rows_seen, profiles = zip(*own, strict=True)
            row = float(np.median(rows_seen))
            loads = np.stack(profiles) @ self._weights(row, rows)
            return row, float(np.percentile(loads, REFERENCE_PERCENTILE))
        if posture == _UPRIGHT and self.baseline is not None:
            return self.baseline.ischial_row, self.baseline.ischial_load_n
        return None

    def _end_run(self) -> None:
        self._run_start = None
        self._run_reference = None
        self._qualified = False

    def run(self, feats: WindowFeatures,
            posture: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[tuple[float, str]]]:
        n = len(feats)
        relief = np.zeros(n, bool)
        offload = np.full(n, np.nan)
        events: list[tuple[float, str]] = []
        starts = np.searchsorted(feats.frame_window, np.arange(n + 1))
        rows = feats.row_load_n.shape[1]
        for k in range(n):
            label = int(posture[k])
            row_k = feats.ischial_row[k]
            if not _SEATED[label] or np.isnan(row_k):
                self._end_run()
                self._episode = None
                continue
            if label != self._episode:
                self._end_run()
                self._episode, self._settling = label, []
            if self._settling is not None:
                self._settle(label, row_k, feats.row_load_n[k], rows)
                continue
            self._remember(label, row_k, feats.row_load_n[k])
            # During an offload, compare with the reference from before it started.
            reference = self._run_reference if self._run_start is not None \
                else self.reference(label, rows)
            if reference is None or reference[1] <= 0:
                self._end_run()
                continue
            weights = self._weights(reference[0], rows)
            offload[k] = 1.0 - feats.row_load_n[k] @ weights / reference[1]
            frames = slice(starts[k], starts[k + 1])
            times = feats.frame_t_s[frames]
            off = 1.0 - feats.frame_row_load_n[frames] @ weights / reference[1] >= self.offload
            for t, is_off in zip(times.tolist(), off.tolist()):
                if self._run_start is not None and t - self._run_start > self.max_s:
                    self._end_run()  # not a relief any more: how this person sits now
                    break
                if is_off:
                    if self._run_start is None:
                        self._run_start = t
                        self._run_reference = reference
                    self._last_offloaded = t
                    if not self._qualified and t - self._run_start >= self.min_s:
                        self._qualified = True
                        events.append((t, "relief"))
                elif self._run_start is not None and t - self._last_offloaded > self.gap_s:
                    self._end_run()
            relief[k] = self._qualified
        return relief, offload, events

    def _settle(self, posture: int, row: float, row_load: np.ndarray, rows: int) -> None:
        """The first windows of a posture episode: is the posture's history still this
        person's way of sitting in it? If not (sat down differently), forget it."""
        assert self._settling is not None
        self._settling.append((float(row), row_load.copy()))
        if len(self._settling) < SETTLE_WINDOWS:
            return
        old = self.reference(posture, rows)
        if old is not None and posture in self._history:
            weights = self._weights(old[0], rows)
            now = float(np.median([profile @ weights for _, profile in self._settling]))
            if abs(now / old[1] - 1.0) > STALE_REFERENCE:
                self._history[posture].clear()
        for row_k, load in self._settling:
            self._remember(posture, row_k, load)
        self._settling = None

    def _remember(self, posture: int, row: float, row_load: np.ndarray) -> None:
        history = self._history.setdefault(posture, deque(maxlen=self._keep))
        history.append((float(row), row_load.copy()))


class MovementStage:
    """Reliefs, fidgeting, walking and the stand-up / sit-down events; keeps state."""

    def __init__(self, *, relief_offload: float = 0.30, relief_min_s: float = 15.0,
                 period_s: float = 1.0, pitch_mm: float = 28.0,
                 baseline: UprightBaseline | None = None):
        self.relief = ReliefDetector(offload=relief_offload, min_s=relief_min_s,
                                     period_s=period_s, pitch_mm=pitch_mm, baseline=baseline)
        self._seated: bool | None = None

    def run(self, feats: WindowFeatures, posture: np.ndarray) -> Movement:
        relief, offload, events = self.relief.run(feats, posture)

        pitch = feats.thigh_pitch_deg
        motion = feats.thigh_motion_dps
        with np.errstate(invalid="ignore"):
            standing_thighs = np.nanmax(np.where(np.isnan(pitch), -np.inf, pitch), axis=1) \
                < STANDING_PITCH_DEG
            swinging = np.nanmax(np.where(np.isnan(motion), -np.inf, motion), axis=1) \
                > WALKING_THIGH_DPS
            walking = standing_thighs & swinging
            thighs_moving = np.nanmax(np.where(np.isnan(motion), -np.inf, motion), axis=1) \
                > FIDGET_THIGH_DPS
            seat_moving = np.nan_to_num(feats.mat_motion_mm) > FIDGET_SEAT_MM
        fidget = (thighs_moving | seat_moving) & ~walking & ~relief

        # Sitting, for the events: on the seat when the mat is there; else, thighs level.
        has_thighs = ~np.isnan(pitch).all(axis=1)
        seated = np.where(feats.present["mat"], _SEATED[posture], ~standing_thighs)
        known = feats.present["mat"] | has_thighs
        for k in np.flatnonzero(known):
            if self._seated is not None and seated[k] != self._seated:
                events.append((float(feats.t_s[k]), "sit_down" if seated[k] else "stand_up"))
            self._seated = bool(seated[k])
        events.sort(key=lambda e: e[0])
        return Movement(relief=relief, offload=offload, fidget=fidget, walking=walking,
                        events=events)
