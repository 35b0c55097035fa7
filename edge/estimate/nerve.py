"""From seat pressure and posture to the tissue pressure (mmHg) at each nerve site.

Owns the mapping from what the mat sees (and what the posture implies off the mat) to
the pressure on the sciatic nerve beside each ischial tuberosity, on the nerves of each
posterior thigh, and on each common peroneal nerve: the `edge.model` input. Its
parameters are the `[nerve]` section of the configuration (`NerveMapping.from_config`).
It does not classify posture, window frames or run the model. Core code: numpy only.

Equations, assumptions and the reference points the defaults are tuned to:
docs/estimate.md.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import numpy as np

from edge.calibration import MMHG_PER_KPA
from edge.estimate.ergonomics import (
    check_pitch_mm,
    clean_kpa,
    contact_mean_kpa,
    peak_pressure_index_kpa,
    region_weights,
    window_mean_kpa,
)
from edge.estimate.labels import POSTURE_INDEX, POSTURES, SEATED, SITE_INDEX, SITES

if TYPE_CHECKING:
    from edge.config import NerveConfig

__all__ = ["SEATS", "NerveMapping", "estimated_weight_kg", "site_pressures"]

SEATS = ("cushioned", "hard")
GRAVITY_M_S2 = 9.80665
SCIATIC_WINDOW_MM = 84.0
"""Side of the square averaged around each ischial peak: 3 x 3 cells on the 28 mm mat,
which covers the tuberosity and the nerve 2-4 cm beside it."""
MIN_SEATED_WEIGHT_KG = 30.0
"""A seated frame that weighs less than this is not trusted for body weight (the person
is half off the mat, or the mat is failing): the configured weight is used instead."""

_SEATED_CODES = np.array(sorted(POSTURE_INDEX[p] for p in SEATED))
_CROSSED_TOP = ((POSTURE_INDEX["crossed_left_over_right"], 0),
                (POSTURE_INDEX["crossed_right_over_left"], 1))
_CROSSED_CODES = np.array([code for code, _ in _CROSSED_TOP])
_TUCKED = ((POSTURE_INDEX["foot_under_left"], 0), (POSTURE_INDEX["foot_under_right"], 1))
_SCIATIC = (SITE_INDEX["sciatic_left"], SITE_INDEX["sciatic_right"])
_THIGH = (SITE_INDEX["thigh_left"], SITE_INDEX["thigh_right"])
_PERONEAL = (SITE_INDEX["peroneal_left"], SITE_INDEX["peroneal_right"])


@dataclass(frozen=True, slots=True, kw_only=True)
class NerveMapping:
    """The mapping's parameters; one field per `[nerve]` setting, same names and meaning.

    No defaults here: the one definition of each default is in `edge.config`, so build
    one with `NerveMapping.from_config(config.nerve)`.
    """

    seat: str
    body_weight_kg: float
    seat_load_fraction: float
    sciatic_attenuation_cushioned: float
    sciatic_attenuation_hard: float
    thigh_attenuation: float
    sciatic_without_mat_mmhg: float
    thigh_without_mat_mmhg: float
    crossed_leg_load_fraction: float
    crossed_contact_cm2: float
    peroneal_attenuation: float
    tucked_foot_load_fraction: float
    tucked_foot_contact_cm2: float
    tucked_foot_attenuation: float
    tucked_foot_tilt_deg: float

    def __post_init__(self) -> None:
        if self.seat not in SEATS:
            raise ValueError(f"seat must be one of {', '.join(SEATS)}, got {self.seat!r}")
        for f in fields(self):
            if f.name == "seat":
                continue
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or not 0.0 <= value < np.inf:
                raise ValueError(f"{f.name} must be a finite number >= 0, got {value!r}")
        for name in ("body_weight_kg", "seat_load_fraction", "crossed_contact_cm2",
                     "tucked_foot_contact_cm2"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")

    @classmethod
    def from_config(cls, section: NerveConfig) -> NerveMapping:
        """The mapping a `[nerve]` config section describes."""
        return cls(**{f.name: getattr(section, f.name) for f in fields(cls)})

    @property
    def sciatic_attenuation(self) -> float:
        """The sciatic attenuation for the configured seat."""
        if self.seat == "hard":
            return self.sciatic_attenuation_hard
        return self.sciatic_attenuation_cushioned


def _surface_mmhg(load_fraction: float, weight_kg: np.ndarray, contact_cm2: float) -> np.ndarray:
    """Mean surface pressure (mmHg) of a share of body weight over a contact area."""
    force_n = load_fraction * weight_kg * GRAVITY_M_S2
    return force_n / (contact_cm2 * 1e-4) / 1000.0 * MMHG_PER_KPA


def _folds(tilt_deg: np.ndarray | None, threshold_deg: float, n: int
           ) -> tuple[np.ndarray, np.ndarray]:
    """(n, 2) each leg folded: its thigh turned from upright `threshold_deg` more than the
    other's; and (n, 2) each leg straight: less than half that more (False unknown)."""
    if tilt_deg is None:
        return np.zeros((n, 2), bool), np.zeros((n, 2), bool)
    tilt = np.asarray(tilt_deg, dtype=np.float64)
    if tilt.shape != (n, 2):
        raise ValueError(f"thigh_tilt_deg must be (n, 2) with n = {n}, got shape {tilt.shape}")
    more = np.stack([tilt[:, 0] - tilt[:, 1], tilt[:, 1] - tilt[:, 0]], axis=1)
    with np.errstate(invalid="ignore"):
        return more >= threshold_deg, more < threshold_deg / 2


