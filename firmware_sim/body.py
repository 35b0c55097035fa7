"""The simulated body: a scenario's postures -> what the seat mat and the thigh sensors see.

This module owns the physics of the simulation: the seat interface pressure of
a seated person (as 12-bit ADC counts through the inverse of the mat's default
calibration table, with the sensor's noise, drift and faults) and the specific
force and angular rate at each thigh (in the LegIMU's units and axes). It does
not encode bytes (`firmware_sim.packets`), keep time (`firmware_sim.clock`) or
decide what happens when (`firmware_sim.scenario`).

Every output is a pure function of (seed, weight, seat, scenario, the times
asked for): randomness comes from a counter-based hash of the seed and the
sample's time in milliseconds, never from a stateful generator, so a live
device asking for one sample at a time and a trace generator asking for an
hour at once see the same values. Keep it that way: no cumulative sums over
time, no BLAS reductions (their summation order depends on the array shape).

Model, units and sources: docs/simulator.md.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from firmware_sim import variety as _variety
from firmware_sim.scenario import (
    ACTIVITIES,
    POSTURES,
    SHIFT_KINDS,
    SHIFT_RAMP_S,
    Scenario,
    scenario_times,
)

SEATS: tuple[str, ...] = ("cushioned", "hard")
GRAVITY_M_S2 = 9.80665
MMHG_PER_KPA = 7.50062

# The mat's default calibration table (spec/hardware.md, section 1): counts -> kPa.
CALIBRATION_COUNTS = np.array([0, 40, 300, 900, 1800, 2800, 3500, 3950, 4095], dtype=np.float64)
CALIBRATION_KPA = np.array([0.0, 0.0, 2.0, 6.0, 14.0, 28.0, 45.0, 70.0, 90.0])
NOISE_FLOOR_COUNTS = 40
ADC_MAX_COUNTS = 4095
CONTACT_THRESHOLD_KPA = 0.4
"""Below this a force-sensing cell does not conduct: it reads the unloaded baseline (0 plus
noise and drift), not the 40-count floor."""

(_EMPTY, _UPRIGHT, _LEAN_L, _LEAN_R, _SLOUCHED, _CROSS_L, _CROSS_R, _FOOT_L, _FOOT_R,
 _STANDING) = (POSTURES.index(p) for p in (
    "empty", "upright", "leaning_left", "leaning_right", "slouched", "crossed_left_over_right",
    "crossed_right_over_left", "foot_under_left", "foot_under_right", "standing"))
_FIDGET, _WALKING = ACTIVITIES.index("fidget"), ACTIVITIES.index("walking")

_SUB = 4  # pressure is averaged over _SUB x _SUB points per cell, as a cell integrates its area
_H_S = 1e-3  # half step of the central differences that give the gyro and the linear acceleration


def kpa_to_counts(pressure_kpa: np.ndarray) -> np.ndarray:
    """Noise-free ADC counts for an interface pressure: the inverse of the default table.

    A loaded cell reads above the 40-count floor; an unloaded one (below
    `CONTACT_THRESHOLD_KPA`) reads 0, the baseline that noise and drift ride on.
    """
    p = np.asarray(pressure_kpa, dtype=np.float64)
    counts = np.interp(p, CALIBRATION_KPA[1:], CALIBRATION_COUNTS[1:])
    return np.where(p < CONTACT_THRESHOLD_KPA, 0.0, counts)


def counts_to_kpa(counts: np.ndarray) -> np.ndarray:
    """The default calibration table as the spec states it (linear, clamped; <= 40 counts is 0)."""
    return np.interp(np.asarray(counts, dtype=np.float64), CALIBRATION_COUNTS, CALIBRATION_KPA)


# --- counter-based randomness ----------------------------------------------------------

_MASK64 = (1 << 64) - 1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on a uint64 array (arrays wrap silently; numpy scalars would warn)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@functools.lru_cache(maxsize=1024)
def _key(*parts: int) -> np.uint64:
    """A 64-bit stream key from small integers (seed, stream number, ...)."""
    state = 0x6A09E667F3BCC909
    for part in parts:
        state = (state ^ (int(part) & _MASK64)) & _MASK64
        state = int(_mix(np.array([state], dtype=np.uint64))[0])
    return np.uint64(state)


def _hash(key: np.uint64, index: np.ndarray) -> np.ndarray:
    index = np.atleast_1d(np.asarray(index, dtype=np.int64))
    return _mix(index.astype(np.uint64) * _GOLDEN + key)


def _unit(h: np.ndarray) -> np.ndarray:
    """Uniform in [0, 1) from hash bits."""
    return (h >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _normal(h: np.ndarray) -> np.ndarray:
    """Standard normal from hash bits (Box-Muller on the two 32-bit halves)."""
    u1 = ((h >> np.uint64(32)).astype(np.float64) + 1.0) * 2.0**-32
    u2 = (h & np.uint64(0xFFFFFFFF)).astype(np.float64) * 2.0**-32
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def _smoother(u: np.ndarray) -> np.ndarray:
    """Quintic smoothstep on [0, 1]: zero first and second derivative at both ends."""
    return u * u * u * (u * (u * 6.0 - 15.0) + 10.0)


def _ramp(u: np.ndarray) -> np.ndarray:
    return _smoother(np.clip(u, 0.0, 1.0))


def _value_noise(keys: np.ndarray, t: np.ndarray, periods_s: np.ndarray) -> np.ndarray:
    """Smooth random functions of time in [-1, 1], one per key, (keys, n): a random value at
    a knot every `periods_s`, quintic in between."""
    x = t[None, :] / periods_s[:, None]
    k = np.floor(x)
    knot = k.astype(np.int64)
    knots = np.stack([knot, knot + 1]).astype(np.uint64)
    value = _unit(_mix(knots * _GOLDEN + keys[:, None])) * 2.0 - 1.0
    return value[0] + (value[1] - value[0]) * _smoother(x - k)


@functools.lru_cache(maxsize=64)
def _keys(*parts: int, count: int) -> np.ndarray:
    """`count` stream keys (..., 0) to (..., count - 1), as an array for `_value_noise`."""
    return np.array([_key(*parts, k) for k in range(count)], dtype=np.uint64)


def _cell_value_noise(key: np.uint64, t: np.ndarray, period_s: float, cells: int) -> np.ndarray:
    """`_value_noise` for every cell, (n, cells), hashing each knot only once per call."""
    x = t / period_s
    k = np.floor(x)
    knot = k.astype(np.int64)
    knots = np.unique(np.concatenate([knot, knot + 1]))
    values = _unit(_hash(key, (knots[:, None] * 65536 + np.arange(cells)).ravel()))
    values = values.reshape(knots.size, cells) * 2.0 - 1.0
    v0 = values[np.searchsorted(knots, knot)]
    v1 = values[np.searchsorted(knots, knot + 1)]
    return v0 + (v1 - v0) * _smoother(x - k)[:, None]


def _sample_index(t: np.ndarray) -> np.ndarray:
    """The noise counter for a time: whole milliseconds, as the devices stamp their samples."""
    return np.rint(t * 1000.0).astype(np.int64)


# Stream numbers for `_key(seed, stream, ...)`; never reuse one for something else.
(_S_ANATOMY, _S_SEGMENT, _S_MAT_CELLS, _S_MAT_NOISE, _S_DRIFT, _S_NOISY_GATE,
 _S_NOISY_NOISE) = range(7)
_S_MOTION, _S_SHARED_MOTION, _S_IMU_NOISE, _S_GYRO_DRIFT = range(7, 11)
_S_VARIETY, _S_VARIETY_SEGMENT = range(11, 13)


# Knot spacing of the movement noise: per leg slow drift, sway, fidget (pitch, roll, yaw);
# shared by both legs and the mat: fidget envelope, lateral transfer, walking envelope, then
# the mat's fore-aft transfer, x and y translation, slow lateral and fore-aft drift.
_LEG_PERIODS_S = np.array([40.0, 40.0, 40.0, 2.5, 2.5, 2.5, 0.8, 0.8, 0.8])
_SHARED_PERIODS_S = np.array([7.0, 0.8, 5.0, 0.8, 0.8, 0.8, 40.0, 40.0])


_Triple = tuple[float, float, float]


# --- the person -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Anatomy:
    """What differs from one simulated person to the next (drawn from the seed)."""

    it_separation_mm: float  # between the ischial tuberosities
    pelvis_offset_mm: float  # lateral, + toward the occupant's right
    it_from_back_mm: float  # ischial tuberosities from the back edge of the mat
    pelvis_yaw_deg: float
    thigh_contact_mm: float  # from the tuberosities forward to where the thigh leaves the seat
    knee_half_spread_mm: float  # each knee from the midline
    tissue_scale: float  # soft-tissue contact size, on top of the weight's effect
    it_sigma_scale: float
    it_share_scale: float
    load_asymmetry: float  # + loads the left side
    seated_pitch_deg: float  # thigh pitch when seated upright (chair height vs lower leg)
    outward_roll_deg: float
    standing_pitch_deg: float
    sensor_from_hip_m: float
    hip_half_width_m: float
    stride_hz: float
    swing_deg: float
    breath_period_s: float
    # Per unit (left, right), per axis: the unit's mounting error (roll, pitch, yaw) and biases.
    mount_deg: tuple[_Triple, _Triple]
    accel_bias_mg: tuple[_Triple, _Triple]
    gyro_bias_dps: tuple[_Triple, _Triple]


def _anatomy(seed: int, weight_kg: float) -> Anatomy:
    u = _unit(_hash(_key(seed, _S_ANATOMY), np.arange(40)))

    def between(i: int, low: float, high: float) -> float:
        return float(low + (high - low) * u[i])

    def triple(i: int, half_range: float) -> _Triple:
        return (between(i, -half_range, half_range), between(i + 1, -half_range, half_range),
                between(i + 2, -half_range, half_range))

    return Anatomy(
        it_separation_mm=between(0, 105.0, 140.0) * (weight_kg / 75.0) ** 0.05,
        pelvis_offset_mm=between(1, -18.0, 18.0),
        it_from_back_mm=between(2, 95.0, 125.0),
        pelvis_yaw_deg=between(3, -3.0, 3.0),
        thigh_contact_mm=between(4, 310.0, 400.0),
        knee_half_spread_mm=between(5, 95.0, 130.0),
        tissue_scale=between(6, 0.92, 1.08),
        it_sigma_scale=between(7, 0.92, 1.08),
        it_share_scale=between(8, 0.92, 1.08),
        load_asymmetry=between(9, -0.03, 0.03),
        seated_pitch_deg=between(10, -4.0, 6.0),
        outward_roll_deg=between(11, 0.0, 5.0),
        standing_pitch_deg=between(12, -3.0, 2.0),
        sensor_from_hip_m=between(13, 0.27, 0.35),
        hip_half_width_m=between(14, 0.08, 0.10),
        stride_hz=between(15, 0.85, 1.0),
        swing_deg=between(16, 15.0, 20.0),
        breath_period_s=between(17, 3.5, 5.0),
        mount_deg=(triple(18, 4.0), triple(21, 4.0)),
        accel_bias_mg=(triple(24, 25.0), triple(27, 25.0)),
        gyro_bias_dps=(triple(30, 1.5), triple(33, 1.5)),
    )


# --- the seat ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _SeatShape:
    """Contact sizes (mm) at 75 kg: a cushion spreads the load, a hard seat concentrates it."""

    it_sigma: float
    buttock_axes: tuple[float, float]
    thigh_half_width: tuple[float, float]  # proximal, distal
    sacrum_sigma: float
    foot_sigma: tuple[float, float]
    it_share: float  # multiplies the ischial load fractions below


_SEAT_SHAPES = {
    "hard": _SeatShape(it_sigma=20.0, buttock_axes=(40.0, 48.0), thigh_half_width=(36.0, 26.0),
                       sacrum_sigma=15.0, foot_sigma=(13.0, 20.0), it_share=1.0),
    "cushioned": _SeatShape(it_sigma=33.0, buttock_axes=(70.0, 80.0),
                            thigh_half_width=(66.0, 52.0), sacrum_sigma=28.0,
                            foot_sigma=(26.0, 36.0), it_share=0.9),
}

# Map components, in this order everywhere: ischial tuberosity L/R, buttock L/R, thigh L/R
# (the shank in foot_under), sacrum/coccyx, tucked foot; then the x and y gradient maps.
_N_COMPONENTS = 8
_N_MAPS = 10
_LEFT_COMPONENTS = [0, 2, 4]
_RIGHT_COMPONENTS = [1, 3, 5]
_PELVIS_COMPONENTS = [0, 1, 2, 3, 6]
_THIGH_COMPONENTS = [4, 5]
_MIRROR = [1, 0, 3, 2, 5, 4, 6, 7]

# Share of the seat force per component; a posture with a side is given for the left side.
_LOAD_UPRIGHT = np.array([0.13, 0.13, 0.185, 0.185, 0.185, 0.185, 0.0, 0.0])
_LOAD_LEANING_LEFT = np.array([0.175, 0.085, 0.25, 0.12, 0.225, 0.145, 0.0, 0.0])
_LOAD_SLOUCHED = np.array([0.075, 0.075, 0.19, 0.19, 0.13, 0.13, 0.21, 0.0])
_LOAD_CROSSED_LEFT = np.array([0.09, 0.17, 0.13, 0.25, 0.05, 0.31, 0.0, 0.0])
_LOAD_FOOT_LEFT = np.array([0.03, 0.12, 0.10, 0.22, 0.09, 0.17, 0.0, 0.27])

# Share of body weight on the seat (the rest on the feet, backrest and armrests).
_SEAT_FRACTION = {_UPRIGHT: 0.75, _LEAN_L: 0.74, _LEAN_R: 0.74, _SLOUCHED: 0.70, _CROSS_L: 0.80,
                  _CROSS_R: 0.80, _FOOT_L: 0.86, _FOOT_R: 0.86}

# During a weight shift, each component's load is multiplied by (ramped) these factors: the
# ischial region (tuberosities and buttocks together) loses >= 30%; the rest goes to the thighs,
# the feet and an armrest.
_SHIFT_LOAD = {
    "lift_left": np.array([0.10, 1.0, 0.25, 1.0, 0.95, 1.25, 0.5, 1.0]),
    "lift_right": np.array([1.0, 0.10, 1.0, 0.25, 1.25, 0.95, 0.5, 1.0]),
    "lean_forward": np.array([0.45, 0.45, 0.6, 0.6, 1.35, 1.35, 0.4, 1.0]),
}
# ... and each thigh turns by (pitch, roll) degrees: lifting a buttock raises that hip and
# tilts the pelvis toward the other side.
_SHIFT_TURN_DEG = {
    "lift_left": ((-3.0, 5.0), (0.0, 5.0)),
    "lift_right": ((0.0, -5.0), (-3.0, -5.0)),
    "lean_forward": ((1.5, 0.0), (1.5, 0.0)),
}
_SHIFT_KIND_INDEX = {kind: i for i, kind in enumerate(SHIFT_KINDS)}


def _rotated(point: tuple[float, float], centre: tuple[float, float],
             angle: float) -> tuple[float, float]:
    c, s = math.cos(angle), math.sin(angle)
    dx, dy = point[0] - centre[0], point[1] - centre[1]
    return (centre[0] + c * dx - s * dy, centre[1] + s * dx + c * dy)


def _shape(kind: str, params: tuple[float, ...], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A unit-height contact shape on the grid: 'gauss' (bony peak), 'plateau' (soft tissue)
    or 'limb' (an elongated, tapering thigh or shank from p0 to p1)."""
    if kind in ("gauss", "plateau"):
        cx, cy, sx, sy, angle = params
        c, s = math.cos(angle), math.sin(angle)
        u = (c * (x - cx) + s * (y - cy)) / sx
        v = (-s * (x - cx) + c * (y - cy)) / sy
        q = u * u + v * v
        return np.exp(-0.5 * q) if kind == "gauss" else np.exp(-q * q * q)
    x0, y0, x1, y1, w0, w1, slope = params
    length = math.hypot(x1 - x0, y1 - y0)
    ex, ey = (x1 - x0) / length, (y1 - y0) / length
    along = (x - x0) * ex + (y - y0) * ey
    across = -(x - x0) * ey + (y - y0) * ex
    u = np.clip(along / length, 0.0, 1.0)
    width = w0 + (w1 - w0) * u
    ends = 1.0 / (1.0 + np.exp(-along / 12.0)) / (1.0 + np.exp((along - length) / 18.0))
    return np.exp(-((across / width) ** 6)) * ends * (1.0 - slope * u)


