"""Domain randomisation for the standard body: people, seats and fittings it does not draw.

The standard body (`firmware_sim.body`) draws a person from narrow ranges: leans of
63-70 % of the load on one side, the mat centred under the pelvis, thigh units strapped
within 4 degrees, one way to slouch and one way to cross. A posture model fitted on that
learns those ranges as if they were the world. `Body(variety=True)` widens every one of
them to what the issue of record asks the estimator to survive (docs/simulator.md,
"Variety"), so that a fit on the standard body can be scored on the anthropometric one
without having been shown it:

- the mat off-centre by up to 4 cm either way and turned by up to 10 degrees;
- thigh units strapped with up to 15 degrees of error about each axis, 3 cm along the thigh;
- softer and firmer tissue and foam (contact sizes x0.8-1.25), tuberosities taking
  0.75-1.3 x their share, thighs 0.6-1.2 x theirs, a lasting left-right bias of up to 5 %;
- leans from 60/40 to 80/20 of the seat load;
- slouches with the feet tucked back (knee higher, less thigh on the seat) or stretched out
  (knee lower), with a sacrum that takes a little or a lot;
- crossings at the knee or with the ankle over the other knee (the "figure four": the top
  thigh rolled out and near level, still partly on the seat);
- a tucked foot carrying 0.6-1.4 x its share, further forward or back under the buttock.

These are draws, not a second anatomy: the shapes and physics stay the standard body's.
Values come from the same counter-based hash as the rest of `body.py` (own stream numbers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_Triple = tuple[float, float, float]

# Per-segment uniforms appended after the standard body's 16 (indices into the 8 here).
SEGMENT_DRAWS = 8
(V_LEAN, V_SLOUCH_KNEE, V_SLOUCH_SACRUM, V_CROSS_KIND, V_CROSS_LIFT, V_FOOT_LOAD,
 V_FOOT_Y, V_THIGH) = range(SEGMENT_DRAWS)
FIGURE_FOUR_SHARE = 0.35


@dataclass(frozen=True, slots=True)
class Fitting:
    """What varies per person and fitting, drawn once per seed."""

    mat_offset_mm: tuple[float, float]  # (toward the mat's column 0, toward its row 0)
    mat_rotation_rad: float
    mount_deg: tuple[_Triple, _Triple]
    along_thigh_m: tuple[float, float]
    tissue: float
    it_sigma: float
    it_share: float
    thigh_share: float
    asymmetry: float
    thigh_contact_mm: float
    seated_pitch_deg: float


def fitting(u: np.ndarray) -> Fitting:
    """A fitting from 24 uniforms in [0, 1)."""

    def between(i: int, low: float, high: float) -> float:
        return float(low + (high - low) * u[i])

    def triple(i: int) -> _Triple:
        return (between(i, -15.0, 15.0), between(i + 1, -15.0, 15.0),
                between(i + 2, -15.0, 15.0))

    return Fitting(
        mat_offset_mm=(between(0, -40.0, 40.0), between(1, -40.0, 40.0)),
        mat_rotation_rad=math.radians(between(2, -10.0, 10.0)),
        mount_deg=(triple(3), triple(6)),
        along_thigh_m=(between(9, -0.03, 0.03), between(10, -0.03, 0.03)),
        tissue=between(11, 0.8, 1.25),
        it_sigma=between(12, 0.8, 1.25),
        it_share=between(13, 0.75, 1.3),
        thigh_share=between(14, 0.6, 1.2),
        asymmetry=between(15, -0.05, 0.05),
        thigh_contact_mm=between(16, 260.0, 420.0),
        seated_pitch_deg=between(17, -8.0, 10.0),
    )


def lean_factor(v: np.ndarray) -> float:
    """How far past upright a lean goes, as a multiple of the standard lean's load change:
    0.667 puts 60 % of the load on the lower side, 2.0 puts 80 % there."""
    return 0.667 + 1.333 * float(v[V_LEAN])


def slouch_knee_deg(v: np.ndarray) -> float:
    """Thigh pitch relative to the standard slouch: + the feet tucked back (knee higher),
    - the legs stretched out (knee lower)."""
    return -10.0 + 22.0 * float(v[V_SLOUCH_KNEE])


def slouch_reach(v: np.ndarray) -> float:
    """Share of the thigh on the seat: a knee up takes the thigh off the seat."""
    return float(np.clip(0.75 - 0.02 * slouch_knee_deg(v), 0.4, 0.95))


def sacrum_scale(v: np.ndarray) -> float:
    return 0.3 + 1.0 * float(v[V_SLOUCH_SACRUM])


def figure_four(v: np.ndarray) -> bool:
    return float(v[V_CROSS_KIND]) < FIGURE_FOUR_SHARE


def foot_scale(v: np.ndarray) -> float:
    return 0.6 + 0.8 * float(v[V_FOOT_LOAD])


def foot_dy_mm(v: np.ndarray) -> float:
    """Where the tucked foot sits, forward (+) or back (-) of the standard place."""
    return -25.0 + 45.0 * float(v[V_FOOT_Y])


def thigh_scale(v: np.ndarray) -> float:
    """Per sitting: how much of the load the thighs take this time."""
    return 0.85 + 0.3 * float(v[V_THIGH])


def place(point: tuple[float, float], fit: Fitting, centre: tuple[float, float]
          ) -> tuple[float, float]:
    """A point on the seat, in the coordinates of a mat lying off-centre and turned."""
    c, s = math.cos(-fit.mat_rotation_rad), math.sin(-fit.mat_rotation_rad)
    dx, dy = point[0] - centre[0], point[1] - centre[1]
    return (centre[0] + c * dx - s * dy - fit.mat_offset_mm[0],
            centre[1] + s * dx + c * dy - fit.mat_offset_mm[1])


def placed(components: list[tuple[str, tuple[float, ...]]], fit: Fitting,
           centre: tuple[float, float]) -> list[tuple[str, tuple[float, ...]]]:
    """Contact shapes (body.py's `_shape` parameters) moved onto a mat lying as `fit` says."""
    out: list[tuple[str, tuple[float, ...]]] = []
    for kind, params in components:
        if kind in ("gauss", "plateau"):
            cx, cy, sx, sy, angle = params
            out.append((kind, (*place((cx, cy), fit, centre), sx, sy,
                               angle - fit.mat_rotation_rad)))
        elif kind == "limb":
            x0, y0, x1, y1, *rest = params
            out.append((kind, (*place((x0, y0), fit, centre), *place((x1, y1), fit, centre),
                               *rest)))
        else:
            out.append((kind, params))
    return out
