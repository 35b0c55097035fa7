"""A second, independently written body: anthropometry and contact mechanics -> mat and thighs.

`AnthropometricBody` is a seated person built from published body dimensions
(stature, hip breadth, ischial tuberosity spacing, buttock-popliteal length,
thigh thickness, body fat) and a contact model of their buttocks and thighs
on a seat: each loaded body part is a soft-tissue indenter (a bowl over a bony
point, or a limb), pressed into the seat foam until it carries its share of
the body weight. Interface pressure comes out of the mechanics (tissue
thickness and stiffness in series with the foam), not from drawn shapes, so
heavier, fatter sitters spread their load and a hard seat concentrates it
under the bones. Postures, per sitter and per posture segment, vary as people
do: the share of a lean, how a slouch is held, which way the legs cross,
where a tucked foot ends up. The mat sits off-centre and turned on the seat,
and each thigh unit is strapped on crooked.

It has `firmware_sim.body.Body`'s interface (weight_kg, seat, seed; `describe`,
`pressure_kpa`, `pressure_counts`, `drift_counts`, `imu_samples`) so the
devices, the trace writer and the agent use it unchanged; it shares with
`body.py` only the mat's calibration table (`kpa_to_counts`, the hardware
contract), not its anatomy, shapes or numbers. It owns no bytes, clock or
timeline (`packets`, `clock`, `scenario`).

Every output is a pure function of (seed, weight, seat, scenario, the times
asked for): random numbers come from a counter-based generator (Widynski's
"squares", keyed by a BLAKE2 hash of the seed and a stream name, counted by
the sample's time in milliseconds), never from a stateful generator, and no
value depends on which other times are asked for in the same call. Keep it
that way.

Model, parameters and their sources: docs/simulator.md, "The anthropometric body".
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from firmware_sim.body import kpa_to_counts
from firmware_sim.scenario import ACTIVITIES, POSTURES, SHIFT_RAMP_S, Scenario, scenario_times

SEATS: tuple[str, ...] = ("cushioned", "hard")
SEXES: tuple[str, ...] = ("female", "male")
GRAVITY_M_S2 = 9.80665
ADC_FULL_SCALE = 4095

(_EMPTY, _UPRIGHT, _LEAN_L, _LEAN_R, _SLOUCHED, _CROSS_L, _CROSS_R, _FOOT_L, _FOOT_R,
 _STANDING) = range(len(POSTURES))
_SEATED = frozenset(range(_UPRIGHT, _STANDING))
_STILL, _FIDGET, _SHIFTS, _WALKING = (ACTIVITIES.index(a)
                                      for a in ("still", "fidget", "shifts", "walking"))

# Segment masses as fractions of body mass (Winter 2009, table 4.1, after Dempster 1955).
_THIGH_MASS = 0.100
_SHANK_MASS = 0.0465
_FOOT_MASS = 0.0145

_TISSUE_STIFFENING = 3.0
"""Soft tissue stiffens with strain: strain = ln(1 + b p / E) / b with b = 3 (so its tangent
modulus triples by ~37% strain); fitted to the 74% gluteal strain at ~32 kPa of Linder-Ganz
et al. 2007 with E ~ 12 kPa."""
_MAX_KPA = 400.0
_SUB = 5          # each mat cell is sampled at 5 x 5 points and averaged (a cell integrates)
_GRID_MM = 6.0    # spacing of the points on which a body part's sinkage is solved
_K = 7            # pressure components: pelvis L/R, thigh L/R, extra L/R (foot, shank, knee), midline
_PELVIS, _THIGH, _EXTRA, _MIDLINE = 0, 2, 4, 6
_H_S = 0.005      # half step of the central differences for the IMU's rates and accelerations


# --- counter-based randomness --------------------------------------------------------

@functools.lru_cache(maxsize=4096)
def _stream_key(*parts: object) -> int:
    """An odd 64-bit key for one named stream of random numbers."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8,
                             person=b"legwake-anthro").digest()
    return int.from_bytes(digest, "little") | 1


def _squares32(counter: np.ndarray, key: int) -> np.ndarray:
    """Widynski's "squares" generator (2020): 32 random bits for each 64-bit counter."""
    k = np.uint64(key)
    s32 = np.uint64(32)
    with np.errstate(over="ignore"):
        x = np.asarray(counter, dtype=np.uint64) * k
        y = x          # never changed in place: every step below makes a new array
        z = y + k
        x = x * x + y
        x = (x >> s32) | (x << s32)
        x = x * x + z
        x = (x >> s32) | (x << s32)
        x = x * x + y
        x = (x >> s32) | (x << s32)
        return (x * x + z) >> s32


def _uniform(counter: np.ndarray, key: int) -> np.ndarray:
    """Uniform in (0, 1)."""
    return (_squares32(counter, key).astype(np.float64) + 0.5) * 2.0**-32


def _gauss(counter: np.ndarray, key: int) -> np.ndarray:
    """Standard normal (Box-Muller on two draws of the same counter)."""
    c = np.asarray(counter, dtype=np.uint64) << np.uint64(1)
    u1 = _uniform(c, key)
    u2 = _uniform(c | np.uint64(1), key)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


@dataclass(frozen=True, slots=True)
class _Dice:
    """Named scalar draws for one thing (a sitter, a segment, a shift)."""

    scope: tuple[object, ...]

    def unit(self, name: str) -> float:
        return float(_uniform(np.array([7], dtype=np.uint64), _stream_key(*self.scope, name))[0])

    def between(self, name: str, low: float, high: float) -> float:
        return low + (high - low) * self.unit(name)

    def sign(self, name: str) -> float:
        return 1.0 if self.unit(name) < 0.5 else -1.0

    def gauss(self, name: str, limit: float = 2.5) -> float:
        value = float(_gauss(np.array([7], dtype=np.uint64), _stream_key(*self.scope, name))[0])
        return max(-limit, min(limit, value))

    def key(self, name: str) -> int:
        return _stream_key(*self.scope, name)


def _milliseconds(t: np.ndarray) -> np.ndarray:
    """Sample counters: the time in whole milliseconds (exact for the devices' ms grids)."""
    return np.rint(t * 1000.0).astype(np.int64).astype(np.uint64)


def _wander(key: int, t: np.ndarray, period_s: float) -> np.ndarray:
    """A smooth random signal of unit RMS: three sinusoids with drawn periods and phases."""
    draws = _uniform(np.arange(1, 7, dtype=np.uint64), key)
    out = np.zeros_like(t)
    for i, ratio in enumerate((1.0, 1.618, 2.414)):
        period = period_s * ratio * (0.8 + 0.4 * draws[2 * i])
        out += np.sin(2.0 * np.pi * t / period + 2.0 * np.pi * draws[2 * i + 1])
    return out * math.sqrt(2.0 / 3.0)


def _cos_ramp(u: np.ndarray) -> np.ndarray:
    """0 -> 1 with zero slope at both ends (a raised cosine), clamped outside 0..1."""
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(u, 0.0, 1.0))