# --- the thighs -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Timeline:
    """A scenario prepared for one body: per-segment parameters as arrays."""

    starts: np.ndarray
    transitions: np.ndarray
    postures: np.ndarray
    activities: np.ndarray
    pose: np.ndarray  # (segments, 2 legs, 3): pitch, roll, yaw in degrees
    hip: np.ndarray  # (segments, 2 legs, 3): hip joint in m (x forward, y left, z up)
    slow_deg: np.ndarray  # amplitudes (deg) of the slow postural drift, the sway,
    sway_deg: np.ndarray
    fidget_deg: np.ndarray  # (segments, 3) the fidgeting (pitch, roll, yaw) and breathing
    breath_deg: np.ndarray
    walk_swing_deg: np.ndarray  # 0 when not walking
    walk_rad_s: np.ndarray
    walk_pauses: np.ndarray  # bool: pottering about (pauses) rather than walking away
    mat_fidget: np.ndarray  # 1 where fidgeting also moves the load on the mat, else 0
    shift_starts: np.ndarray
    shift_ends: np.ndarray
    shift_kinds: np.ndarray

    def segment_index(self, t: np.ndarray) -> np.ndarray:
        return np.maximum(np.searchsorted(self.starts, t, side="right") - 1, 0)

    def blend(self, segment: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mask of samples inside a transition, and the new posture's weight there (0 -> 1)."""
        since = t - self.starts[segment]
        span = self.transitions[segment]
        inside = (segment > 0) & (since < span)
        weight = _ramp(since[inside] / span[inside])
        return inside, weight

    def shift_envelope(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per sample: the kind (index into SHIFT_KINDS, -1: none) of the weight shift under
        way, and its depth 0..1."""
        if self.shift_starts.size == 0:
            return np.full(t.shape, -1), np.zeros(t.shape)
        j = np.searchsorted(self.shift_starts, t, side="right") - 1
        jj = np.maximum(j, 0)
        start, end = self.shift_starts[jj], self.shift_ends[jj]
        active = (j >= 0) & (t < end)
        depth = _ramp((t - start) / SHIFT_RAMP_S) * _ramp((end - t) / SHIFT_RAMP_S)
        return np.where(active, self.shift_kinds[jj], -1), np.where(active, depth, 0.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Body:
    """One simulated person on one seat, fitted with the mat and two thigh sensors.

    `cell_drift` and `noisy_cells` switch the mat's slow per-cell offset drift and its
    few intermittently noisy cells (on by default, as on a real mat) so that tests can
    look at the signal without them. `variety` draws the person, the seat and the fitting
    from much wider ranges (`firmware_sim.variety`), for fitting a posture model that has
    to hold on bodies it was not fitted to.
    """

    weight_kg: float
    seat: str
    seed: int
    rows: int = 16
    cols: int = 16
    pitch_mm: float = 28.0
    cell_drift: bool = True
    noisy_cells: bool = True
    variety: bool = False
    anatomy: Anatomy = field(init=False, repr=False, compare=False)
    fit: _variety.Fitting | None = field(init=False, repr=False, compare=False)
    _cell_gain: np.ndarray = field(init=False, repr=False, compare=False)
    _drift_base: np.ndarray = field(init=False, repr=False, compare=False)
    _drift_swing: np.ndarray = field(init=False, repr=False, compare=False)
    _noisy: np.ndarray = field(init=False, repr=False, compare=False)
    _maps: dict[tuple[int, int], np.ndarray | None] = field(init=False, repr=False, compare=False)
    _timelines: dict[int, tuple[Scenario, _Timeline]] = field(init=False, repr=False,
                                                               compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.weight_kg, bool) or not isinstance(self.weight_kg, (int, float)) \
                or not 45.0 <= self.weight_kg <= 130.0:
            raise ValueError(f"weight_kg must be a number in 45..130, got {self.weight_kg!r}")
        if self.seat not in SEATS:
            raise ValueError(f"seat must be one of {', '.join(SEATS)}; got {self.seat!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {self.seed!r}")
        for name in ("rows", "cols"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 4 <= value <= 64:
                raise ValueError(f"{name} must be an int in 4..64, got {value!r}")
        if isinstance(self.pitch_mm, bool) or not isinstance(self.pitch_mm, (int, float)) \
                or not 5.0 <= self.pitch_mm <= 60.0:
            raise ValueError(f"pitch_mm must be a number in 5..60, got {self.pitch_mm!r}")
        cells = self.rows * self.cols
        u = _unit(_hash(_key(self.seed, _S_MAT_CELLS), np.arange(4 * cells + 3))).reshape(-1)
        noisy = np.unique((u[4 * cells:] * cells).astype(np.int64))
        set_ = object.__setattr__
        anatomy = _anatomy(self.seed, float(self.weight_kg))
        fit = None
        if self.variety:
            fit = _variety.fitting(_unit(_hash(_key(self.seed, _S_VARIETY), np.arange(24))))
            anatomy = replace(
                anatomy, mount_deg=fit.mount_deg,
                tissue_scale=anatomy.tissue_scale * fit.tissue,
                it_sigma_scale=anatomy.it_sigma_scale * fit.it_sigma,
                it_share_scale=anatomy.it_share_scale * fit.it_share,
                load_asymmetry=anatomy.load_asymmetry + fit.asymmetry,
                thigh_contact_mm=fit.thigh_contact_mm, seated_pitch_deg=fit.seated_pitch_deg)
        set_(self, "anatomy", anatomy)
        set_(self, "fit", fit)
        set_(self, "_cell_gain", 0.97 + 0.06 * u[:cells])  # cell-to-cell sensitivity, +-3%
        set_(self, "_drift_base", 2.0 + 22.0 * u[cells:2 * cells])
        set_(self, "_drift_swing", 8.0 + 22.0 * u[2 * cells:3 * cells])
        set_(self, "_noisy", noisy)
        set_(self, "_maps", {})
        set_(self, "_timelines", {})

    # --- public API ---------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """The sitter as JSON-ready data (for a trace header's meta)."""
        out = {"weight_kg": float(self.weight_kg), "seat": self.seat, "seed": self.seed,
               "rows": self.rows, "cols": self.cols, "pitch_mm": float(self.pitch_mm)}
        if self.fit is not None:
            out["variety"] = {k: getattr(self.fit, k) for k in self.fit.__slots__}
        return out

    def pressure_kpa(self, scenario: Scenario, t_s: np.ndarray) -> np.ndarray:
        """The true seat interface pressure (n, rows, cols) in kPa, averaged over each cell."""
        timeline = self._timeline(scenario)
        kpa = _in_blocks(lambda t: self._interface_kpa(timeline, t), scenario_times(t_s), 4096)
        return kpa.reshape(-1, self.rows, self.cols)

    def pressure_counts(self, scenario: Scenario, t_s: np.ndarray) -> np.ndarray:
        """What the mat reports at each time: (n, rows, cols) uint16 ADC counts, 0..4095."""
        timeline = self._timeline(scenario)
        return _in_blocks(lambda t: self._counts(timeline, t), scenario_times(t_s), 4096)

    def _counts(self, timeline: _Timeline, t: np.ndarray) -> np.ndarray:
        cells = self.rows * self.cols
        kpa = self._interface_kpa(timeline, t) * self._cell_gain
        counts = kpa_to_counts(kpa)
        ms = _sample_index(t)
        index = ms[:, None] * 65536 + np.arange(cells)
        noise = _normal(_hash(_key(self.seed, _S_MAT_NOISE), index.ravel())).reshape(t.size, cells)
        counts += noise * (2.5 + 0.01 * counts)
        if self.cell_drift:
            counts += self.drift_counts(t).reshape(t.size, cells)
        if self.noisy_cells and self._noisy.size:
            gate = _cell_value_noise(_key(self.seed, _S_NOISY_GATE), t, 180.0, self._noisy.size)
            gate = _ramp((gate - 0.35) * 4.0)
            extra = _normal(_hash(_key(self.seed, _S_NOISY_NOISE),
                                  (ms[:, None] * 65536 + self._noisy).ravel()))
            counts[:, self._noisy] += 45.0 * gate * extra.reshape(t.size, self._noisy.size)
        counts = np.clip(np.rint(counts), 0, ADC_MAX_COUNTS).astype(np.uint16)
        return counts.reshape(t.size, self.rows, self.cols)

    def drift_counts(self, t_s: np.ndarray) -> np.ndarray:
        """The slow per-cell offset (n, rows, cols) in counts that the mat adds at these times."""
        t = scenario_times(t_s)
        wander = _cell_value_noise(_key(self.seed, _S_DRIFT), t, 1200.0, self.rows * self.cols)
        drift = self._drift_base + self._drift_swing * (0.5 + 0.5 * wander)
        return drift.reshape(t.size, self.rows, self.cols)

    def imu_samples(self, scenario: Scenario, placement: int, t_s: np.ndarray) -> np.ndarray:
        """One thigh sensor's samples (n, 6) int16: ax, ay, az (milli-g), gx, gy, gz (0.1 deg/s).

        `placement` is 1 for the left thigh, 2 for the right (spec/hardware.md, section 2).
        """
        if placement not in (1, 2):
            raise ValueError(f"placement is 1 (left thigh) or 2 (right thigh), got {placement!r}")
        timeline = self._timeline(scenario)
        return _in_blocks(lambda t: self._imu(timeline, placement, t), scenario_times(t_s), 32768)

    def _imu(self, timeline: _Timeline, placement: int, t: np.ndarray) -> np.ndarray:
        leg = placement - 1
        n = t.size
        # Three poses per sample: at t - h, t, t + h; central differences give the angular
        # rate (from the rotations) and the linear acceleration (from the sensor's position).
        times = np.concatenate([t - _H_S, t, t + _H_S])
        rot, position = self._thigh_pose(timeline, leg, times)
        before, now, after = (slice(0, n), slice(n, 2 * n), slice(2 * n, 3 * n))
        accel_world = [(position[k][after] - 2.0 * position[k][now] + position[k][before])
                       / (_H_S * _H_S) for k in range(3)]
        accel_world[2] = accel_world[2] + GRAVITY_M_S2
        # Specific force in the thigh frame: R^T f.
        force = [sum(rot[k][i][now] * accel_world[k] for k in range(3)) for i in range(3)]

        def rel(i: int, j: int) -> np.ndarray:  # (R(t - h)^T R(t + h))_ij
            return sum(rot[k][i][before] * rot[k][j][after] for k in range(3))

        rate = [(rel(2, 1) - rel(1, 2)) / (4.0 * _H_S), (rel(0, 2) - rel(2, 0)) / (4.0 * _H_S),
                (rel(1, 0) - rel(0, 1)) / (4.0 * _H_S)]
        mount = _rotation_matrix(*(math.radians(a) for a in self.anatomy.mount_deg[leg]))
        # The unit sits a few degrees off the thigh's axes: it reports R_mount^T v.
        force = [sum(mount[k, i] * force[k] for k in range(3)) for i in range(3)]
        rate = [sum(mount[k, i] * rate[k] for k in range(3)) for i in range(3)]

        ms = _sample_index(t)
        noise = _normal(_hash(_key(self.seed, _S_IMU_NOISE, placement),
                              (ms[:, None] * 8 + np.arange(6)).ravel())).reshape(n, 6)
        out = np.empty((n, 6))
        gyro_drift = _value_noise(_keys(self.seed, _S_GYRO_DRIFT, placement, count=3), t,
                                  np.full(3, 600.0))
        for i in range(3):
            out[:, i] = (force[i] * (1000.0 / GRAVITY_M_S2) + self.anatomy.accel_bias_mg[leg][i]
                         + 4.0 * noise[:, i])
            drift = 0.4 * gyro_drift[i]
            out[:, 3 + i] = ((np.degrees(rate[i]) + self.anatomy.gyro_bias_dps[leg][i] + drift)
                             * 10.0 + 1.5 * noise[:, 3 + i])
        return np.clip(np.rint(out), -32768, 32767).astype(np.int16)

    # --- the scenario, prepared for this body ---------------------------------------------

    def _timeline(self, scenario: Scenario) -> _Timeline:
        if not isinstance(scenario, Scenario):
            raise TypeError(f"expected a Scenario, got {type(scenario).__name__}")
        cached = self._timelines.get(id(scenario))
        if cached is not None and cached[0] is scenario:
            return cached[1]
        timeline = self._prepare(scenario)
        if len(self._timelines) >= 8:
            self._timelines.clear()
        self._timelines[id(scenario)] = (scenario, timeline)
        return timeline

    def _segment_uniforms(self, segments: np.ndarray) -> np.ndarray:
        """Per-segment variation (how this person sits down this time), (n, 16) in [0, 1)."""
        segments = np.asarray(segments, dtype=np.int64)
        index = (segments[:, None] * 16 + np.arange(16)).ravel()
        u = _unit(_hash(_key(self.seed, _S_SEGMENT), index)).reshape(-1, 16)
        if not self.variety:
            return u
        draws = _variety.SEGMENT_DRAWS
        index = (segments[:, None] * draws + np.arange(draws)).ravel()
        v = _unit(_hash(_key(self.seed, _S_VARIETY_SEGMENT), index)).reshape(-1, draws)
        return np.concatenate([u, v], axis=1)

    def _prepare(self, scenario: Scenario) -> _Timeline:
        a = self.anatomy
        n = len(scenario.segments)
        postures = np.array([POSTURES.index(s.posture) for s in scenario.segments])
        activities = np.array([ACTIVITIES.index(s.activity) for s in scenario.segments])
        u = self._segment_uniforms(np.arange(n))
        pose = np.zeros((n, 2, 3))
        hip = np.zeros((n, 2, 3))
        slow = np.full(n, 0.8)
        sway = np.full(n, 0.15)
        fidget = np.zeros((n, 3))
        breath = np.full(n, 0.1)
        swing = np.zeros(n)
        omega = np.zeros(n)
        pauses = np.zeros(n, dtype=bool)
        mat_fidget = np.zeros(n)
        for i, (posture, activity) in enumerate(zip(postures, activities)):
            for leg in (0, 1):
                pose[i, leg], hip[i, leg] = self._nominal_pose(posture, activity, leg, u[i])
            if activity == _FIDGET:
                fidget[i] = (4.0, 3.0, 5.0) if posture == _STANDING else (3.0, 4.0, 4.0)
                mat_fidget[i] = 1.0
            if posture == _STANDING or activity == _WALKING:
                slow[i], sway[i], breath[i] = 0.5, 1.0, 0.05
            if activity == _WALKING:
                if posture == _STANDING:  # pottering about the desk: short slow steps, pauses
                    swing[i] = 8.0 + 4.0 * u[i, 12]
                    omega[i] = 2 * math.pi * (0.6 + 0.2 * u[i, 13])
                    pauses[i] = True
                else:  # walking away: a steady stride
                    swing[i] = a.swing_deg
                    omega[i] = 2 * math.pi * (a.stride_hz + 0.1 * (u[i, 13] - 0.5))
        shifts = scenario.shift_table()
        return _Timeline(
            starts=scenario.segment_bounds_s()[:-1],
            transitions=np.array([s.transition_s for s in scenario.segments]),
            postures=postures, activities=activities, pose=pose, hip=hip,
            slow_deg=slow, sway_deg=sway, fidget_deg=fidget, breath_deg=breath,
            walk_swing_deg=swing, walk_rad_s=omega, walk_pauses=pauses, mat_fidget=mat_fidget,
            shift_starts=np.array([s["start_s"] for s in shifts]),
            shift_ends=np.array([s["end_s"] for s in shifts]),
            shift_kinds=np.array([_SHIFT_KIND_INDEX[s["kind"]] for s in shifts], dtype=np.int64),
        )

    def _nominal_pose(self, posture: int, activity: int, leg: int,
                      u: np.ndarray) -> tuple[_Triple, _Triple]:
        """A thigh's (pitch, roll, yaw) in degrees and its hip position for a segment.

        Pitch + raises the knee; roll + tilts the top of the thigh toward the occupant's
        right; yaw + turns the knee toward the occupant's left. `out` is +1 for the left
        leg, -1 for the right: "outward" for either leg is `out` times a left-turn.
        """
        a = self.anatomy
        out = 1.0 if leg == 0 else -1.0
        jitter_pitch = 4.0 * (u[5 + leg] - 0.5)
        jitter_roll = 4.0 * (u[7 + leg] - 0.5)
        jitter_yaw = 6.0 * (u[9 + leg] - 0.5)
        strength = u[4]
        seated_hip = (0.0, out * a.hip_half_width_m, 0.48)
        pitch = a.seated_pitch_deg + jitter_pitch
        roll = -out * a.outward_roll_deg + jitter_roll
        yaw = out * 6.0 + jitter_yaw
        hip = seated_hip
        if posture == _STANDING or activity == _WALKING:
            mean = -84.0 if activity == _WALKING else -88.0 + a.standing_pitch_deg
            return ((mean + jitter_pitch / 2, -out + jitter_roll / 2, out * 3.0 + jitter_yaw / 2),
                    (0.12, out * a.hip_half_width_m, 0.90))
        if posture == _EMPTY:  # away, sitting on another chair
            return (pitch + 3.0, roll, yaw), seated_hip
        if posture in (_LEAN_L, _LEAN_R):
            toward = 1.0 if posture == _LEAN_L else -1.0  # toward the occupant's left
            roll -= toward * (3.0 + 3.0 * strength)
            if (toward > 0) != (leg == 0):  # the unloaded side's thigh rises a little
                pitch += 1.5
        elif posture == _SLOUCHED:
            pitch -= 8.0 + 6.0 * strength
            if self.variety:
                pitch += _variety.slouch_knee_deg(u[16:])
            roll -= out * 3.0
            yaw = out * 10.0 + jitter_yaw
            hip = (0.06, out * a.hip_half_width_m, 0.46)
        elif posture in (_CROSS_L, _CROSS_R):
            top = 0 if posture == _CROSS_L else 1
            if self.variety and _variety.figure_four(u[16:]) and leg == top:
                # The ankle on the other knee: the thigh near level, rolled and turned out.
                pitch = 6.0 + 10.0 * strength + jitter_pitch
                roll = -out * (30.0 + 20.0 * u[11]) + jitter_roll
                yaw = out * (20.0 + 15.0 * u[12]) + jitter_yaw
            elif leg == top:  # lifted over the other knee, rolled and turned toward it
                pitch = 22.0 + 10.0 * strength + jitter_pitch
                roll = out * (15.0 + 10.0 * u[11]) + jitter_roll
                yaw = -out * (12.0 + 8.0 * u[12]) + jitter_yaw
            else:  # carries the other leg
                pitch += 1.0
                roll += out * 2.0
                yaw = out * 2.0 + jitter_yaw
        elif posture in (_FOOT_L, _FOOT_R):
            side = 0 if posture == _FOOT_L else 1
            if leg == side:  # the hip rides on the foot, the knee rests low and out
                pitch = -(10.0 + 6.0 * strength) + jitter_pitch
                roll = -out * (25.0 + 15.0 * u[11]) + jitter_roll
                yaw = out * (15.0 + 10.0 * u[12]) + jitter_yaw
                hip = (0.0, out * a.hip_half_width_m, 0.54)
            else:
                roll += out * 3.0
        return (pitch, roll, yaw), hip

    # --- thigh motion -------------------------------------------------------------------

    def _thigh_pose(self, timeline: _Timeline, leg: int,
                    t: np.ndarray) -> tuple[list[list[np.ndarray]], list[np.ndarray]]:
        """Rotation (thigh frame -> world, as nested rows) and sensor position at each time."""
        motion = self._motion_channels(leg, t)
        segment = timeline.segment_index(t)
        angles, hip = self._segment_pose(timeline, leg, segment, t, motion)
        inside, weight = timeline.blend(segment, t)
        if inside.any():
            sub_motion = motion[:, inside]
            prev_angles, prev_hip = self._segment_pose(timeline, leg, segment[inside] - 1,
                                                       t[inside], sub_motion)
            for values, previous in ((angles, prev_angles), (hip, prev_hip)):
                for k in range(3):
                    values[k][inside] = previous[k] + (values[k][inside] - previous[k]) * weight
        kind, depth = timeline.shift_envelope(t)
        if np.any(depth > 0):
            for kind_name, k in _SHIFT_KIND_INDEX.items():
                dpitch, droll = _SHIFT_TURN_DEG[kind_name][leg]
                d = np.where(kind == k, depth, 0.0)
                angles[0] = angles[0] + dpitch * d
                angles[1] = angles[1] + droll * d
        rot = _rotation_rows(np.radians(angles[1]), -np.radians(angles[0]), np.radians(angles[2]))
        r = self.anatomy.sensor_from_hip_m
        if self.fit is not None:
            r += self.fit.along_thigh_m[leg]
        position = [hip[k] + r * rot[k][0] for k in range(3)]
        return rot, position

    def _motion_channels(self, leg: int, t: np.ndarray) -> np.ndarray:
        """Smooth random movement signals, functions of time only, (13, n).

        0-2 slow postural drift, 3-5 sway, 6-8 fidget (pitch, roll, yaw) of this leg; shared
        with the other leg and the mat: 9 fidget envelope, 10 lateral weight transfer,
        11 walking-pause envelope, 12 breathing.
        """
        keys = np.concatenate([_keys(self.seed, _S_MOTION, leg, count=9),
                               _keys(self.seed, _S_SHARED_MOTION, count=3)])
        raw = _value_noise(keys, t, np.concatenate([_LEG_PERIODS_S, _SHARED_PERIODS_S[:3]]))
        return np.concatenate([raw[:9], self._shared_channels(raw[9:], t)])

    def _shared_channels(self, raw: np.ndarray, t: np.ndarray) -> np.ndarray:
        """The first shared noise channels made into: fidget envelope (0..1), lateral weight
        transfer, walking envelope (0..1), breathing; then any further channels as they are."""
        envelope = _ramp(1.5 * raw[0] + 0.3)
        walking = _ramp(1.6 * raw[2] + 0.7)
        breathing = np.sin(2.0 * np.pi * t / self.anatomy.breath_period_s)
        return np.concatenate([np.stack([envelope, raw[1], walking, breathing]), raw[3:]])

    def _segment_pose(self, timeline: _Timeline, leg: int, segment: np.ndarray, t: np.ndarray,
                      motion: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Angles (degrees) and hip position of one leg, as segment `segment[i]` holds them."""
        out = 1.0 if leg == 0 else -1.0
        pose = timeline.pose[segment, leg]
        slow = timeline.slow_deg[segment]
        sway = timeline.sway_deg[segment]
        fidget = timeline.fidget_deg[segment] * motion[9][:, None]
        breath = timeline.breath_deg[segment] * motion[12]
        angles = [pose[:, k] + slow * motion[k] + sway * motion[3 + k]
                  + fidget[:, k] * motion[6 + k] for k in range(3)]
        angles[0] = angles[0] + breath
        # Fidgeting rolls both thighs together with the weight moving sideways.
        angles[1] = angles[1] + fidget[:, 1] * motion[10]
        hip = [timeline.hip[segment, leg, k].copy() for k in range(3)]
        swing = timeline.walk_swing_deg[segment]
        walking = swing > 0
        if walking.any():
            w = np.flatnonzero(walking)
            omega = timeline.walk_rad_s[segment[w]]
            gate = np.where(timeline.walk_pauses[segment[w]], motion[11][w], 1.0)
            phase = omega * t[w] + (0.0 if leg == 0 else math.pi)
            stride = omega * t[w]
            angles[0][w] += gate * swing[w] * (np.sin(phase) + 0.15 * np.sin(2.0 * phase + 0.8))
            angles[1][w] += gate * out * 2.5 * np.sin(phase + 0.5)
            angles[2][w] += gate * out * 4.0 * np.sin(phase + 1.2)
            hip[0][w] += gate * 0.012 * np.sin(2.0 * stride)
            hip[1][w] += gate * 0.02 * np.sin(stride)
            hip[2][w] -= gate * 0.02 * np.cos(2.0 * stride)
        return angles, hip

    # --- seat pressure ------------------------------------------------------------------

    def _interface_kpa(self, timeline: _Timeline, t: np.ndarray) -> np.ndarray:
        """Seat pressure (n, rows * cols) in kPa, before the sensor."""
        segment = timeline.segment_index(t)
        raw = _value_noise(_keys(self.seed, _S_SHARED_MOTION, count=8), t, _SHARED_PERIODS_S)
        shared = self._shared_channels(raw, t)
        kind, depth = timeline.shift_envelope(t)
        shift_load = np.ones((t.size, _N_COMPONENTS))
        for kind_name, k in _SHIFT_KIND_INDEX.items():
            d = np.where(kind == k, depth, 0.0)[:, None]
            shift_load += d * (_SHIFT_LOAD[kind_name] - 1.0)
        pressure = self._segment_kpa(timeline, segment, t, shared, shift_load)
        inside, weight = timeline.blend(segment, t)
        if inside.any():
            previous = self._segment_kpa(timeline, segment[inside] - 1, t[inside],
                                         shared[:, inside], shift_load[inside])
            pressure[inside] = previous + (pressure[inside] - previous) * weight[:, None]
        return np.maximum(pressure, 0.0)

    def _segment_kpa(self, timeline: _Timeline, segment: np.ndarray, t: np.ndarray,
                     shared: np.ndarray, shift_load: np.ndarray) -> np.ndarray:
        envelope, lateral, breathing = shared[0], shared[1], shared[3]
        fore_aft, shift_x, shift_y, slow_lateral, slow_fore_aft = shared[4:9]
        fidget = timeline.mat_fidget[segment] * envelope
        # A roll of the thighs to the right (+) moves weight to the right.
        side = -0.06 * fidget * lateral + 0.02 * slow_lateral
        front = 0.05 * fidget * fore_aft + 0.02 * slow_fore_aft
        weights = np.empty((t.size, _N_MAPS))
        weights[:, :_N_COMPONENTS] = shift_load * (1.0 + 0.008 * breathing)[:, None]
        weights[:, _LEFT_COMPONENTS] *= (1.0 + side)[:, None]
        weights[:, _RIGHT_COMPONENTS] *= (1.0 - side)[:, None]
        weights[:, _PELVIS_COMPONENTS] *= (1.0 + front)[:, None]
        weights[:, _THIGH_COMPONENTS] *= (1.0 - 1.5 * front)[:, None]
        weights[:, 8] = -6.0 * fidget * shift_x  # translation (mm) through the gradient maps
        weights[:, 9] = -5.0 * fidget * shift_y
        pressure = np.zeros((t.size, self.rows * self.cols))
        for s in np.unique(segment):
            maps = self._segment_maps(timeline, int(s))
            if maps is None:
                continue
            rows = np.flatnonzero(segment == s)
            w = weights[rows]
            total = w[:, 0, None] * maps[0]
            for k in range(1, _N_MAPS):  # an explicit sum: the same order whatever the chunk
                total += w[:, k, None] * maps[k]
            pressure[rows] = total
        return pressure

    def _segment_maps(self, timeline: _Timeline, segment: int) -> np.ndarray | None:
        """The segment's component maps (10, rows * cols) in kPa; None for an empty seat."""
        posture = int(timeline.postures[segment])
        key = (posture, segment)
        if key not in self._maps:
            variation = self._segment_uniforms(np.array([segment]))[0]
            self._maps[key] = self._render_maps(posture, variation)
        return self._maps[key]

    def _render_maps(self, posture: int, u: np.ndarray) -> np.ndarray | None:
        if posture in (_EMPTY, _STANDING):
            return None
        components, load_n = self._layout(posture, u)
        step = self.pitch_mm / _SUB
        x = (np.arange(self.cols * _SUB) + 0.5) * step
        y = (np.arange(self.rows * _SUB) + 0.5) * step
        grid_x, grid_y = np.meshgrid(x, y)
        area_m2 = (step / 1000.0) ** 2

        def render(gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
            return np.stack([_shape(kind, params, gx, gy) if kind else np.zeros_like(gx)
                             for kind, params in components])

        shapes = render(grid_x, grid_y)
        integral = shapes.sum(axis=(1, 2)) * area_m2
        amplitude = np.where(integral > 1e-9, load_n / 1000.0 / np.maximum(integral, 1e-9), 0.0)
        fine = np.empty((_N_MAPS,) + grid_x.shape)
        fine[:_N_COMPONENTS] = amplitude[:, None, None] * shapes
        delta = 2.0
        for k, (dx, dy) in enumerate(((delta, 0.0), (0.0, delta))):
            plus = np.tensordot(amplitude, render(grid_x + dx, grid_y + dy), axes=1)
            minus = np.tensordot(amplitude, render(grid_x - dx, grid_y - dy), axes=1)
            fine[_N_COMPONENTS + k] = (plus - minus) / (2.0 * delta)
        cells = fine.reshape(_N_MAPS, self.rows, _SUB, self.cols, _SUB).mean(axis=(2, 4))
        return cells.reshape(_N_MAPS, self.rows * self.cols)

    def _layout(self, posture: int, u: np.ndarray) -> tuple[list[tuple[str, tuple[float, ...]]],
                                                            np.ndarray]:
        """Contact shapes (mat mm: x from the occupant's left edge, y from the front edge) and
        the load on each (N) for one posture, as this person sits this time."""
        a = self.anatomy
        seat = _SEAT_SHAPES[self.seat]
        scale = float(self.weight_kg) / 75.0
        tissue = scale**0.5 * a.tissue_scale
        it_sigma = seat.it_sigma * scale**0.25 * a.it_sigma_scale
        width, depth = self.cols * self.pitch_mm, self.rows * self.pitch_mm
        mid = width / 2 + a.pelvis_offset_mm + 20.0 * (u[0] - 0.5)
        y_it = depth - a.it_from_back_mm - 24.0 * (u[1] - 0.5)
        yaw = math.radians(a.pelvis_yaw_deg + 5.0 * (u[2] - 0.5))
        asymmetry = a.load_asymmetry + 0.04 * (u[3] - 0.5)
        strength = u[4]
        half = a.it_separation_mm / 2
        thigh_len, knee = a.thigh_contact_mm, a.knee_half_spread_mm
        thigh_w0, thigh_w1 = (w * tissue for w in seat.thigh_half_width)
        # Per thigh (left, right): load falling off toward the knee, the share of its length
        # in contact, width factor, turn toward the midline (rad), knee moved inward (mm).
        slope, reach, narrow = [0.35, 0.35], [1.0, 1.0], [1.0, 1.0]
        turn, knee_in = [0.0, 0.0], [0.0, 0.0]

        mirrored = posture in (_LEAN_R, _CROSS_R, _FOOT_R)
        side = 1 if mirrored else 0  # the leg the posture is about: 0 left, 1 right
        if posture == _UPRIGHT:
            load = _LOAD_UPRIGHT.copy()
        elif posture in (_LEAN_L, _LEAN_R):
            lean = _variety.lean_factor(u[16:]) if self.variety else 0.85 + 0.45 * strength
            load = _LOAD_UPRIGHT + lean * (_LOAD_LEANING_LEFT - _LOAD_UPRIGHT)
            mid += (8.0 + 8.0 * strength) * (1 if mirrored else -1)
        elif posture == _SLOUCHED:
            load = _LOAD_SLOUCHED.copy()
            y_it -= 40.0 + 30.0 * strength  # the pelvis slides forward and rolls back
            slope = [0.5, 0.5]
            reach = [0.55 + 0.15 * u[6]] * 2  # the thighs slope down to the knees: less contact
            if self.variety:
                reach = [_variety.slouch_reach(u[16:])] * 2
                load[6] *= _variety.sacrum_scale(u[16:])
        elif posture in (_CROSS_L, _CROSS_R):
            load = _LOAD_CROSSED_LEFT.copy()
            mid += 6.0 * (-1 if mirrored else 1)  # toward the bottom leg
            yaw += math.radians(4.0) * (-1 if mirrored else 1)
            reach[side] = 0.34 + 0.06 * strength  # the top thigh leaves the seat early
            narrow[side] = 0.8
            turn[side] = math.radians(10.0)
            if self.variety and _variety.figure_four(u[16:]):
                # The top thigh, rolled out, rests its outer side on the seat further on.
                reach[side] = 0.5 + 0.25 * strength
                narrow[side] = 0.65
                turn[side] = -math.radians(8.0)
                load[4], load[5] = 0.12, 0.24  # (the left leg on top, before mirroring)
            slope[1 - side] = -0.25  # the bottom thigh carries the top leg near the knee
            knee_in[1 - side] = 12.0
        else:  # foot tucked under
            load = _LOAD_FOOT_LEFT.copy()
            if self.variety:
                load[7] *= _variety.foot_scale(u[16:])
        if mirrored:
            load = load[_MIRROR]

        # Weight, the person and the seat change how much the tuberosities take.
        it_share = scale**-0.25 * a.it_share_scale * seat.it_share
        load[[0, 1]] *= it_share
        if self.fit is not None:
            load[[4, 5]] *= _variety.thigh_scale(u[16:]) * self.fit.thigh_share
        rest = [2, 3, 4, 5, 6, 7]
        load[rest] *= (1.0 - load[[0, 1]].sum()) / load[rest].sum()
        load[_LEFT_COMPONENTS] *= 1.0 + asymmetry
        load[_RIGHT_COMPONENTS] *= 1.0 - asymmetry
        load *= _SEAT_FRACTION[posture] * float(self.weight_kg) * GRAVITY_M_S2 / load.sum()

        centre = (mid, y_it)
        components: list[tuple[str, tuple[float, ...]]] = [("", ())] * _N_COMPONENTS
        for leg in (0, 1):
            sign = -1.0 if leg == 0 else 1.0  # the occupant's left is toward column 0
            it = _rotated((mid + sign * half, y_it), centre, yaw)
            components[leg] = ("gauss", (*it, it_sigma, 1.15 * it_sigma, yaw))
            buttock = _rotated((mid + sign * (half + 14.0 * tissue), y_it + 14.0), centre, yaw)
            components[2 + leg] = ("plateau", (*buttock, seat.buttock_axes[0] * tissue,
                                               seat.buttock_axes[1] * tissue, yaw))
            p0 = _rotated((mid + sign * (half + 20.0), y_it - 40.0), centre, yaw)
            p1 = _rotated((mid + sign * (knee - knee_in[leg]), y_it - thigh_len), centre, yaw)
            p1 = _rotated(p1, p0, -sign * turn[leg])
            p1 = (p0[0] + reach[leg] * (p1[0] - p0[0]), p0[1] + reach[leg] * (p1[1] - p0[1]))
            components[4 + leg] = ("limb", (*p0, *p1, thigh_w0 * narrow[leg],
                                            thigh_w1 * narrow[leg], slope[leg]))
        if posture == _SLOUCHED:
            components[6] = ("gauss", (mid, y_it + 62.0 + 12.0 * u[5], seat.sacrum_sigma,
                                       1.6 * seat.sacrum_sigma, yaw))
        if posture in (_FOOT_L, _FOOT_R):
            sign = -1.0 if side == 0 else 1.0
            it_x = components[side][1][0]
            foot = (it_x + sign * 6.0, y_it - 62.0 - 20.0 * u[5]
                    - (_variety.foot_dy_mm(u[16:]) if self.variety else 0.0))
            spread = scale**0.35  # a heavier sitter sinks the foot deeper into tissue and seat
            components[7] = ("gauss", (*foot, seat.foot_sigma[0] * spread,
                                       seat.foot_sigma[1] * spread, sign * math.radians(15.0)))
            # The folded shank lies under the thigh, from the foot forward to the knee.
            shank_end = (mid + sign * (knee + 25.0), y_it - thigh_len + 30.0)
            components[4 + side] = ("limb", (foot[0], foot[1] - 25.0, *shank_end,
                                             36.0 * tissue**0.5, 30.0 * tissue**0.5, 0.0))
        if self.fit is not None:
            components = _variety.placed(components, self.fit, (width / 2, depth / 2))
        return components, load


def _rotation_rows(roll: np.ndarray, beta: np.ndarray, yaw: np.ndarray) -> list[list[np.ndarray]]:
    """R = Rz(yaw) Ry(beta) Rx(roll), element by element (beta = -pitch: + pitches x down)."""
    cr, sr = np.cos(roll), np.sin(roll)
    cb, sb = np.cos(beta), np.sin(beta)
    cy, sy = np.cos(yaw), np.sin(yaw)
    return [
        [cy * cb, -sy * cr + cy * sb * sr, sy * sr + cy * sb * cr],
        [sy * cb, cy * cr + sy * sb * sr, -cy * sr + sy * sb * cr],
        [-sb, cb * sr, cb * cr],
    ]


def _rotation_matrix(roll: float, pitch: float, yaw: float) -> np.ndarray:
    rows = _rotation_rows(np.array([roll]), np.array([-pitch]), np.array([yaw]))
    return np.array([[float(v[0]) for v in row] for row in rows])


def _in_blocks(generate: Callable[[np.ndarray], np.ndarray], t: np.ndarray,
               block: int) -> np.ndarray:
    """Generate long requests in blocks (bounded memory); values do not depend on the blocks."""
    if t.size <= block:
        return generate(t)
    return np.concatenate([generate(t[i:i + block]) for i in range(0, t.size, block)])


