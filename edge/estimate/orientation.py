"""How the mat lies on the seat: its rows and columns as the occupant sits on them.

The hardware contract puts row 0 at the front edge of the seat and column 0 on the
occupant's left. A mat laid the other way round (the cable at the back: rotated by 180
degrees) or turned over (mirrored) reports the same map flipped. Every estimate after
zeroing reads the map the contract's way round, so the map is flipped back first; the
zero stays in the mat's own cells, which is what `legwake calibrate` measures.

`[mat] orientation` names the way it lies, or "auto": then the front and the back are
told apart by the load, since a seated person puts most of it on the back half, under
the ischial tuberosities (about 70 % on both body models in every posture, 67-93 %). A
mirror (left and right swapped) cannot be seen in the load of a symmetric person; with
both thigh units it shows in crossings: the top thigh pitches up 17-29 degrees more than
the other, and lifts off the mat, so the front half of its side carries almost nothing
(the front halves' load differs by 87-100 %, on both body models). A mat whose lifted
side is the bottom thigh's is mirrored. That evidence is only suspected, never acted on:
a tucked foot misread as a crossing (which the posture model does on a body it was not
fitted to) votes the wrong way, and reading every side swapped by mistake is worse than
saying so. So a mirror is configured; "auto" says when it suspects one. Core code:
numpy only.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ORIENTATIONS", "MatOrientation", "back_share", "orient"]

ORIENTATIONS: dict[str, tuple[bool, bool]] = {
    "normal": (False, False),
    "rotated_180": (True, True),
    "mirrored": (False, True),
    "rotated_180_mirrored": (True, False),
}
"""Each way a mat can lie, as (rows reversed, columns reversed) against the contract."""
SETTINGS = ("auto", *ORIENTATIONS)
BACK_SHARE_NORMAL = 0.6
BACK_SHARE_REVERSED = 0.4
"""A median share of the load on the back half above the first says the rows read front
to back as they should; below the second, the other way round; between, undecided."""
SEATED_WINDOWS = 20
"""Seated windows (of at least SEATED_LOAD_N) it takes to decide, in "auto"."""
SEATED_LOAD_N = 150.0
CROSSING_PITCH_DEG = 12.0
CROSSING_ASYMMETRY = 0.5
"""A window counts as a crossing's evidence of left and right when the thighs' pitch
differs by this much and the front halves' load by this share of their sum."""
CROSSING_WINDOWS = 120
MIRROR_AGREEMENT = 0.9
"""Of at least CROSSING_WINDOWS crossing windows, the share whose lifted side must be the
bottom thigh's for a mirror to be suspected, or the top thigh's for the sides to count as
seen right; between, it keeps looking (every vote counts: one tucked foot misread as a
crossing does not outvote the crossings of a day)."""


def orient(kpa: np.ndarray, name: str) -> np.ndarray:
    """Maps (..., rows, cols) as a mat lying `name` reports them, the contract's way round
    (and the other way: each flip undoes itself)."""
    rows, cols = ORIENTATIONS[name]
    if rows:
        kpa = kpa[..., ::-1, :]
    if cols:
        kpa = kpa[..., ::-1]
    return kpa


def back_share(kpa: np.ndarray) -> np.ndarray:
    """The share of each map's (n, rows, cols) load on its back half of rows."""
    rows = kpa.shape[-2]
    load = np.nansum(kpa, axis=(-2, -1))
    back = np.nansum(kpa[..., rows - rows // 2:, :], axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(load > 0, back / load, np.nan)


class MatOrientation:
    """The way the mat lies: configured, or ("auto") learned from the first seated minutes.

    `apply` flips maps to the contract's way round; `observe` takes seated windows' maps
    (as `apply` gave them) and, in "auto", turns the mat round once if their load says
    the front is at the back. `name` is the way it lies as known now; `decided` whether
    that is settled (configured, or learned)."""

    def __init__(self, setting: str = "auto", *, pitch_mm: float = 28.0) -> None:
        if setting not in SETTINGS:
            raise ValueError(f"orientation must be one of {', '.join(SETTINGS)}, got {setting!r}")
        self.setting = setting
        self.name = "normal" if setting == "auto" else setting
        self.decided = setting != "auto"
        self.sides_checked = setting != "auto"  # left and right: configured, or seen right
        self.mirror_suspected = False  # the crossings say left and right are swapped
        self._cell_n = (pitch_mm * 1e-3) ** 2 * 1000.0  # N per kPa of one cell
        self._shares: list[float] = []
        self._sides: list[bool] = []  # per crossing window: the lifted side is the top's

    def apply(self, kpa: np.ndarray) -> np.ndarray:
        return orient(kpa, self.name) if self.name != "normal" else kpa

    def observe(self, kpa: np.ndarray) -> None:
        """Windows' mean maps (n, rows, cols), already `apply`-ed; nan where no mat."""
        if self.decided or not len(kpa):
            return
        load = np.nansum(kpa, axis=(1, 2)) * self._cell_n
        shares = back_share(kpa)[load >= SEATED_LOAD_N]
        self._shares += [float(s) for s in shares if np.isfinite(s)]
        if len(self._shares) < SEATED_WINDOWS:
            return
        median = float(np.median(self._shares))
        if median >= BACK_SHARE_NORMAL:
            self.decided = True
        elif median <= BACK_SHARE_REVERSED:
            self.name, self.decided = "rotated_180", True
        else:
            del self._shares[:-SEATED_WINDOWS]  # no clear answer yet: keep looking

    def observe_crossings(self, kpa: np.ndarray, pitch_deg: np.ndarray) -> None:
        """Windows' mean maps (n, rows, cols), already `apply`-ed, and the thighs' pitch
        (n, 2: left, right; nan where absent). In "auto", once the front is known, checks
        whether left and right are as they should be (`sides_checked`) or look swapped
        (`mirror_suspected`); the map is read as before either way."""
        if self.sides_checked or self.mirror_suspected or not self.decided or not len(kpa):
            return
        rows, cols = kpa.shape[1:]
        front = np.nansum(kpa[:, : rows // 2], axis=1)
        left = np.nansum(front[:, : cols // 2], axis=1)
        right = np.nansum(front[:, cols - cols // 2:], axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            asymmetry = (left - right) / (left + right)
        lift = pitch_deg[:, 0] - pitch_deg[:, 1]  # > 0: the left thigh is the top one
        clear = (np.abs(lift) >= CROSSING_PITCH_DEG) & (np.abs(asymmetry) >= CROSSING_ASYMMETRY)
        # As it should be, the top thigh's front half carries less: opposite signs.
        self._sides += (np.sign(lift[clear]) != np.sign(asymmetry[clear])).tolist()
        if len(self._sides) < CROSSING_WINDOWS:
            return
        agree = float(np.mean(self._sides))
        if agree >= MIRROR_AGREEMENT:
            self.sides_checked = True
        elif agree <= 1 - MIRROR_AGREEMENT:
            self.mirror_suspected = True