def _smoothstep(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def _bursts(key: int, t: np.ndarray, slot_s: float, active: float
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Movement bursts: time in slots of `slot_s`, each active with probability `active`.

    Returns the envelope (0 outside bursts, a sin^2 bump inside), the slot numbers and a
    uniform draw per slot, so that each burst can move its own way.
    """
    slot = np.floor(t / slot_s)
    counters = slot.astype(np.int64).astype(np.uint64)
    on = _uniform(counters, key) < active
    phase = t / slot_s - slot
    envelope = np.where(on, np.sin(np.pi * phase) ** 2, 0.0)
    return envelope, counters, _uniform(counters, key ^ 0x5DEECE66D)


# --- the sitter ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Physique:
    """One sitter's body, drawn from the seed and the body weight (docs/simulator.md)."""

    sex: str
    age_years: float
    stature_mm: float
    bmi: float
    body_fat_pct: float
    hip_breadth_mm: float
    ischial_spacing_mm: float
    hip_joint_spacing_mm: float
    buttock_popliteal_mm: float
    thigh_length_mm: float
    thigh_thickness_mm: float
    tissue_under_ischia_mm: float
    tissue_buttock_mm: float
    tissue_thigh_mm: float
    tissue_modulus_kpa: float
    ischia_to_buttock_rear_mm: float
    buttock_rise_mm: float
    thigh_taper_deg: float
    seat_load_share: float
    thigh_load_share: float
    right_share: float
    perch_mm: float
    chair_thigh_pitch_deg: float
    knee_spread_deg: float
    thigh_roll_out_deg: float


def _physique(seed: int, weight_kg: float, sex: str | None) -> Physique:
    dice = _Dice(("physique", seed))
    if sex is None:
        sex = "female" if dice.unit("sex") < 0.5 else "male"
    male = sex == "male"
    age = dice.between("age", 20.0, 65.0)
    # Stature: Pheasant & Haslegrave 2006 (British adults 19-65): men 1740 +- 70 mm,
    # women 1610 +- 62 mm; heavier adults are taller on average (r ~ 0.4).
    mean_h, sd_h = (1740.0, 70.0) if male else (1610.0, 62.0)
    mean_w, sd_w = (80.0, 14.0) if male else (68.0, 14.0)
    z_weight = max(-2.5, min(2.5, (weight_kg - mean_w) / sd_w))
    z_h = 0.4 * z_weight + math.sqrt(1.0 - 0.16) * dice.gauss("stature", 2.2)
    stature = min(1990.0, max(1480.0, mean_h + sd_h * z_h))
    bmi = weight_kg / (stature / 1000.0) ** 2
    # Body fat from BMI, age and sex (Deurenberg, Weststrate & Seidell 1991).
    fat = min(55.0, max(6.0, 1.2 * bmi + 0.23 * age - 10.8 * male - 5.4))
    scale_h = stature / mean_h
    # Seated hip breadth (Pheasant & Haslegrave 2006): men 360 +- 29 mm, women 370 +- 38 mm;
    # it is mostly soft tissue, so it grows with BMI.
    hip_mean, bmi_ref = (360.0, 25.5) if male else (370.0, 24.5)
    hip = hip_mean * (bmi / bmi_ref) ** 0.45 * scale_h ** 0.4 * (1.0 + 0.035 * dice.gauss("hip"))
    # Ischial tuberosity spacing, centre to centre of the pressure peaks: men 111.8 +- 9.3 mm
    # on a hard seat (Velagapudi & Ray 2019); women ~13 mm wider (Chen 2021: 12.6-13.7 mm);
    # it grows with hip size (Chen 2021).
    it_mean = 112.0 if male else 125.0
    spacing = it_mean + 0.1 * (hip - hip_mean) + 7.5 * dice.gauss("ischia", 2.0)
    spacing = min(150.0, max(95.0, spacing))
    popliteal = ((495.0 if male else 480.0) * scale_h
                 + (20.0 if male else 19.0) * dice.gauss("bpl", 2.2))
    thigh_thickness = ((160.0 if male else 155.0) * (bmi / bmi_ref) ** 0.5
                       * (1.0 + 0.05 * dice.gauss("thigh")))
    tissue_it = 14.0 + 0.8 * fat + 3.0 * dice.gauss("tissue", 2.0)
    # Load on the seat: what the floor (lower legs, feet, part of the thighs) and the backrest
    # and armrests do not carry (segment masses: Winter 2009).
    knee_part = dice.between("knee_part", 0.35, 0.55) * 2 * _THIGH_MASS
    foot_press = dice.between("foot_press", 0.015, 0.045)
    back_part = dice.between("back_part", 0.04, 0.08)
    seat_share = 1.0 - 2 * (_SHANK_MASS + _FOOT_MASS) - knee_part - foot_press - back_part
    return Physique(
        sex=sex, age_years=age, stature_mm=stature, bmi=bmi, body_fat_pct=fat,
        hip_breadth_mm=hip, ischial_spacing_mm=spacing,
        hip_joint_spacing_mm=(172.0 if male else 182.0) * scale_h + 6.0 * dice.gauss("hjc"),
        buttock_popliteal_mm=popliteal,
        thigh_length_mm=0.245 * stature,
        thigh_thickness_mm=thigh_thickness,
        tissue_under_ischia_mm=tissue_it,
        tissue_buttock_mm=1.7 * tissue_it + 8.0,
        tissue_thigh_mm=0.42 * thigh_thickness,
        tissue_modulus_kpa=dice.between("modulus", 10.0, 18.0),
        ischia_to_buttock_rear_mm=72.0 + 1.1 * fat + 6.0 * dice.gauss("rear", 2.0),
        buttock_rise_mm=dice.between("rise", 28.0, 42.0),
        thigh_taper_deg=dice.between("taper", 2.0, 5.0),
        seat_load_share=seat_share,
        thigh_load_share=dice.between("thigh_share", 0.22, 0.34),
        right_share=0.5 + dice.between("asymmetry", -0.03, 0.03),
        perch_mm=dice.between("perch", 5.0, 50.0),
        chair_thigh_pitch_deg=dice.between("chair_pitch", -5.0, 6.0),
        knee_spread_deg=dice.between("spread", 3.0, 13.0),
        thigh_roll_out_deg=dice.between("roll_out", 0.0, 8.0),
    )


@dataclass(frozen=True, slots=True)
class SeatSurface:
    """The chair: its seat foam (or hard shell) and where the mat lies on it."""

    kind: str
    foam_mm: float
    foam_modulus_kpa: float
    foam_lock_strain: float
    back_gap_mm: float
    front_gap_mm: float
    edge_drop_mm: float
    half_width_mm: float
    tilt_deg: float


def _seat_surface(seed: int, seat: str) -> SeatSurface:
    dice = _Dice(("chair", seed, seat))
    if seat == "hard":
        # A moulded shell under a thin cover: effectively rigid.
        foam, modulus, lock = dice.between("foam", 3.0, 6.0), dice.between("modulus", 300.0,
                                                                            600.0), 0.6
    else:
        # Office-chair polyurethane foam: 25% indentation force deflection of 100-250 N on the
        # 323 cm^2 indenter of ISO 2439 (3-8 kPa at 25%, a secant modulus of 12-31 kPa);
        # flexible PU foam densifies (locks) at 70-80% strain (Gibson & Ashby 1997).
        foam = dice.between("foam", 35.0, 70.0)
        modulus = dice.between("modulus", 12.0, 30.0)
        lock = dice.between("lock", 0.70, 0.80)
    return SeatSurface(kind=seat, foam_mm=foam, foam_modulus_kpa=modulus, foam_lock_strain=lock,
                       back_gap_mm=dice.between("back_gap", 0.0, 25.0),
                       front_gap_mm=dice.between("front_gap", 0.0, 15.0),
                       edge_drop_mm=dice.between("edge_drop", 8.0, 16.0),
                       half_width_mm=dice.between("width", 240.0, 270.0),
                       tilt_deg=dice.between("tilt", 0.0, 4.0))


@dataclass(frozen=True, slots=True)
class ImuMount:
    """How one thigh unit is strapped on, and its sensor errors."""

    roll_deg: float
    pitch_deg: float
    yaw_deg: float
    along_thigh_error_mm: float
    accel_bias_mg: tuple[float, float, float]
    accel_scale: tuple[float, float, float]
    gyro_bias_dps: tuple[float, float, float]

    def rotation(self) -> np.ndarray:
        """Sensor axes in the thigh's axes (columns): a thigh-frame vector v reads R.T @ v."""
        return _rotation(math.radians(self.roll_deg), math.radians(self.pitch_deg),
                         math.radians(self.yaw_deg))


def _imu_mount(seed: int, placement: int) -> ImuMount:
    dice = _Dice(("imu", seed, placement))
    return ImuMount(
        roll_deg=dice.between("roll", -15.0, 15.0), pitch_deg=dice.between("pitch", -15.0, 15.0),
        yaw_deg=dice.between("yaw", -15.0, 15.0),
        along_thigh_error_mm=dice.between("along", -30.0, 30.0),
        accel_bias_mg=tuple(dice.between(f"abias{i}", -20.0, 20.0) for i in range(3)),
        accel_scale=tuple(1.0 + dice.between(f"ascale{i}", -0.015, 0.015) for i in range(3)),
        gyro_bias_dps=tuple(dice.between(f"gbias{i}", -1.2, 1.2) for i in range(3)),
    )  # type: ignore[arg-type]


def _rotation(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """Rz(yaw) @ Ry(pitch) @ Rx(roll) as a 3 x 3 matrix (radians)."""
    cr, sr, cp, sp, cy, sy = (math.cos(roll), math.sin(roll), math.cos(pitch), math.sin(pitch),
                              math.cos(yaw), math.sin(yaw))
    return np.array([[cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
                     [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
                     [-sp, cp * sr, cp * cr]])


# --- contact mechanics ----------------------------------------------------------------

def _interface_kpa(u_mm: np.ndarray, tissue_mm: np.ndarray, tissue_kpa: float,
                   seat: SeatSurface) -> np.ndarray:
    """Interface pressure where the undeformed body surface would sink `u_mm` into the seat.

    Tissue (thickness t, stiffening) and foam (depth D, locking at strain L) in series:
    u = t ln(1 + b p / E) / b + D L (1 - exp(-p / (E_f L))); solved for p by Newton's method,
    which converges from below because u(p) is concave.
    """
    u = np.maximum(u_mm, 0.0)
    b = _TISSUE_STIFFENING
    tissue_a, tissue_rate = tissue_mm / b, b / tissue_kpa
    foam_b = seat.foam_mm * seat.foam_lock_strain
    foam_c = seat.foam_modulus_kpa * seat.foam_lock_strain
    p = u / (tissue_mm / tissue_kpa + seat.foam_mm / seat.foam_modulus_kpa)
    for _ in range(9):
        e = np.exp(-p / foam_c)
        residual = tissue_a * np.log1p(tissue_rate * p) + foam_b * (1.0 - e) - u
        slope = tissue_a * tissue_rate / (1.0 + tissue_rate * p) + (foam_b / foam_c) * e
        p = p - residual / slope
    return np.minimum(np.maximum(p, 0.0), _MAX_KPA)


@dataclass(frozen=True, slots=True)
class _Bowl:
    """A rounded soft-tissue mass over a bony point (a buttock over its ischial tuberosity,
    the sacrum and coccyx, a heel): its surface rises as a paraboloid toward the edge of its
    footprint, and the tissue is thinnest over the bone."""

    l_mm: float
    f_mm: float
    side: float           # +1: `out_mm` runs toward +l (the occupant's left), -1 toward -l
    out_mm: float
    in_mm: float
    back_mm: float
    front_mm: float
    rise_mm: float
    tissue_bone_mm: float
    tissue_soft_mm: float
    bone_radius_mm: float
    tilt: float = 0.0     # slope of the surface along f: + lowers the back (posterior tilt)
    hand_over_f: tuple[float, float] | None = None  # fades out between these f (to the thigh)

    def bbox(self) -> tuple[float, float, float, float]:
        wide = 1.7
        low = self.l_mm - wide * (self.out_mm if self.side < 0 else self.in_mm)
        high = self.l_mm + wide * (self.in_mm if self.side < 0 else self.out_mm)
        return low, high, self.f_mm - wide * self.back_mm, self.f_mm + wide * self.front_mm

    def surface(self, l: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, ...]:
        dl = (l - self.l_mm) * self.side
        df = f - self.f_mm
        rho2 = ((dl / np.where(dl >= 0, self.out_mm, self.in_mm)) ** 2
                + (df / np.where(df >= 0, self.front_mm, self.back_mm)) ** 2)
        height = self.rise_mm * rho2 + self.tilt * df
        near_bone = np.exp(-(dl * dl + df * df) / (2.0 * self.bone_radius_mm ** 2))
        tissue = self.tissue_soft_mm - (self.tissue_soft_mm - self.tissue_bone_mm) * near_bone
        window = 1.0 - _smoothstep((rho2 - 1.4) / 1.4)
        if self.hand_over_f is not None:
            start, end = self.hand_over_f
            window = window * (1.0 - _smoothstep((f - start) / (end - start)))
        return height, tissue, window


@dataclass(frozen=True, slots=True)
class _Limb:
    """A thigh or a shank lying along the seat: a cylinder whose underside rises `slope` mm
    per mm along it, in contact from its root for `length_mm`."""

    l_mm: float
    f_mm: float
    direction: tuple[float, float]   # unit vector (l, f) along the limb
    length_mm: float
    radius_mm: float
    slope: float
    tissue_mm: float

    def bbox(self) -> tuple[float, float, float, float]:
        dl, df = self.direction
        ends_l = (self.l_mm, self.l_mm + dl * self.length_mm)
        ends_f = (self.f_mm, self.f_mm + df * self.length_mm)
        r = 1.3 * self.radius_mm
        return min(ends_l) - r, max(ends_l) + r, min(ends_f) - r, max(ends_f) + r

    def surface(self, l: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, ...]:
        dl, df = self.direction
        along = (l - self.l_mm) * dl + (f - self.f_mm) * df
        across = -(l - self.l_mm) * df + (f - self.f_mm) * dl
        height = np.maximum(along, 0.0) * self.slope + across * across / (2.0 * self.radius_mm)
        tissue = self.tissue_mm * (1.0 - 0.25 * np.clip(along / self.length_mm, 0.0, 1.0))
        window = (_smoothstep((along + 20.0) / 40.0)
                  * (1.0 - _smoothstep((along - self.length_mm + 40.0) / 40.0))
                  * (1.0 - _smoothstep((np.abs(across) - self.radius_mm) / (0.3 * self.radius_mm))))
        return height, tissue, window


_Region = _Bowl | _Limb


@dataclass(frozen=True, slots=True)
class _Pose:
    """Where the pelvis is on the seat: the midpoint between the ischia, and its turn."""

    l_mm: float
    f_mm: float
    yaw_rad: float

    def to_pelvis(self, l: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c, s = math.cos(self.yaw_rad), math.sin(self.yaw_rad)
        dl, df = l - self.l_mm, f - self.f_mm
        return c * dl + s * df, -s * dl + c * df

    def to_seat(self, l: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c, s = math.cos(self.yaw_rad), math.sin(self.yaw_rad)
        return self.l_mm + c * l - s * f, self.f_mm + s * l + c * f

    def moved(self, dl_mm: float, df_mm: float) -> _Pose:
        return _Pose(self.l_mm + dl_mm, self.f_mm + df_mm, self.yaw_rad)


# --- a scenario as this body sees it ---------------------------------------------------

@dataclass(slots=True)
class _Segment:
    index: int
    posture: int
    activity: int
    start_s: float
    end_s: float
    transition_s: float
    shifts: list[dict[str, Any]]
    plan: dict[str, Any]
    dice: _Dice


@dataclass(slots=True)
class _Timeline:
    scenario: Scenario
    starts: np.ndarray
    segments: list[_Segment]
    solved: dict[tuple[int, str], list[tuple[int, _Region, float]]] = field(default_factory=dict)
    maps: dict[tuple[int, str], np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class AnthropometricBody:
    """One sitter drawn from anthropometry, on one seat, with the mat and two thigh units.

    `sex` ("female" or "male") pins the sitter's sex, else it is drawn from the seed;
    `mat_offset_mm` (toward the occupant's left, toward the front) and `mat_rotation_deg`
    pin the mat's placement, else it is drawn (up to 40 mm off centre, turned up to 10
    degrees); `sensor_drift` switches the mat's slow offsets and creep off for tests that
    look at the signal.
    """

    model_name: ClassVar[str] = "anthropometric"

    weight_kg: float
    seat: str
    seed: int
    sex: str | None = None
    mat_offset_mm: tuple[float, float] | None = None
    mat_rotation_deg: float | None = None
    sensor_drift: bool = True
    rows: int = 16
    cols: int = 16
    pitch_mm: float = 28.0
    physique: Physique = field(init=False, repr=False, compare=False)
    seat_surface: SeatSurface = field(init=False, repr=False, compare=False)
    _placement: tuple[float, float, float] = field(init=False, repr=False, compare=False)
    _mat_points: tuple[np.ndarray, np.ndarray] = field(init=False, repr=False, compare=False)
    _cell_gain: np.ndarray = field(init=False, repr=False, compare=False)
    _mounts: dict[int, ImuMount] = field(init=False, repr=False, compare=False)
    _timelines: dict[int, _Timeline] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.weight_kg, bool) or not isinstance(self.weight_kg, (int, float)) \
                or not 45.0 <= self.weight_kg <= 130.0:
            raise ValueError(f"weight_kg must be 45..130, got {self.weight_kg!r}")
        if self.seat not in SEATS:
            raise ValueError(f"seat must be one of {', '.join(SEATS)}; got {self.seat!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {self.seed!r}")
        if self.sex is not None and self.sex not in SEXES:
            raise ValueError(f"sex must be one of {', '.join(SEXES)} or None; got {self.sex!r}")
        put = object.__setattr__
        put(self, "physique", _physique(self.seed, float(self.weight_kg), self.sex))
        put(self, "seat_surface", _seat_surface(self.seed, self.seat))
        dice = _Dice(("mat", self.seed))
        if self.mat_offset_mm is None:
            radius = 40.0 * math.sqrt(dice.unit("offset_r"))
            angle = 2.0 * math.pi * dice.unit("offset_a")
            offset = (radius * math.cos(angle), radius * math.sin(angle))
        else:
            offset = (float(self.mat_offset_mm[0]), float(self.mat_offset_mm[1]))
        if math.hypot(*offset) > 40.0 + 1e-9:
            raise ValueError(f"mat_offset_mm must be within 40 mm of the centre, got {offset}")
        rotation = (dice.between("rotation", -10.0, 10.0) if self.mat_rotation_deg is None
                    else float(self.mat_rotation_deg))
        if abs(rotation) > 10.0:
            raise ValueError(f"mat_rotation_deg must be within +-10, got {rotation}")
        put(self, "_placement", (offset[0], offset[1], rotation))
        # Sample points of every cell, in mat coordinates, then on the seat.
        sub = (np.arange(_SUB) + 0.5) / _SUB
        rows = (np.arange(self.rows)[:, None] + sub[None, :]).ravel()
        cols = (np.arange(self.cols)[:, None] + sub[None, :]).ravel()
        fore_mat = (self.rows / 2.0 - rows) * self.pitch_mm
        lat_mat = (self.cols / 2.0 - cols) * self.pitch_mm
        lm, fm = np.meshgrid(lat_mat, fore_mat)   # (rows*SUB, cols*SUB): row-major like the mat
        c, s = math.cos(math.radians(rotation)), math.sin(math.radians(rotation))
        put(self, "_mat_points", (offset[0] + c * lm - s * fm, offset[1] + s * lm + c * fm))
        cells = np.arange(self.rows * self.cols, dtype=np.uint64)
        gain = 1.0 + 0.04 * (2.0 * _uniform(cells, dice.key("gain")) - 1.0)
        put(self, "_cell_gain", gain.reshape(self.rows, self.cols))
        put(self, "_mounts", {p: _imu_mount(self.seed, p) for p in (1, 2)})
        put(self, "_timelines", {})

    # --- public -------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """The sitter as JSON-ready data (for a trace header's meta)."""
        p, s = self.physique, self.seat_surface
        offset_l, offset_f, rotation = self._placement
        return {
            "model": self.model_name, "weight_kg": float(self.weight_kg), "seat": self.seat,
            "seed": self.seed, "rows": self.rows, "cols": self.cols, "pitch_mm": self.pitch_mm,
            "physique": {k: (round(v, 3) if isinstance(v, float) else v)
                         for k, v in _fields(p).items()},
            "seat_surface": {k: (round(v, 3) if isinstance(v, float) else v)
                             for k, v in _fields(s).items()},
            "mat_offset_mm": [round(offset_l, 2), round(offset_f, 2)],
            "mat_rotation_deg": round(rotation, 3),
            "imu_mounts": {name: {k: (round(v, 3) if isinstance(v, float) else
                                      [round(x, 4) for x in v])
                                  for k, v in _fields(self._mounts[placement]).items()}
                           for placement, name in ((1, "left"), (2, "right"))},
        }

    def imu_mounting(self, placement: int) -> np.ndarray:
        """The unit's axes in its thigh's axes (3 x 3): thigh-frame vector v reads M.T @ v."""
        return self._mounts[_check_placement(placement)].rotation()

    def segment_plan(self, scenario: Scenario) -> list[dict[str, Any]]:
        """How this sitter holds each segment of the scenario (drawn per segment): JSON-ready."""
        return [dict(s.plan, index=s.index, posture=POSTURES[s.posture],
                     activity=ACTIVITIES[s.activity]) for s in self._timeline(scenario).segments]

    def pressure_kpa(self, scenario: Scenario, t_s: np.ndarray) -> np.ndarray:
        """The true seat interface pressure (n, rows, cols) in kPa, averaged over each cell."""
        t = scenario_times(t_s)
        timeline = self._timeline(scenario)
        out = np.zeros((t.size, self.rows, self.cols))
        segment = np.searchsorted(timeline.starts, t, side="right") - 1
        for i in np.unique(segment).tolist():
            at = np.flatnonzero(segment == i)
            for start in range(0, at.size, 8192):
                block = at[start:start + 8192]
                out[block] = self._segment_kpa(timeline, i, t[block])
        return out

    def pressure_counts(self, scenario: Scenario, t_s: np.ndarray) -> np.ndarray:
        """What the mat reports at each time: (n, rows, cols) uint16 ADC counts, 0..4095."""
        t = scenario_times(t_s)
        out = np.empty((t.size, self.rows, self.cols), dtype=np.uint16)
        for start in range(0, t.size, 4096):
            block = t[start:start + 4096]
            out[start:start + block.size] = self._counts(scenario, block)
        return out

    def drift_counts(self, t_s: np.ndarray) -> np.ndarray:
        """The slow per-cell offset (n, rows, cols) in counts that the mat adds at these times."""
        t = scenario_times(t_s)
        cells = self.rows * self.cols
        if not self.sensor_drift:
            return np.zeros((t.size, self.rows, self.cols))
        dice = _Dice(("mat", self.seed))
        index = np.arange(cells, dtype=np.uint64)
        base = 32.0 * _uniform(index, dice.key("offset")) ** 2
        swing = 9.0 * _uniform(index, dice.key("swing"))
        period = 600.0 + 1800.0 * _uniform(index, dice.key("period"))
        phase = 2.0 * np.pi * _uniform(index, dice.key("phase"))
        shared = 3.0 * np.sin(2.0 * np.pi * t / 2900.0 + 1.3)
        wave = np.sin(2.0 * np.pi * t[:, None] / period[None, :] + phase[None, :])
        drift = np.maximum(base[None, :] + swing[None, :] * wave + shared[:, None], 0.0)
        return drift.reshape(t.size, self.rows, self.cols)

    def imu_samples(self, scenario: Scenario, placement: int, t_s: np.ndarray) -> np.ndarray:
        """One thigh sensor's samples (n, 6) int16: ax, ay, az (milli-g), gx, gy, gz (0.1 deg/s).

        `placement` is 1 for the left thigh, 2 for the right (spec/hardware.md, section 2).
        """
        placement = _check_placement(placement)
        t = scenario_times(t_s)
        out = np.empty((t.size, 6), dtype=np.int16)
        for start in range(0, t.size, 8192):
            block = t[start:start + 8192]
            out[start:start + block.size] = self._imu(scenario, placement, block)
        return out

    # --- the timeline -------------------------------------------------------------------

    def _timeline(self, scenario: Scenario) -> _Timeline:
        cached = self._timelines.get(id(scenario))
        if cached is not None and cached.scenario is scenario:
            return cached
        bounds = scenario.segment_bounds_s()
        shifts = scenario.shift_table()
        segments = []
        for i, seg in enumerate(scenario.segments):
            posture, activity = POSTURES.index(seg.posture), ACTIVITIES.index(seg.activity)
            dice = _Dice(("segment", self.seed, i, posture, activity))
            mine = [dict(s, dice=_Dice(("shift", self.seed, round(s["start_s"] * 1000))))
                    for s in shifts if s["segment"] == i]
            segments.append(_Segment(i, posture, activity, float(bounds[i]), float(bounds[i + 1]),
                                     float(seg.transition_s), mine,
                                     self._plan(posture, activity, dice), dice))
        timeline = _Timeline(scenario, bounds[:-1].copy(), segments)
        if len(self._timelines) > 16:
            self._timelines.clear()
        self._timelines[id(scenario)] = timeline
        return timeline

    def _plan(self, posture: int, activity: int, dice: _Dice) -> dict[str, Any]:
        """This segment's way of holding its posture: every drawn number, JSON-ready."""
        p = self.physique
        plan: dict[str, Any] = {
            "pelvis_lateral_mm": dice.between("lateral", -14.0, 14.0),
            "perch_mm": p.perch_mm + dice.between("perch", -12.0, 12.0),
            "pelvis_yaw_deg": dice.between("yaw", -3.0, 3.0),
            "thigh_share": p.thigh_load_share + dice.between("thigh_share", -0.03, 0.03),
            "right_share": p.right_share + dice.between("right", -0.02, 0.02),
            "seat_factor": 1.0, "tilt": 0.0,
        }
        pitch0 = p.chair_thigh_pitch_deg + dice.between("pitch", -2.5, 2.5)
        spread = p.knee_spread_deg + dice.between("spread", -2.5, 2.5)
        roll_out = p.thigh_roll_out_deg + dice.between("roll", -2.0, 2.0)
        # Thigh angles per leg (left, right), degrees: pitch (+ knee up), yaw (+ knee toward the
        # occupant's left), roll (+ top of the thigh toward the occupant's right).
        pitch = [pitch0 + dice.between("pitch_l", -1.5, 1.5),
                 pitch0 + dice.between("pitch_r", -1.5, 1.5)]
        yaw = [spread, -spread]
        roll = [-roll_out, roll_out]
        if posture in (_LEAN_L, _LEAN_R):
            side = 0 if posture == _LEAN_L else 1
            sigma = 1.0 if side == 0 else -1.0
            share = dice.between("lean_share", 0.60, 0.80)
            plan["lean_share"] = share
            plan["right_share"] = share if side == 1 else 1.0 - share
            plan["pelvis_lateral_mm"] += sigma * dice.between("lean_shift", 5.0, 20.0)
            plan["seat_factor"] = dice.between("armrest", 0.97, 0.99)
            lean_roll = dice.between("lean_roll", 2.0, 6.0)
            roll = [r - sigma * lean_roll for r in roll]
            pitch[1 - side] += dice.between("light_rise", 1.0, 4.0)
        elif posture == _SLOUCHED:
            tucked = dice.unit("variant") < 0.4
            plan["slouch"] = "feet_tucked" if tucked else "legs_stretched"
            plan["pelvic_tilt_deg"] = dice.between("tilt", 10.0, 25.0)
            plan["tilt"] = math.tan(math.radians(plan["pelvic_tilt_deg"]))
            plan["slide_mm"] = dice.between("slide", 0.0, 15.0)
            plan["sacral_share"] = dice.between("sacral", 0.12, 0.25)
            plan["sacrum_behind_mm"] = dice.between("sacrum_at", 60.0, 90.0)
            plan["thigh_share"] = (dice.between("slouch_thighs", 0.08, 0.16) if tucked
                                   else dice.between("slouch_thighs", 0.05, 0.10))
            plan["seat_factor"] = dice.between("backrest", 0.93, 0.96)
            knee = dice.between("knee_up", 6.0, 14.0) if tucked else -dice.between(
                "knee_down", 8.0, 18.0)
            pitch = [x + knee for x in pitch]
            out = dice.between("splay", 2.0, 8.0)
            yaw = [yaw[0] + out, yaw[1] - out]
            roll = [roll[0] - out, roll[1] + out]
        elif posture in (_CROSS_L, _CROSS_R):
            top = 0 if posture == _CROSS_L else 1
            bottom = 1 - top
            sigma_top = 1.0 if top == 0 else -1.0
            figure_four = dice.unit("style") < 0.3
            plan["crossing"] = "ankle_on_knee" if figure_four else "knee_over_knee"
            if figure_four:
                top_share = dice.between("top_side", 0.50, 0.60)
                plan["top_thigh_share"] = dice.between("top_thigh", 0.02, 0.05)
                plan["knee_press_share"] = dice.between("press", 0.02, 0.04)
                plan["seat_factor"] = dice.between("lifted_leg", 1.03, 1.07)
                pitch[top] = pitch0 + dice.between("f4_pitch", 6.0, 18.0)
                yaw[top] = sigma_top * dice.between("f4_yaw", 25.0, 45.0)
                roll[top] = -sigma_top * dice.between("f4_roll", 35.0, 60.0)
                pitch[bottom] += dice.between("bottom_rise", 1.0, 4.0)
            else:
                top_share = 1.0 - dice.between("bottom_side", 0.55, 0.68)
                plan["top_thigh_share"] = dice.between("top_thigh", 0.01, 0.04)
                plan["knee_press_share"] = dice.between("press", 0.03, 0.07)
                plan["seat_factor"] = dice.between("lifted_leg", 1.04, 1.08)
                pitch[top] = pitch0 + dice.between("cross_pitch", 18.0, 30.0)
                yaw[top] = -sigma_top * dice.between("cross_yaw", 8.0, 20.0)
                roll[top] = sigma_top * dice.between("cross_roll", 12.0, 28.0)
                pitch[bottom] -= dice.between("bottom_pressed", -1.0, 2.0)  # the top leg on it
                yaw[bottom] = (1.0 if bottom == 0 else -1.0) * dice.between("bottom_yaw", 0.0, 6.0)
                roll[bottom] = -(1.0 if bottom == 0 else -1.0) * dice.between("bottom_roll",
                                                                             2.0, 8.0)
            plan["right_share"] = top_share if top == 1 else 1.0 - top_share
            plan["pelvis_yaw_deg"] += sigma_top * dice.between("turn", 1.0, 5.0)
        elif posture in (_FOOT_L, _FOOT_R):
            side = 0 if posture == _FOOT_L else 1
            sigma = 1.0 if side == 0 else -1.0
            share = dice.between("foot_side", 0.52, 0.62)
            plan["right_share"] = share if side == 1 else 1.0 - share
            plan["foot_share"] = dice.between("foot", 0.55, 0.72)
            plan["shank_share"] = dice.between("shank", 0.12, 0.22)
            plan["foot_lateral_mm"] = dice.between("foot_l", -10.0, 25.0)
            plan["foot_fore_mm"] = dice.between("foot_f", -10.0, 45.0)
            plan["seat_factor"] = dice.between("leg_on_seat", 1.09, 1.13)
            pitch[side] = -dice.between("foot_pitch", 6.0, 18.0)
            yaw[side] = sigma * dice.between("foot_yaw", 10.0, 30.0)
            roll[side] = -sigma * dice.between("foot_roll", 15.0, 40.0)
            pitch[1 - side] -= dice.between("other_pitch", 0.0, 4.0)
        elif posture == _STANDING or (posture == _EMPTY and activity == _WALKING):
            for leg in (0, 1):
                sigma = 1.0 if leg == 0 else -1.0
                pitch[leg] = -90.0 + dice.between(f"stand_flex{leg}", 1.0, 5.0)
                yaw[leg] = sigma * dice.between(f"stand_yaw{leg}", 0.0, 8.0)
                roll[leg] = -sigma * dice.between(f"stand_roll{leg}", 0.0, 10.0)
        elif posture == _EMPTY and activity != _WALKING:
            other = dice.between("other_chair", -6.0, 10.0)   # sitting on another chair
            pitch = [other + dice.between("oc_l", -2.0, 2.0), other + dice.between("oc_r", -2.0, 2.0)]
        if activity == _WALKING:
            steady = posture == _EMPTY
            plan["stride_hz"] = (dice.between("stride", 0.80, 1.05) if steady
                                 else dice.between("stride", 0.50, 0.80))
            plan["swing_deg"] = (dice.between("swing", 15.0, 21.0) if steady
                                 else dice.between("swing", 6.0, 11.0))
            plan["flexion_deg"] = dice.between("flexion", 7.0, 12.0)
            plan["bounce_mm"] = (dice.between("bounce", 15.0, 25.0) if steady
                                 else dice.between("bounce", 5.0, 10.0))
            plan["heel_strike_g"] = (dice.between("strike", 0.4, 0.8) if steady
                                     else dice.between("strike", 0.1, 0.3))
            plan["walk_slot_s"] = dice.between("walk_slot", 4.0, 9.0)
        if activity == _FIDGET:
            plan["fidget_slot_s"] = dice.between("fidget_slot", 4.0, 10.0)
            plan["fidget_busy"] = dice.between("fidget_busy", 0.45, 0.75)
        plan["thigh_pitch_deg"] = pitch
        plan["thigh_yaw_deg"] = yaw
        plan["thigh_roll_deg"] = roll
        return plan

    # --- seat pressure ------------------------------------------------------------------

    def _seat_pose(self, segment: _Segment) -> _Pose:
        p, plan = self.physique, segment.plan
        back_rest = -self.rows * self.pitch_mm / 2.0 - self.seat_surface.back_gap_mm
        fore = back_rest + max(0.0, plan["perch_mm"]) + p.ischia_to_buttock_rear_mm
        fore += plan.get("slide_mm", 0.0)
        return _Pose(plan["pelvis_lateral_mm"], fore, math.radians(plan["pelvis_yaw_deg"]))

    def _layout(self, segment: _Segment, shift: str) -> list[tuple[int, _Region, float]]:
        """The loaded body parts of a seated segment: (component, shape, force in N)."""
        p, plan, posture = self.physique, segment.plan, segment.posture
        force = (self.weight_kg * GRAVITY_M_S2 * p.seat_load_share * plan["seat_factor"])
        right = plan["right_share"]
        side_force = [force * (1.0 - right), force * right]
        thighs = plan["thigh_share"]
        tilt = plan["tilt"]
        # What the weight shift does to the load (scaled targets; the contact re-forms).
        pelvis_scale, thigh_scale, extra_scale, mid_scale = [1.0, 1.0], [1.0, 1.0], [1.0, 1.0], 1.0
        if shift:
            d = next(s["dice"] for s in segment.shifts if s["kind"] == shift)
            if shift in ("lift_left", "lift_right"):
                lifted = 0 if shift == "lift_left" else 1
                keep = d.between("keep", 0.05, 0.20)
                gain = d.between("gain", 1.03, 1.12)
                pelvis_scale[lifted] = extra_scale[lifted] = keep
                thigh_scale[lifted] = d.between("thigh_keep", 0.7, 0.9)
                pelvis_scale[1 - lifted] = extra_scale[1 - lifted] = gain
                thigh_scale[1 - lifted] = gain
            else:
                keep = d.between("keep", 0.40, 0.55)
                pelvis_scale = [keep, keep]
                mid_scale = keep
                thigh_scale = [d.between("thighs", 1.15, 1.35)] * 2
                tilt = -0.8 * math.tan(math.radians(d.between("anterior_tilt", 8.0, 14.0)))
        out: list[tuple[int, _Region, float]] = []
        pitch, yaw = plan["thigh_pitch_deg"], plan["thigh_yaw_deg"]
        for leg in (0, 1):
            budget = side_force[leg]
            extras: list[tuple[_Region, float]] = []
            thigh_force = force * thighs / 2.0
            if posture in (_CROSS_L, _CROSS_R):
                top = 0 if posture == _CROSS_L else 1
                if leg == top:
                    thigh_force = force * plan["top_thigh_share"]
                else:
                    extras.append((self._knee_press(leg, yaw[leg], pitch[leg]),
                                   force * plan["knee_press_share"]))
            elif posture in (_FOOT_L, _FOOT_R) and leg == (0 if posture == _FOOT_L else 1):
                # The foot lifts this side's ischium: the buttock keeps at most a tenth.
                thigh_force = budget * 0.03
                heel, shank = self._tucked_foot(leg, plan)
                shank_force = budget * plan["shank_share"]
                foot_force = max(budget * plan["foot_share"],
                                 budget * 0.87 - thigh_force - shank_force)
                extras += [(heel, foot_force), (shank, shank_force)]
            pelvis_force = budget - thigh_force - sum(f for _, f in extras)
            pelvis_force = max(pelvis_force, 0.06 * budget)
            if posture == _SLOUCHED:
                pelvis_force -= force * plan["sacral_share"] / 2.0
            out.append((_PELVIS + leg, self._buttock(leg, tilt), pelvis_force * pelvis_scale[leg]))
            out.append((_THIGH + leg, self._thigh(leg, pitch[leg], yaw[leg]),
                        thigh_force * thigh_scale[leg]))
            out += [(_EXTRA + leg, shape, f * extra_scale[leg]) for shape, f in extras]
        if posture == _SLOUCHED:
            out.append((_MIDLINE, self._sacrum(plan), force * plan["sacral_share"] * mid_scale))
        return out

    def _buttock(self, leg: int, tilt: float) -> _Bowl:
        p = self.physique
        sigma = 1.0 if leg == 0 else -1.0
        half = p.ischial_spacing_mm / 2.0
        fold = 40.0
        return _Bowl(l_mm=sigma * half, f_mm=0.0, side=sigma,
                     out_mm=max(50.0, 0.95 * (p.hip_breadth_mm / 2.0 - half)),
                     in_mm=0.85 * half, back_mm=p.ischia_to_buttock_rear_mm, front_mm=110.0,
                     rise_mm=p.buttock_rise_mm, tissue_bone_mm=p.tissue_under_ischia_mm,
                     tissue_soft_mm=p.tissue_buttock_mm, bone_radius_mm=24.0, tilt=tilt,
                     hand_over_f=(fold - 15.0, fold + 25.0))

    def _thigh(self, leg: int, pitch_deg: float, yaw_deg: float) -> _Limb:
        p, seat = self.physique, self.seat_surface
        sigma = 1.0 if leg == 0 else -1.0
        yaw = math.radians(yaw_deg)
        length = p.buttock_popliteal_mm - p.ischia_to_buttock_rear_mm - 20.0 - 30.0
        # The underside follows the femur only in part: the posterior thigh's soft tissue
        # hangs toward the seat and the thigh tapers toward the knee.
        angle = 0.7 * (pitch_deg - seat.tilt_deg) + p.thigh_taper_deg / 2.0
        return _Limb(l_mm=sigma * p.hip_joint_spacing_mm / 2.0, f_mm=20.0,
                     direction=(math.sin(yaw), math.cos(yaw)), length_mm=max(80.0, length),
                     radius_mm=0.55 * p.thigh_thickness_mm,
                     slope=math.tan(math.radians(max(-35.0, min(60.0, angle)))),
                     tissue_mm=p.tissue_thigh_mm)

    def _knee_press(self, leg: int, yaw_deg: float, pitch_deg: float) -> _Bowl:
        """The crossed top leg resting on the bottom thigh near its knee."""
        p = self.physique
        sigma = 1.0 if leg == 0 else -1.0
        yaw = math.radians(yaw_deg)
        reach = 0.62 * (p.buttock_popliteal_mm - p.ischia_to_buttock_rear_mm)
        return _Bowl(l_mm=sigma * p.hip_joint_spacing_mm / 2.0 + reach * math.sin(yaw),
                     f_mm=20.0 + reach * math.cos(yaw), side=sigma, out_mm=45.0, in_mm=45.0,
                     back_mm=60.0, front_mm=50.0, rise_mm=12.0,
                     tissue_bone_mm=0.8 * p.tissue_thigh_mm, tissue_soft_mm=p.tissue_thigh_mm,
                     bone_radius_mm=30.0)

    def _tucked_foot(self, leg: int, plan: dict[str, Any]) -> tuple[_Bowl, _Limb]:
        """Sitting on one's own foot: the instep and heel under the buttock, the shank along
        the seat under the thigh toward the knee."""
        p = self.physique
        sigma = 1.0 if leg == 0 else -1.0
        at_l = sigma * (p.ischial_spacing_mm / 2.0 + plan["foot_lateral_mm"])
        at_f = plan["foot_fore_mm"]
        heel = _Bowl(l_mm=at_l, f_mm=at_f, side=sigma, out_mm=36.0, in_mm=32.0, back_mm=55.0,
                     front_mm=45.0, rise_mm=10.0, tissue_bone_mm=13.0, tissue_soft_mm=26.0,
                     bone_radius_mm=20.0)
        yaw = math.radians(sigma * 8.0)
        shank = _Limb(l_mm=at_l, f_mm=at_f + 35.0, direction=(math.sin(yaw), math.cos(yaw)),
                      length_mm=0.23 * p.stature_mm, radius_mm=46.0, slope=0.02, tissue_mm=28.0)
        return heel, shank

    def _sacrum(self, plan: dict[str, Any]) -> _Bowl:
        """Slouched: the sacrum and coccyx come down behind the ischia on the midline."""
        return _Bowl(l_mm=0.0, f_mm=-plan["sacrum_behind_mm"], side=1.0, out_mm=38.0, in_mm=38.0,
                     back_mm=45.0, front_mm=40.0, rise_mm=14.0, tissue_bone_mm=14.0,
                     tissue_soft_mm=26.0, bone_radius_mm=18.0)

    def _seat_mask(self, l_seat: np.ndarray, f_seat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where the seat is (the seat's front edge rolls down over its last 25 mm), and how
        far below the flat seat surface it lies."""
        s = self.seat_surface
        front = self.rows * self.pitch_mm / 2.0 + s.front_gap_mm
        back = -self.rows * self.pitch_mm / 2.0 - s.back_gap_mm
        on_seat = (f_seat <= front) & (f_seat >= back) & (np.abs(l_seat) <= s.half_width_mm)
        roll_down = np.clip((f_seat - (front - 25.0)) / 25.0, 0.0, None) ** 2 * s.edge_drop_mm
        return on_seat, roll_down

    def _solved(self, timeline: _Timeline, segment: _Segment, shift: str
                ) -> list[tuple[int, _Region, float]]:
        """Each body part with the sinkage (mm) that makes it carry its force."""
        key = (segment.index, shift)
        done = timeline.solved.get(key)
        if done is not None:
            return done
        pose = self._seat_pose(segment)
        area_n_per_kpa = _GRID_MM * _GRID_MM * 1e-3
        result = []
        for component, shape, force_n in self._layout(segment, shift):
            if force_n <= 0.0:
                continue
            l0, l1, f0, f1 = shape.bbox()
            gl, gf = np.meshgrid(np.arange(l0, l1 + _GRID_MM, _GRID_MM),
                                 np.arange(f0, f1 + _GRID_MM, _GRID_MM))
            height, tissue, window = shape.surface(gl.ravel(), gf.ravel())
            on_seat, drop = self._seat_mask(*pose.to_seat(gl.ravel(), gf.ravel()))
            keep = on_seat & (window > 0.0)
            height, tissue, window = (height + drop)[keep], tissue[keep], window[keep]
            if height.size == 0:
                continue
            delta = self._sinkage(height, tissue, window, force_n / area_n_per_kpa)
            result.append((component, shape, delta))
        timeline.solved[key] = result
        return result

    def _sinkage(self, height: np.ndarray, tissue: np.ndarray, window: np.ndarray,
                 target: float) -> float:
        """The depth the body part sinks to so that sum(window * pressure) = target (kPa.cells)."""
        modulus = self.physique.tissue_modulus_kpa

        def load(delta: float) -> float:
            return float(np.sum(window * _interface_kpa(delta - height, tissue, modulus,
                                                        self.seat_surface)))

        low = float(height.min())
        high = low + 10.0
        while load(high) < target and high - low < 400.0:
            high = low + 2.0 * (high - low)
        f_low, f_high = -target, load(high) - target
        for _ in range(40):  # Illinois regula falsi on a monotone load curve
            mid = high - f_high * (high - low) / (f_high - f_low)
            f_mid = load(mid) - target
            if abs(f_mid) <= 1e-4 * target:
                return mid
            if (f_mid > 0) == (f_high > 0):
                f_low *= 0.5
            else:
                low, f_low = high, f_high
            high, f_high = mid, f_mid
        return high

    def _render(self, timeline: _Timeline, segment: _Segment, shift: str,
                move: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
        """Component maps (K, rows, cols) in kPa, the body moved by `move` (mm, l and f)."""
        key = (segment.index, f"{shift}|{move[0]:g},{move[1]:g}")
        done = timeline.maps.get(key)
        if done is not None:
            return done
        pose = self._seat_pose(segment).moved(*move)
        ls, fs = self._mat_points
        on_seat, drop = self._seat_mask(ls, fs)
        lp, fp = pose.to_pelvis(ls, fs)
        maps = np.zeros((_K, self.rows, self.cols))
        modulus = self.physique.tissue_modulus_kpa
        for component, shape, delta in self._solved(timeline, segment, shift):
            height, tissue, window = shape.surface(lp, fp)
            kpa = window * _interface_kpa(delta - height - drop, tissue, modulus,
                                          self.seat_surface)
            kpa = np.where(on_seat, kpa, 0.0)
            maps[component] += kpa.reshape(self.rows, _SUB, self.cols, _SUB).mean(axis=(1, 3))
        if len(timeline.maps) > 4096:
            timeline.maps.clear()
        timeline.maps[key] = maps
        return maps

    def _load_weights(self, segment: _Segment, t: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray | None, tuple[float, float]]:
        """Per frame: component weights (n, K), and for fidgeting the move (n, 2) in -1..1."""
        dice = segment.dice
        n = t.size
        breath_hz = 0.2 + 0.1 * dice.unit("breath_hz")
        breath = 0.006 * np.sin(2.0 * np.pi * breath_hz * t + 6.283 * dice.unit("breath_phase"))
        side = 0.02 * _wander(dice.key("drift_side"), t, 70.0)
        fore = 0.02 * _wander(dice.key("drift_fore"), t, 110.0)
        move = None
        if segment.activity == _FIDGET:
            plan = segment.plan
            envelope, _, draw = _bursts(dice.key("fidget"), t, plan["fidget_slot_s"],
                                        plan["fidget_busy"])
            angle = 2.0 * np.pi * draw
            wiggle = _wander(dice.key("wiggle"), t, 1.6)
            side = side + envelope * (0.07 * np.cos(angle) + 0.02 * wiggle)
            fore = fore + envelope * 0.05 * np.sin(angle)
            move = np.stack([0.6 * envelope * np.cos(angle + 0.7),
                             0.6 * envelope * np.sin(angle + 0.7)], axis=1)
        weights = np.empty((n, _K))
        total = 1.0 + breath
        for leg, sign in ((0, 1.0), (1, -1.0)):
            lateral = 1.0 + sign * side
            weights[:, _PELVIS + leg] = total * lateral * (1.0 - fore)
            weights[:, _THIGH + leg] = total * lateral * (1.0 + 2.0 * fore)
            weights[:, _EXTRA + leg] = total * lateral
        weights[:, _MIDLINE] = total * (1.0 - fore)
        return weights, move, (12.0, 12.0)

    def _segment_kpa(self, timeline: _Timeline, i: int, t: np.ndarray) -> np.ndarray:
        segment = timeline.segments[i]
        out = self._held_kpa(timeline, segment, t)
        if segment.transition_s > 0 and i > 0:
            ramp = _cos_ramp((t - segment.start_s) / segment.transition_s)
            if np.any(ramp < 1.0):
                before = self._settled_kpa(timeline, timeline.segments[i - 1])
                out = ramp[:, None, None] * out + (1.0 - ramp)[:, None, None] * before[None]
        return out

    def _settled_kpa(self, timeline: _Timeline, segment: _Segment) -> np.ndarray:
        if segment.posture not in _SEATED:
            return np.zeros((self.rows, self.cols))
        return self._render(timeline, segment, "").sum(axis=0)

    def _held_kpa(self, timeline: _Timeline, segment: _Segment, t: np.ndarray) -> np.ndarray:
        if segment.posture not in _SEATED:
            return np.zeros((t.size, self.rows, self.cols))
        weights, move, step = self._load_weights(segment, t)
        maps = self._render(timeline, segment, "")
        held = _weighted(weights, maps)
        out = held
        if move is not None:
            for axis in (0, 1):
                amount = move[:, axis]
                delta = [0.0, 0.0]
                delta[axis] = step[axis]
                plus = _weighted(weights, self._render(timeline, segment, "", tuple(delta)))
                delta[axis] = -step[axis]
                minus = _weighted(weights, self._render(timeline, segment, "", tuple(delta)))
                toward = np.where((amount >= 0)[:, None, None], plus, minus)
                out = out + np.abs(amount)[:, None, None] * (toward - held)
        for shift in segment.shifts:
            envelope = _shift_envelope(shift, t)
            if np.any(envelope > 0):
                shifted = _weighted(weights, self._render(timeline, segment, shift["kind"]))
                out = out + envelope[:, None, None] * (shifted - out)
        return out

    def _counts(self, scenario: Scenario, t: np.ndarray) -> np.ndarray:
        kpa = self.pressure_kpa(scenario, t) * self._cell_gain[None]
        if self.sensor_drift:
            kpa = kpa * self._creep(scenario, t)[:, None, None]
        clean = kpa_to_counts(kpa)
        cells = self.rows * self.cols
        counter = (_milliseconds(t)[:, None] * np.uint64(cells)
                   + np.arange(cells, dtype=np.uint64)[None, :])
        noise = _gauss(counter, _stream_key("mat_noise", self.seed)).reshape(clean.shape)
        counts = clean + noise * (2.0 + 0.012 * clean) + self.drift_counts(t)
        return np.clip(np.rint(counts), 0, ADC_FULL_SCALE).astype(np.uint16)

    def _creep(self, scenario: Scenario, t: np.ndarray) -> np.ndarray:
        """Force-sensing resistors creep under a held load: +2-4% over a few minutes,
        starting again whenever the posture changes."""
        timeline = self._timeline(scenario)
        segment = np.searchsorted(timeline.starts, t, side="right") - 1
        held = t - timeline.starts[segment]
        dice = _Dice(("mat", self.seed))
        amount = dice.between("creep", 0.02, 0.04)
        tau = dice.between("creep_tau", 120.0, 300.0)
        return 1.0 + amount * (1.0 - np.exp(-held / tau))

    # --- thigh motion -------------------------------------------------------------------

    def _imu(self, scenario: Scenario, placement: int, t: np.ndarray) -> np.ndarray:
        timeline = self._timeline(scenario)
        leg = placement - 1
        sigma = 1.0 if leg == 0 else -1.0
        mount = self._mounts[placement]
        p = self.physique
        offset = np.array([(p.thigh_length_mm - 100.0 + mount.along_thigh_error_mm) / 1000.0,
                           sigma * 0.55 * p.thigh_thickness_mm / 1000.0, 0.0])
        poses = [self._thigh_pose(timeline, leg, t + dt) for dt in (-_H_S, 0.0, _H_S)]
        rotations = [_rotation_arrays(*pose[:3]) for pose in poses]
        positions = [pose[3] + _apply(rot, offset) for pose, rot in zip(poses, rotations)]
        accel = (positions[2] - 2.0 * positions[1] + positions[0]) / (_H_S * _H_S)
        accel[:, 2] += GRAVITY_M_S2 + poses[1][4]
        rot = rotations[1]
        specific = _apply_transposed(rot, accel)                  # in the thigh's axes
        rates = [(poses[2][k] - poses[0][k]) / (2.0 * _H_S) for k in range(3)]
        gyro = _body_rates(poses[1][0], poses[1][1], poses[1][2], *rates)
        mount_rot = mount.rotation()
        specific = _apply_transposed_const(mount_rot, specific)
        gyro = _apply_transposed_const(mount_rot, gyro)
        counter = _milliseconds(t)[:, None] * np.uint64(8) + np.arange(6, dtype=np.uint64)[None]
        noise = _gauss(counter, _stream_key("imu_noise", self.seed, placement))
        wander_key = _Dice(("imu", self.seed, placement))
        out = np.empty((t.size, 6))
        for axis in range(3):
            mg = specific[:, axis] / GRAVITY_M_S2 * 1000.0
            out[:, axis] = (mg * mount.accel_scale[axis] + mount.accel_bias_mg[axis]
                            + 3.0 * noise[:, axis])
            dps = np.degrees(gyro[:, axis])
            drift = 0.3 * _wander(wander_key.key(f"gyro_drift{axis}"), t, 900.0)
            out[:, 3 + axis] = (dps + mount.gyro_bias_dps[axis] + drift
                                + 0.12 * noise[:, 3 + axis]) * 10.0
        return np.clip(np.rint(out), -32768, 32767).astype(np.int16)

    def _thigh_pose(self, timeline: _Timeline, leg: int, t: np.ndarray) -> tuple[np.ndarray, ...]:
        """(pitch, yaw, roll) in radians, hip position (n, 3) m, extra vertical accel m/s^2."""
        t = np.maximum(t, 0.0)
        n = t.size
        out = [np.zeros(n), np.zeros(n), np.zeros(n), np.zeros((n, 3)), np.zeros(n)]
        segment_at = np.searchsorted(timeline.starts, t, side="right") - 1
        for i in np.unique(segment_at).tolist():
            at = np.flatnonzero(segment_at == i)
            segment = timeline.segments[i]
            pose = self._held_pose(segment, leg, t[at])
            if segment.transition_s > 0 and i > 0:
                ramp = _cos_ramp((t[at] - segment.start_s) / segment.transition_s)
                if np.any(ramp < 1.0):
                    before = self._held_pose(timeline.segments[i - 1], leg, t[at])
                    pose = [ramp * a + (1.0 - ramp) * b if a.ndim == 1 else
                            ramp[:, None] * a + (1.0 - ramp)[:, None] * b
                            for a, b in zip(pose, before)]
            for k in range(5):
                out[k][at] = pose[k]
        return tuple(out)

    def _held_pose(self, segment: _Segment, leg: int, t: np.ndarray) -> list[np.ndarray]:
        p, plan, dice = self.physique, segment.plan, segment.dice
        sigma = 1.0 if leg == 0 else -1.0
        n = t.size
        pitch = np.full(n, plan["thigh_pitch_deg"][leg])
        yaw = np.full(n, plan["thigh_yaw_deg"][leg])
        roll = np.full(n, plan["thigh_roll_deg"][leg])
        seated = segment.posture in _SEATED or (segment.posture == _EMPTY
                                                 and segment.activity != _WALKING)
        hip = np.zeros((n, 3))
        hip[:, 1] = sigma * p.hip_joint_spacing_mm / 2000.0
        hip[:, 2] = 0.55 if seated else 0.53 * p.stature_mm / 1000.0
        impact = np.zeros(n)
        sway = 1.0 if seated else 1.5
        pitch = pitch + sway * _wander(dice.key(f"sway_pitch{leg}"), t, 40.0)
        yaw = yaw + sway * _wander(dice.key(f"sway_yaw{leg}"), t, 55.0)
        roll = roll + sway * _wander(dice.key(f"sway_roll{leg}"), t, 35.0)
        if segment.activity == _FIDGET:
            envelope, slot, draw = _bursts(dice.key("fidget"), t, plan["fidget_slot_s"],
                                           plan["fidget_busy"])
            angle = 2.0 * np.pi * draw
            size = 3.0 + 5.0 * _uniform(slot, dice.key(f"fidget_size{leg}"))
            wiggle = _wander(dice.key(f"fidget_wiggle{leg}"), t, 1.4)
            if seated:
                roll = roll + envelope * (size * np.cos(angle) * 0.8 + 1.5 * wiggle)
                pitch = pitch + envelope * (size * np.sin(angle) * 0.6 + 1.0 * wiggle)
                yaw = yaw + envelope * 2.0 * np.cos(angle + 1.0)
                # Sometimes a knee jiggles (the heel bouncing on the floor, 3.5-5.5 Hz).
                jiggle = _uniform(slot, dice.key("jiggle")) < 0.35
                mine = (_uniform(slot, dice.key("jiggle_leg")) < 0.5) == (leg == 0)
                hz = 3.5 + 2.0 * _uniform(slot, dice.key("jiggle_hz"))
                pitch = pitch + np.where(jiggle & mine, envelope * 1.8, 0.0) * np.sin(
                    2.0 * np.pi * hz * t)
            else:  # standing: weight from leg to leg
                roll = roll + envelope * sigma * 3.0 * np.cos(angle)
                pitch = pitch + envelope * 2.5 * np.sin(angle + sigma)
        for shift in segment.shifts:
            envelope = _shift_envelope(shift, t)
            if not np.any(envelope > 0):
                continue
            d = shift["dice"]
            if shift["kind"] in ("lift_left", "lift_right"):
                lifted = 0 if shift["kind"] == "lift_left" else 1
                toward = -1.0 if lifted == 0 else 1.0     # leaning away from the lifted side
                roll = roll + envelope * (-toward) * d.between("shift_roll", 3.0, 6.0)
                if leg == lifted:
                    pitch = pitch - envelope * d.between("shift_drop", 2.0, 4.0)
            else:
                pitch = pitch - envelope * d.between("forward_drop", 2.0, 5.0)
        if segment.activity == _WALKING:
            steady = segment.posture == _EMPTY
            omega = 2.0 * np.pi * plan["stride_hz"]
            if steady:
                envelope = np.ones(n)
            else:  # pottering: a few steps, a pause
                slot_s = plan["walk_slot_s"]
                slot = np.floor(t / slot_s)
                walking = _uniform(slot.astype(np.int64).astype(np.uint64),
                                   dice.key("walk_on")) < 0.7
                phase = t / slot_s - slot
                envelope = np.where(walking, _smoothstep(3.0 * np.minimum(phase, 1.0 - phase)),
                                    0.0)
            phase = omega * t + (0.0 if leg == 0 else np.pi) + 6.283 * dice.unit("gait_phase")
            swing = plan["swing_deg"]
            pitch = pitch + envelope * (plan["flexion_deg"] + swing * np.sin(phase)
                                        + 0.18 * swing * np.sin(2.0 * phase + 0.6))
            roll = roll + envelope * 3.0 * np.sin(phase + 0.3)
            yaw = yaw + envelope * 2.0 * np.sin(phase + 1.0)
            bounce = plan["bounce_mm"] / 1000.0
            hip[:, 2] += envelope * bounce * np.cos(2.0 * phase)
            hip[:, 1] += envelope * 0.02 * np.sin(omega * t + 6.283 * dice.unit("gait_phase"))
            hip[:, 0] += envelope * 0.05 / (2.0 * omega) * np.sin(2.0 * phase + 0.4)
            # The heel strike: a short jolt up the leg once a stride.
            since = np.mod(phase - 0.5 * np.pi, 2.0 * np.pi) / omega
            impact = envelope * plan["heel_strike_g"] * GRAVITY_M_S2 * np.exp(
                -(since / 0.03) ** 2)
        return [np.radians(pitch), np.radians(yaw), np.radians(roll), hip, impact]


# --- helpers ---------------------------------------------------------------------------

def _fields(value: object) -> dict[str, Any]:
    return {name: getattr(value, name) for name in value.__dataclass_fields__}  # type: ignore[attr-defined]


def _check_placement(placement: int) -> int:
    if placement not in (1, 2):
        raise ValueError(f"placement must be 1 (left) or 2 (right), got {placement!r}")
    return int(placement)


def _weighted(weights: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """sum_k weights[:, k] * maps[k], in a fixed order (no reduction whose order varies)."""
    out = weights[:, 0, None, None] * maps[0][None]
    for k in range(1, maps.shape[0]):
        out = out + weights[:, k, None, None] * maps[k][None]
    return out


def _shift_envelope(shift: dict[str, Any], t: np.ndarray) -> np.ndarray:
    """0 outside a weight shift, 1 once its ramp (SHIFT_RAMP_S) is up, raised-cosine ramps."""
    rise = _cos_ramp((t - shift["start_s"]) / SHIFT_RAMP_S)
    fall = _cos_ramp((shift["end_s"] - t) / SHIFT_RAMP_S)
    return np.minimum(rise, fall)


def _rotation_arrays(pitch: np.ndarray, yaw: np.ndarray, roll: np.ndarray) -> list[list[np.ndarray]]:
    """The thigh's axes in the world (forward, left, up): Rz(yaw) Ry(-pitch) Rx(roll), per sample."""
    cr, sr = np.cos(roll), np.sin(roll)
    cb, sb = np.cos(-pitch), np.sin(-pitch)
    cy, sy = np.cos(yaw), np.sin(yaw)
    return [[cy * cb, cy * sb * sr - sy * cr, cy * sb * cr + sy * sr],
            [sy * cb, sy * sb * sr + cy * cr, sy * sb * cr - cy * sr],
            [-sb, cb * sr, cb * cr]]


def _apply(rot: list[list[np.ndarray]], v: np.ndarray) -> np.ndarray:
    """R @ v for each sample (v a constant 3-vector)."""
    return np.stack([rot[i][0] * v[0] + rot[i][1] * v[1] + rot[i][2] * v[2] for i in range(3)],
                    axis=1)


def _apply_transposed(rot: list[list[np.ndarray]], v: np.ndarray) -> np.ndarray:
    """R.T @ v[k] for each sample k."""
    return np.stack([rot[0][i] * v[:, 0] + rot[1][i] * v[:, 1] + rot[2][i] * v[:, 2]
                     for i in range(3)], axis=1)


def _apply_transposed_const(rot: np.ndarray, v: np.ndarray) -> np.ndarray:
    """M.T @ v[k] for each sample k (M a constant 3 x 3)."""
    return np.stack([rot[0, i] * v[:, 0] + rot[1, i] * v[:, 1] + rot[2, i] * v[:, 2]
                     for i in range(3)], axis=1)


def _body_rates(pitch: np.ndarray, yaw: np.ndarray, roll: np.ndarray, d_pitch: np.ndarray,
                d_yaw: np.ndarray, d_roll: np.ndarray) -> np.ndarray:
    """Angular velocity in the thigh's axes for R = Rz(yaw) Ry(b) Rx(roll), b = -pitch."""
    b, d_b = -pitch, -d_pitch
    return np.stack([d_roll - d_yaw * np.sin(b),
                     d_b * np.cos(roll) + d_yaw * np.sin(roll) * np.cos(b),
                     -d_b * np.sin(roll) + d_yaw * np.cos(roll) * np.cos(b)], axis=1)
