"""The nerve model's parameters, each with its value and where it comes from, and profiles.

One place for every number the model uses. Values marked "fitted" were fitted
by `scripts/calibrate_model.py` to the targets in `shared/reference/physiology.md`
(P1-P7); the others come from the cited source. `Profile` is the person
(blood pressure, diabetes); `kernel_parameters` turns a profile into the
plain arrays the kernels take (numba freezes module globals into its cache,
so nothing is read from a global inside a kernel).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

FIBERS = ("A_alpha", "A_beta", "A_delta", "C")
A_ALPHA, A_BETA, A_DELTA, C_FIBRE = range(4)
SENSITIVITY_RANGE = (0.5, 2.0)


@dataclass(frozen=True, slots=True)
class Parameter:
    value: float
    unit: str
    meaning: str
    source: str


# Shared by every fibre class. Rates are per minute here and converted to per second below.
SHARED: dict[str, Parameter] = {
    "perfusion_half_of_threshold": Parameter(
        0.55, "x threshold", "nerve pressure that halves perfusion, as a fraction of the "
        "person's threshold for loss of function (threshold_below_diastolic_mmHg below "
        "diastolic, never below threshold_floor_mmHg)",
        "fitted to P2, P8, P9: flow fails gradually from the threshold and stops some 20-30 "
        "mmHg above it (Rydevik, Lundborg & Bagge 1981)"),
    "threshold_below_diastolic_mmHg": Parameter(
        30.0, "mmHg", "how far below diastolic pressure nerve function starts to be lost",
        "Szabo/Gelberman group, J Orthop Res 1983: about 30 below diastolic; not fitted"),
    "threshold_floor_mmHg": Parameter(
        25.0, "mmHg", "the lowest threshold, whatever the blood pressure",
        "P9 (never below 25 mmHg; Gelberman 1983): a low diastolic pressure does not let "
        "venular pressures alone stop a nerve; not fitted"),
    "perfusion_hill": Parameter(
        5.0, "-", "steepness of perfusion loss with tissue pressure (Hill exponent)",
        "fitted to P1, P2, P8: arteriolar and capillary flow fail from 40-50 mmHg and flow "
        "stops at 60-80 (Rydevik 1981), a graded loss, not a step"),
    "flow_close_s": Parameter(
        2.0, "s", "time for the nerve's blood flow to fall when pressure rises",
        "thin-walled vasa nervorum collapse within seconds of compression (seed article 002, "
        "step 1; Rydevik 1981); not fitted"),
    "flow_reopen_s": Parameter(
        24.28, "s", "time for the nerve's blood flow to return when pressure falls",
        "fitted to P6 (pins and needles start 10 s - 2 min after release) and the seed's "
        "timeline (tingling 10-20 s after release)"),
    "atp_supply_per_min": Parameter(
        2.353, "1/min", "A-beta's ATP resynthesis capacity at full perfusion; every class's "
        "is in the same proportion to its own resting use (the same reserve), so partial "
        "flow slows every class's run-down alike",
        "fitted to P6 (recovery after release) and P8 (the reserve sets how little flow "
        "still keeps a nerve conducting)"),
    "atp_adp_half": Parameter(
        0.02, "-", "ADP half-saturation of resynthesis (keeps ATP near 1 at rest)",
        "fitted to P1 and the rest state"),
    "atp_use_half": Parameter(
        0.01, "-", "ATP half-saturation of consumption",
        "fitted to P3 and P2 (how far ATP falls under partial flow: low enough at 50 mmHg "
        "for motor block, P2, while the run-down is slower there, P8)"),
    "pump_half_atp": Parameter(
        0.27, "-", "ATP at which the Na/K pump runs at half its resting rate",
        "fitted to P3"),
    "depolarise_per_min": Parameter(
        0.05211, "1/min", "depolarisation rate with the pump stopped (Na in, K out)",
        "fitted to P3"),
    "repolarise_per_min": Parameter(
        0.927, "1/min", "repolarisation rate with the pump running",
        "fitted to P6 (A-beta back to 0.5 within 2 min, 0.95 by 7 min)"),
    "sodium_load_per_min": Parameter(
        0.04175, "1/min", "intra-axonal sodium loading with the pump stopped",
        "fitted to P6 and the seed's short episode (after 12 min, normal sensation within "
        "2-5 min): a short episode loads less sodium, so its pins and needles fade sooner"),
    "sodium_clear_per_min": Parameter(
        0.2828, "1/min", "sodium extrusion with the pump running",
        "fitted to P6 (pins and needles fade by 10 +/- 5 min)"),
    "conduction_hill": Parameter(
        4.0, "-", "steepness of conduction block with depolarisation (integer Hill exponent)",
        "fitted to P3 (numb 11 min, complete sensory block 30 min)"),
    "diabetic_use_factor": Parameter(
        0.3383, "x", "ATP use of a diabetic nerve relative to a healthy one",
        "fitted to P7 (numb at 22 +/- 4 min: resistance to ischaemic conduction failure, "
        "Lindstrom, Lindblom & Brismar 1997)"),
    "diabetic_recovery_factor": Parameter(
        0.2245, "x", "reperfusion, ATP resynthesis, repolarisation and sodium clearance of a "
        "diabetic nerve relative to a healthy one",
        "fitted to P7 (recovery half-time 5 +/- 1.5 min after 30 min)"),
}

# Per fibre class, in FIBERS order.
PER_FIBRE: dict[str, tuple[Parameter, ...]] = {
    "atp_use_per_min": tuple(Parameter(v, "1/min", "ATP use at rest", s) for v, s in (
        (0.1463, "fitted to P3 (motor block 46 min)"),
        (0.1768, "fitted to P3 (numb 11 min): large sensory fibres fail first (Lewis 1931)"),
        (0.0808, "fitted to P5"),
        (0.0351, "fitted to P5: C fibres still conduct after motor block (J Physiol Sci 2008)"))),
    "block_depolarisation": tuple(Parameter(v, "-", "depolarisation halving conduction", s)
                                  for v, s in ((0.419, "fitted to P3, P5"),
                                               (0.3393, "fitted to P3"),
                                               (0.5201, "fitted to P5"),
                                               (0.8337, "fitted to P5"))),
    "ectopic_gain": tuple(Parameter(v, "-", "post-ischaemic ectopic drive per sodium load", s)
                          for v, s in ((0.5457, "fitted to P6"),
                                       (0.7277, "fitted to P6 and the seed's short episode"),
                                       (0.5457, "fitted to P6"), (0.3637, "fitted to P6"))),
    "tingle_gain": tuple(Parameter(v, "-", "ectopic drive in the early-depolarisation band", s)
                         for v, s in ((0.06811, ("fitted to P6 (peak at least twice any level "
                                             "during compression)")),
                                      (0.102, "fitted to P6"), (0.06811, "fitted to P6"),
                                      (0.03402, "fitted to P6"))),
}


@dataclass(frozen=True, slots=True)
class Profile:
    """The person whose nerves are modelled. Blood pressure sets how much pressure stops flow;
    `sensitivity` (0.5..2, 1 the calibrated adult) is their own: thin padding, a thin nerve or
    a poor reserve make a larger k, which numbs sooner at any pressure that numbs."""

    systolic_mmHg: float = 120.0
    diastolic_mmHg: float = 80.0
    diabetic: bool = False
    sensitivity: float = 1.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "diabetic":
                if not isinstance(value, bool):
                    raise ValueError(f"Profile.diabetic must be True or False, got {value!r}")
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value):
                raise ValueError(f"Profile.{f.name} must be a finite number, got {value!r}")
        if not (40 <= self.diastolic_mmHg <= 140 and 70 <= self.systolic_mmHg <= 260
                and self.diastolic_mmHg < self.systolic_mmHg):
            raise ValueError(
                "Profile blood pressure must be systolic 70..260 over diastolic 40..140 mmHg, "
                "with diastolic below systolic; "
                f"got {self.systolic_mmHg}/{self.diastolic_mmHg}")
        if not SENSITIVITY_RANGE[0] <= self.sensitivity <= SENSITIVITY_RANGE[1]:
            raise ValueError(f"Profile.sensitivity must be {SENSITIVITY_RANGE[0]:g}.."
                             f"{SENSITIVITY_RANGE[1]:g} (1 = the calibrated adult), "
                             f"got {self.sensitivity!r}")

    @property
    def mean_arterial_mmHg(self) -> float:
        return self.diastolic_mmHg + (self.systolic_mmHg - self.diastolic_mmHg) / 3.0

    def threshold_mmHg(self, below_diastolic_mmHg: float | None = None,
                       floor_mmHg: float | None = None) -> float:
        """Nerve pressure at which this person's nerve starts to lose function."""
        below = SHARED["threshold_below_diastolic_mmHg"].value if below_diastolic_mmHg is None \
            else below_diastolic_mmHg
        floor = SHARED["threshold_floor_mmHg"].value if floor_mmHg is None else floor_mmHg
        return max(self.diastolic_mmHg - below, floor)