def estimated_weight_kg(load_n: np.ndarray, mapping: NerveMapping) -> np.ndarray:
    """Body weight (kg) from the seat's total force of seated frames: the seat carries
    `seat_load_fraction` of it; the configured weight where the frame weighs too little."""
    weight = np.asarray(load_n, dtype=np.float64) / (GRAVITY_M_S2 * mapping.seat_load_fraction)
    return np.where(weight >= MIN_SEATED_WEIGHT_KG, weight, mapping.body_weight_kg)


def site_pressures(kpa: np.ndarray | None, posture: np.ndarray, mapping: NerveMapping, *,
                   weight_kg: float | np.ndarray | None = None,
                   pitch_mm: float = 28.0,
                   unsure_top: np.ndarray | None = None,
                   thigh_tilt_deg: np.ndarray | None = None) -> np.ndarray:
    """Tissue pressure (n, 6) in mmHg at each nerve site, in `SITES` order.

    `kpa`: seat pressure (n, rows, cols) in kPa (calibrated, zeroed), or None without a
    mat. `posture`: (n,) indices into `POSTURES`. `weight_kg`: the person's weight (a
    number or (n,)), when known; else it is estimated from each seated frame's load, or
    taken from the mapping without a mat.

    - Not seated (`empty`, `standing`): every site 0.
    - Sciatic: `sciatic_attenuation` (by seat) x the mean over 3 x 3 cells around the
      highest cell of that side's back half. Posterior thigh: `thigh_attenuation` x the
      mean over the cells in contact in that side's front half. A tucked foot shows on
      the mat (the heel in front of the tuberosity, the shank under the thigh) and loads
      these sites through the same terms.
    - Peroneal: 0 when sitting normally (the fibular head is off the seat). Crossed: the
      top leg's = `peroneal_attenuation` x its share of body weight resting on the other
      knee over `crossed_contact_cm2`; where `unsure_top` (n,) is true (the thigh units are
      missing: the mat cannot see the fibular head, nor tell which leg is on top for
      sure), both legs' peroneal nerves get it, so the one on top is never left out. Foot tucked: that leg's = `tucked_foot_attenuation`
      x the peak pressure index of that side's half of the mat (the dorsum of the ankle
      on the seat), or without a mat the tucked share of body weight over
      `tucked_foot_contact_cm2`.
    - A foot tucked whatever the label: `thigh_tilt_deg` (n, 2), each thigh's turn from the
      sitter's upright (`imu_features.tilt_change_deg`; nan unknown). Where one thigh has
      turned `tucked_foot_tilt_deg` more than the other on a seated label that is not a
      crossing, that leg's peroneal nerve is loaded as a tucked foot's, so a tucked foot
      read as a lean, a slouch or upright still loads its leg. A lean or a slouch turns
      both thighs alike; a tucked foot folds one. The other way round, a leg whose thigh
      has turned less than half that more than the other's is not loaded by a tucked-foot
      or a crossing label (on top): the thighs say the label is wrong (a slouch misread).
    - Without a mat (None, or a frame of all NaN): sciatic and thigh take the
      `*_without_mat_mmhg` values; NaN cells count as unloaded.
    """
    codes = np.asarray(posture)
    if codes.ndim != 1 or not (codes.dtype.kind in "iu" or codes.size == 0):
        raise ValueError(f"posture must be an (n,) integer array, got {codes.dtype} "
                         f"shape {codes.shape}")
    codes = codes.astype(np.int64)
    if codes.size and (codes.min() < 0 or codes.max() >= len(POSTURES)):
        raise ValueError(f"posture indices must be in 0..{len(POSTURES) - 1}")
    n = codes.size
    out = np.zeros((n, len(SITES)))
    sciatic = np.full((n, 2), mapping.sciatic_without_mat_mmhg)
    thigh = np.full((n, 2), mapping.thigh_without_mat_mmhg)
    tucked_surface = np.full((n, 2), np.nan)  # mmHg on the ankle, from the mat
    load_n = np.zeros(n)
    if kpa is None:
        has_mat: np.ndarray = np.zeros(n, dtype=bool)
    else:
        pitch_mm = check_pitch_mm(pitch_mm)
        raw = np.asarray(kpa, dtype=np.float64)
        if raw.ndim != 3 or raw.shape[0] != n:
            raise ValueError(f"kpa must be (n, rows, cols) with n = {n} frames like posture, "
                             f"got shape {raw.shape}")
        has_mat = np.asarray(~np.isnan(raw).all(axis=(1, 2)))
        pressure = clean_kpa(raw)
        rows, cols = pressure.shape[1:]
        front, back = region_weights(rows)
        sides = region_weights(cols)
        window = max(1, round(SCIATIC_WINDOW_MM / pitch_mm)) | 1  # odd
        load_n = pressure.sum(axis=(1, 2)) * pitch_mm**2 / 1000.0
        present = pressure[has_mat]
        for s, side in enumerate(sides):
            behind = (back[:, None] * side[None, :]) > 0
            sciatic[has_mat, s] = mapping.sciatic_attenuation * MMHG_PER_KPA \
                * window_mean_kpa(present, behind, window)
            thigh[has_mat, s] = mapping.thigh_attenuation * MMHG_PER_KPA \
                * contact_mean_kpa(present, front[:, None] * side[None, :])
            tucked_surface[has_mat, s] = MMHG_PER_KPA * peak_pressure_index_kpa(
                present, pitch_mm, np.broadcast_to(side[None, :] > 0, (rows, cols)))

    if weight_kg is None:
        weight = np.where(has_mat, estimated_weight_kg(load_n, mapping), mapping.body_weight_kg)
    else:
        weight = np.broadcast_to(np.asarray(weight_kg, dtype=np.float64), (n,))
        if not np.all(np.isfinite(weight) & (weight > 0)):
            raise ValueError("weight_kg must be positive and finite")

    out[:, _SCIATIC] = sciatic
    out[:, _THIGH] = thigh
    crossing = mapping.peroneal_attenuation * _surface_mmhg(
        mapping.crossed_leg_load_fraction, weight, mapping.crossed_contact_cm2)
    unsure = np.zeros(n, bool) if unsure_top is None else np.asarray(unsure_top, bool)
    folded, straight = _folds(thigh_tilt_deg, mapping.tucked_foot_tilt_deg, n)
    for code, top in _CROSSED_TOP:
        here = codes == code
        on_top = here & ~straight[:, top]
        out[on_top, _PERONEAL[top]] = crossing[on_top]
        out[here & unsure, _PERONEAL[1 - top]] = crossing[here & unsure]
    folded[np.isin(codes, _CROSSED_CODES)] = False
    without_mat = _surface_mmhg(mapping.tucked_foot_load_fraction, weight,
                                mapping.tucked_foot_contact_cm2)
    for code, tucked in _TUCKED:
        here = ((codes == code) & ~straight[:, tucked]) | folded[:, tucked]
        surface = np.where(has_mat, tucked_surface[:, tucked], without_mat)
        out[here, _PERONEAL[tucked]] = mapping.tucked_foot_attenuation * surface[here]
    out[~np.isin(codes, _SEATED_CODES)] = 0.0
    return out