# Positions in the shared parameter vector the kernels take.
(P_HALF, P_HILL, K_FLOW_CLOSE, K_FLOW_OPEN, K_SUPPLY, K_ADP, K_USE_HALF, K_PUMP_HALF, K_DEPOL, K_REPOL,
 K_NA_LOAD, K_NA_CLEAR, K_SENSITIVITY, N_SHARED) = range(14)


@dataclass(frozen=True, slots=True)
class KernelParameters:
    """Plain arrays for the kernels: `shared` (N_SHARED,), per-fibre (4,) arrays, the Hill int."""

    shared: np.ndarray
    atp_use: np.ndarray
    block: np.ndarray
    ectopic_gain: np.ndarray
    tingle_gain: np.ndarray
    conduction_hill: int


def kernel_parameters(profile: Profile,
                      overrides: dict[str, float | tuple[float, ...]] | None = None
                      ) -> KernelParameters:
    """The profile's parameters in per-second units; `overrides` (by name) serve calibration."""
    values: dict[str, float | tuple[float, ...]] = {k: p.value for k, p in SHARED.items()}
    values |= {k: tuple(p.value for p in ps) for k, ps in PER_FIBRE.items()}
    values |= overrides or {}
    per_s = 1.0 / 60.0
    diabetic = profile.diabetic
    use_factor = float(values["diabetic_use_factor"]) if diabetic else 1.0
    recovery_factor = float(values["diabetic_recovery_factor"]) if diabetic else 1.0
    shared = np.zeros(N_SHARED)
    threshold = profile.threshold_mmHg(float(values["threshold_below_diastolic_mmHg"]),
                                       float(values["threshold_floor_mmHg"]))
    shared[P_HALF] = threshold * float(values["perfusion_half_of_threshold"])
    shared[P_HILL] = float(values["perfusion_hill"])
    shared[K_FLOW_CLOSE] = float(values["flow_close_s"])
    shared[K_FLOW_OPEN] = float(values["flow_reopen_s"]) / recovery_factor
    # Resynthesis per unit of the class's own (diabetic-adjusted) use: the same reserve
    # for every class, A-beta's capacity over A-beta's healthy use.
    reserve = float(values["atp_supply_per_min"]) / float(values["atp_use_per_min"][A_BETA])
    shared[K_SUPPLY] = reserve * recovery_factor / use_factor
    shared[K_ADP] = float(values["atp_adp_half"])
    shared[K_USE_HALF] = float(values["atp_use_half"])
    shared[K_PUMP_HALF] = float(values["pump_half_atp"])
    # A sensitive nerve (k > 1) spends its energy k times as fast for the same resynthesis,
    # and its membrane turns over k times as fast, both ways: once the pump falters it
    # depolarises and loads sodium sooner, while at rest, where gain and loss balance, it
    # sits where the calibrated adult's does.
    k = profile.sensitivity
    shared[K_SENSITIVITY] = k
    shared[K_DEPOL] = float(values["depolarise_per_min"]) * per_s * k
    shared[K_REPOL] = float(values["repolarise_per_min"]) * per_s * recovery_factor * k
    shared[K_NA_LOAD] = float(values["sodium_load_per_min"]) * per_s * k
    shared[K_NA_CLEAR] = float(values["sodium_clear_per_min"]) * per_s * recovery_factor * k

    def fibre(name: str, scale: float = 1.0) -> np.ndarray:
        return np.array(values[name], dtype=np.float64) * scale

    return KernelParameters(
        shared=shared,
        atp_use=fibre("atp_use_per_min", per_s * use_factor),
        block=fibre("block_depolarisation"),
        ectopic_gain=fibre("ectopic_gain"),
        tingle_gain=fibre("tingle_gain"),
        conduction_hill=round(float(values["conduction_hill"])),
    )
