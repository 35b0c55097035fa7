"""The physiology targets (shared/reference/physiology.md, P1-P10) as measurements of the model.

One definition of each target, used by the tests (which assert every range),
by `scripts/calibrate_model.py` (which fits the free parameters to them) and
by the docs (which print the model's values beside the targets). A `Runner`
runs the model for a profile; the default is the public `simulate`, the
calibration passes one with trial parameters.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from edge.model.params import A_ALPHA, A_BETA, C_FIBRE, Profile

Runner = Callable[[np.ndarray, float, Profile], tuple[np.ndarray, np.ndarray]]
"""(pressure (T,), dt_s, profile) -> (conduction (T, 4), ectopic (T, 4)) for one site."""

NO_FLOW_MMHG = 250.0
NUMB = 0.5
BLOCK = 0.05
HEALTHY = Profile()
DIABETIC = Profile(diabetic=True)
HYPERTENSIVE = Profile(systolic_mmHg=160.0, diastolic_mmHg=100.0)
HYPOTENSIVE = Profile(systolic_mmHg=100.0, diastolic_mmHg=60.0)
# P8: pressures from below the threshold to beyond occlusion, where numbness must come
# sooner the higher the pressure.
GRADED_MMHG = tuple(float(p) for p in range(40, 82, 2))
# P9: blood pressures from 100/60 to 170/110.
THRESHOLD_PROFILES = (HYPOTENSIVE, HEALTHY, Profile(140.0, 90.0), Profile(170.0, 110.0))
SENSITIVITIES = (0.5, 1.0, 2.0)
SHORT_EPISODE_MIN = 12.0
FELT_ECTOPIC = 0.1  # pins and needles are no longer felt below this


def public_runner(pressure: np.ndarray, dt_s: float, profile: Profile
                  ) -> tuple[np.ndarray, np.ndarray]:
    from edge.model.driver import simulate

    result = simulate(pressure, dt_s=dt_s, profile=profile)
    return result.conduction[:, 0, :], result.ectopic[:, 0, :]


@dataclass(frozen=True, slots=True)
class Target:
    key: str
    target: str  # P1..P7, or "seed"
    what: str
    low: float
    high: float
    source: str

    def holds(self, value: float) -> bool:
        return self.low <= value <= self.high


def _minutes(index: int | None, dt_s: float) -> float:
    return math.inf if index is None else (index + 1) * dt_s / 60.0


def _first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


def _hold(pressure: float, minutes: float, dt_s: float) -> np.ndarray:
    return np.full(round(minutes * 60 / dt_s), pressure)


def _crossing_minutes(series: np.ndarray, index: int | None, level: float, before_start: float,
                      dt_s: float) -> float:
    """Minutes until `series` (one value per step, the first at dt) crosses `level`,
    interpolated between steps so that calibration sees a smooth measure."""
    if index is None:
        return math.inf
    before = series[index - 1] if index else before_start
    step = series[index] - before
    fraction = (level - before) / step if step else 1.0
    return (index + fraction) * dt_s / 60.0


def block_times(conduction: np.ndarray, dt_s: float) -> dict[str, float]:
    """Minutes to numb, complete sensory block and motor block (inf when never)."""
    return {"numb": _minutes(_first(conduction[:, A_BETA] < NUMB), dt_s),
            "sensory_block": _minutes(_first(conduction[:, A_BETA] < BLOCK), dt_s),
            "motor_block": _minutes(_first(conduction[:, A_ALPHA] < BLOCK), dt_s)}


def release_response(conduction: np.ndarray, ectopic: np.ndarray, release: int, dt_s: float
                     ) -> dict[str, float]:
    """Pins and needles (A-beta ectopic) and A-beta recovery after a release at step `release`."""
    after = ectopic[release:, A_BETA]
    peak_index = int(np.argmax(after))
    peak = float(after[peak_index])
    onset = _first(after > 0.1 * peak)
    if onset:  # interpolate the crossing between steps: the fit needs a smooth measure
        below, above = after[onset - 1], after[onset]
        onset_s = (onset - 1 + (0.1 * peak - below) / (above - below)) * dt_s + dt_s
    else:
        onset_s = math.inf if onset is None else 0.0
    fade = _first(after[peak_index:] < 0.1 * peak)
    beta = conduction[release:, A_BETA]
    nadir = float(conduction[release - 1, A_BETA])
    half_level = nadir + (1.0 - nadir) / 2
    half = _first(beta >= half_level)
    during = float(ectopic[:release, A_BETA].max()) if release else 0.0
    return {
        "onset_s": onset_s,
        "peak_min": (peak_index + 1) * dt_s / 60.0,
        "fade_min": math.inf if fade is None else (peak_index + fade + 1) * dt_s / 60.0,
        "peak": peak,
        "peak_over_compression": peak / during if during > 0 else math.inf,
        "abeta_half_min": _minutes(_first(beta >= NUMB), dt_s),
        "abeta_95_min": _minutes(_first(beta >= 0.95), dt_s),
        "recovery_half_time_min": _crossing_minutes(beta, half, half_level, nadir, dt_s),
    }


TARGETS: tuple[Target, ...] = (
    Target("p1_min_abeta", "P1", "30 mmHg, 180 min: lowest A-beta conduction", 0.7, 1.0,
           "Lundborg 1982; J Orthop Res 1993"),
    Target("p2_40_min_conduction", "P2", "40 mmHg, 240 min: lowest A-beta or A-alpha conduction "
           "(no complete block)", BLOCK, 1.0, "Gelberman et al. 1983"),
    Target("p2_50_block_min", "P2", "50 mmHg, 240 min: minutes to complete sensory and motor "
           "block (the later of the two)", 0.0, 240.0, "Gelberman et al. 1983"),
    Target("p3_numb_min", "P3", "no flow: minutes to numb (A-beta < 0.5)", 8.0, 14.0,
           "Lindstrom 1997"),
    Target("p3_sensory_block_min", "P3", "no flow: minutes to complete sensory block", 22.0, 38.0,
           "Hofmeijer et al. 2013"),
    Target("p3_motor_block_min", "P3", "no flow: minutes to motor block", 36.0, 56.0,
           "Hofmeijer et al. 2013"),
    Target("p4_max_deviation", "P4", "150, 200, 300 mmHg: largest relative deviation of the P3 "
           "times", 0.0, 0.10, "Lewis 1931; tourniquet literature"),
    Target("p5_beta_before_alpha", "P5", "every blocking run: A-beta numb and blocked before "
           "A-alpha (1 = always)", 1.0, 1.0, "Gasser & Erlanger; Hofmeijer 2013"),
    Target("p5_min_c_at_motor_block", "P5", "every blocking run: lowest C conduction at motor "
           "block", 0.5, 1.0, "J Physiol Sci 2008"),
    Target("p6_onset_s", "P6", "25 min no flow, release: seconds to pins and needles onset "
           "(A-beta ectopic above 10% of its peak)", 10.0, 120.0, "Reid 1931; Han 2008"),
    Target("p6_peak_min", "P6", "minutes from release to the pins-and-needles peak", 0.0, 3.0,
           "Reid 1931; Han 2008"),
    Target("p6_fade_min", "P6", "minutes from release until below 10% of the peak", 5.0, 15.0,
           "Reid 1931; Han 2008"),
    Target("p6_peak_over_compression", "P6", "peak over the highest ectopic level during the "
           "compression", 2.0, math.inf, "Reid 1931"),
    Target("p6_abeta_half_min", "P6", "minutes from release until A-beta conduction >= 0.5",
           0.0, 2.0, "Lindstrom 1997"),
    Target("p6_abeta_95_min", "P6", "minutes from release until A-beta conduction >= 0.95",
           0.0, 7.0, "Lindstrom 1997"),
    Target("p7_numb_min", "P7", "diabetic, no flow: minutes to numb", 18.0, 26.0,
           "Lindstrom, Lindblom & Brismar 1997"),
    Target("p7_half_time_min", "P7", "diabetic, 30 min no flow, release: recovery half-time "
           "(minutes to regain half the lost A-beta conduction)", 3.5, 6.5,
           "Lindstrom, Lindblom & Brismar 1997"),
    Target("p7_half_time_ratio", "P7", "diabetic over healthy recovery half-time", 3.0, 5.0,
           "Lindstrom, Lindblom & Brismar 1997"),
    Target("p8_50_over_no_flow", "P8", "50 mmHg: minutes to numb over the no-flow minutes",
           1.5, math.inf, "Rydevik, Lundborg & Bagge 1981; Lundborg 1982"),
    Target("p8_70_over_no_flow", "P8", "70 mmHg and up: largest relative deviation of the "
           "minutes to numb from the no-flow minutes", 0.0, 0.25,
           "Rydevik, Lundborg & Bagge 1981; Lundborg 1982"),
    Target("p8_strictly_falling", "P8", "40-80 mmHg in steps of 2: minutes to numb strictly "
           "fall with pressure once it numbs at all (1 = yes)", 1.0, 1.0,
           "Rydevik, Lundborg & Bagge 1981"),
    Target("p9_max_threshold_error", "P9", "100/60, 120/80, 140/90, 170/110: largest distance "
           "(mmHg) of the lowest pressure giving complete sensory block within 4 h from "
           "diastolic - 30", 0.0, 7.0, "Szabo/Gelberman 1983; Gelberman 1983"),
    Target("p9_lowest_threshold", "P9", "the lowest of those pressures (mmHg)", 25.0, math.inf,
           "Gelberman 1983"),
    Target("p10_k2_over_k1", "P10", "no flow: minutes to numb at k = 2 over k = 1", 0.4, 0.6,
           "seed article 002 Q2; Lindstrom 1997"),
    Target("p10_sooner_with_k", "P10", "50, 60, 80, 250 mmHg, k = 0.5, 1, 2: a larger k numbs "
           "sooner wherever a smaller one numbs (1 = always)", 1.0, 1.0,
           "seed article 002 Q2"),
    Target("p10_rest_change", "P10", "k = 0.5 and 2: largest change of any fibre class's "
           "resting conduction or ectopic activity", 0.0, 1e-3, "seed article 002 Q2"),
    Target("p10_fibre_order", "P10", "k = 0.5 and 2: every blocking run keeps P5's order "
           "(1 = always)", 1.0, 1.0, "Gasser & Erlanger; Hofmeijer 2013"),
    Target("seed_release_onset_s", "seed", "10 min no flow, release: seconds to pins and needles",
           0.0, 60.0, "seed article 002: pins and needles within the first minute"),
    Target("seed_normal_min", "seed", "12 min no flow, release: minutes until sensation is "
           "normal (A-beta >= 0.95 and its pins and needles below 0.1, for good)",
           2.0, 5.0, "seed article 002: normal sensation within 2-5 min of a short episode"),
)


def measure(run: Runner = public_runner, dt_s: float = 2.0) -> dict[str, float]:
    """Every target's measured value, by key."""
    values: dict[str, float] = {}
    conduction, _ = run(_hold(30.0, 180, dt_s), dt_s, HEALTHY)
    values["p1_min_abeta"] = float(conduction[:, A_BETA].min())
    conduction, _ = run(_hold(40.0, 240, dt_s), dt_s, HEALTHY)
    values["p2_40_min_conduction"] = float(conduction[:, [A_ALPHA, A_BETA]].min())
    conduction, _ = run(_hold(50.0, 240, dt_s), dt_s, HEALTHY)
    times = block_times(conduction, dt_s)
    values["p2_50_block_min"] = max(times["sensory_block"], times["motor_block"])

    no_flow = {}
    for pressure in (NO_FLOW_MMHG, 150.0, 200.0, 300.0):
        conduction, _ = run(_hold(pressure, 60, dt_s), dt_s, HEALTHY)
        no_flow[pressure] = block_times(conduction, dt_s)
    reference = no_flow[NO_FLOW_MMHG]
    values["p3_numb_min"] = reference["numb"]
    values["p3_sensory_block_min"] = reference["sensory_block"]
    values["p3_motor_block_min"] = reference["motor_block"]
    values["p4_max_deviation"] = max(
        abs(times[key] - reference[key]) / reference[key]
        for pressure, times in no_flow.items() for key in reference)

    values["p5_beta_before_alpha"], values["p5_min_c_at_motor_block"] = fibre_order(
        run, (HEALTHY, DIABETIC, HYPERTENSIVE, HYPOTENSIVE), dt_s)

    pressure = np.concatenate([_hold(NO_FLOW_MMHG, 25, dt_s), _hold(0.0, 30, dt_s)])
    conduction, ectopic = run(pressure, dt_s, HEALTHY)
    release = release_response(conduction, ectopic, round(25 * 60 / dt_s), dt_s)
    for key in ("onset_s", "peak_min", "fade_min", "peak_over_compression", "abeta_half_min",
                "abeta_95_min"):
        values[f"p6_{key}"] = release[key]

    conduction, _ = run(_hold(NO_FLOW_MMHG, 60, dt_s), dt_s, DIABETIC)
    values["p7_numb_min"] = block_times(conduction, dt_s)["numb"]
    half_times = {}
    for profile in (DIABETIC, HEALTHY):
        pressure = np.concatenate([_hold(NO_FLOW_MMHG, 30, dt_s), _hold(0.0, 40, dt_s)])
        conduction, ectopic = run(pressure, dt_s, profile)
        half_times[profile] = release_response(conduction, ectopic, round(30 * 60 / dt_s),
                                               dt_s)["recovery_half_time_min"]
    values["p7_half_time_min"] = half_times[DIABETIC]
    values["p7_half_time_ratio"] = half_times[DIABETIC] / half_times[HEALTHY]

    pressure = np.concatenate([_hold(NO_FLOW_MMHG, 10, dt_s), _hold(0.0, 15, dt_s)])
    conduction, ectopic = run(pressure, dt_s, HEALTHY)
    release = release_response(conduction, ectopic, round(10 * 60 / dt_s), dt_s)
    values["seed_release_onset_s"] = release["onset_s"]
    pressure = np.concatenate([_hold(NO_FLOW_MMHG, SHORT_EPISODE_MIN, dt_s),
                               _hold(0.0, 15, dt_s)])
    conduction, ectopic = run(pressure, dt_s, HEALTHY)
    values["seed_normal_min"] = normal_again_min(conduction, ectopic,
                                                 round(SHORT_EPISODE_MIN * 60 / dt_s), dt_s)
    values |= graded(run, dt_s)
    values |= thresholds(run, dt_s)
    values |= sensitivity(run, dt_s)
    return values


def fibre_order(run: Runner, profiles: tuple[Profile, ...], dt_s: float
                ) -> tuple[float, float]:
    """P5 over these profiles: (1 if A-beta always goes before A-alpha else 0, the lowest C
    conduction at motor block)."""
    ordered, lowest_c = 1.0, 1.0
    for profile in profiles:
        for pressure, minutes in ((NO_FLOW_MMHG, 90), (60.0, 240)):
            conduction, _ = run(_hold(pressure, minutes, dt_s), dt_s, profile)
            beta_numb = _first(conduction[:, A_BETA] < NUMB)
            alpha_numb = _first(conduction[:, A_ALPHA] < NUMB)
            motor = _first(conduction[:, A_ALPHA] < BLOCK)
            if beta_numb is None:
                continue
            if alpha_numb is not None and alpha_numb <= beta_numb:
                ordered = 0.0
            times = block_times(conduction, dt_s)
            if times["motor_block"] <= times["sensory_block"] and math.isfinite(
                    times["motor_block"]):
                ordered = 0.0
            if motor is not None:
                lowest_c = min(lowest_c, float(conduction[motor, C_FIBRE]))
    return ordered, lowest_c


def normal_again_min(conduction: np.ndarray, ectopic: np.ndarray, release: int,
                     dt_s: float) -> float:
    """Minutes from a release until A-beta conducts (>= 0.95) and its pins and needles are no
    longer felt (< FELT_ECTOPIC), both from then on."""
    normal = (conduction[release:, A_BETA] >= 0.95) & (ectopic[release:, A_BETA] < FELT_ECTOPIC)
    if not normal[-1]:
        return math.inf
    abnormal = np.flatnonzero(~normal)
    return 0.0 if abnormal.size == 0 else (int(abnormal[-1]) + 2) * dt_s / 60.0


def numb_minutes(run: Runner, pressure: float, profile: Profile, dt_s: float,
                 minutes: float = 240.0) -> float:
    """Minutes to numb with the pressure held from rest (inf: not within `minutes`), to the
    step's fraction."""
    conduction, _ = run(_hold(pressure, minutes, dt_s), dt_s, profile)
    index = _first(conduction[:, A_BETA] < NUMB)
    return _crossing_minutes(conduction[:, A_BETA], index, NUMB, 1.0, dt_s)


def graded(run: Runner, dt_s: float) -> dict[str, float]:
    """P8: how the minutes to numb fall from the threshold to occlusion, at 120/80."""
    by_pressure = {p: numb_minutes(run, p, HEALTHY, dt_s)
                   for p in (*GRADED_MMHG, 100.0, 150.0, NO_FLOW_MMHG)}
    no_flow = by_pressure[NO_FLOW_MMHG]
    times = [by_pressure[p] for p in GRADED_MMHG]
    finite = [t for t in times if math.isfinite(t)]
    first = next((i for i, t in enumerate(times) if math.isfinite(t)), len(times))
    falling = len(finite) >= 2 and len(finite) == len(times) - first and all(
        later < earlier for earlier, later in pairwise(finite))
    return {"p8_50_over_no_flow": by_pressure[50.0] / no_flow,
            "p8_70_over_no_flow": max(abs(by_pressure[p] / no_flow - 1.0)
                                      for p in (70.0, 100.0, 150.0)),
            "p8_strictly_falling": 1.0 if falling else 0.0}


def block_threshold_mmHg(run: Runner, profile: Profile, dt_s: float,
                         tolerance_mmHg: float = 0.25) -> float:
    """The lowest held pressure that gives complete sensory block within 4 h (bisection)."""
    def blocks(pressure: float) -> bool:
        conduction, _ = run(_hold(pressure, 240, dt_s), dt_s, profile)
        return bool((conduction[:, A_BETA] < BLOCK).any())

    low, high = 5.0, NO_FLOW_MMHG
    while high - low > tolerance_mmHg:
        middle = (low + high) / 2
        low, high = (low, middle) if blocks(middle) else (middle, high)
    return high


def thresholds(run: Runner, dt_s: float) -> dict[str, float]:
    """P9: each profile's block threshold against diastolic - 30."""
    found = {p: block_threshold_mmHg(run, p, dt_s) for p in THRESHOLD_PROFILES}
    return {"p9_max_threshold_error": max(abs(t - (p.diastolic_mmHg - 30.0))
                                          for p, t in found.items()),
            "p9_lowest_threshold": min(found.values())}


def sensitivity(run: Runner, dt_s: float) -> dict[str, float]:
    """P10: what a person's own sensitivity k changes, and what it leaves alone."""
    people = {k: Profile(sensitivity=k) for k in SENSITIVITIES}
    sooner = 1.0
    for pressure in (50.0, 60.0, 80.0, NO_FLOW_MMHG):
        times = [numb_minutes(run, pressure, people[k], dt_s) for k in SENSITIVITIES]
        for smaller, larger in pairwise(times):
            if math.isfinite(smaller) and not larger < smaller:
                sooner = 0.0
    rest = {k: run(np.zeros(round(3600 / dt_s)), dt_s, people[k]) for k in SENSITIVITIES}
    change = max(float(np.abs(rest[k][i][-1] - rest[1.0][i][-1]).max())
                 for k in (0.5, 2.0) for i in (0, 1))
    ordered, lowest_c = fibre_order(run, (people[0.5], people[2.0]), dt_s)
    return {"p10_k2_over_k1": numb_minutes(run, NO_FLOW_MMHG, people[2.0], dt_s)
            / numb_minutes(run, NO_FLOW_MMHG, people[1.0], dt_s),
            "p10_sooner_with_k": sooner, "p10_rest_change": change,
            "p10_fibre_order": 1.0 if ordered == 1.0 and lowest_c >= 0.5 else 0.0}


def report(values: dict[str, float]) -> str:
    """The targets as a markdown table with the model's values beside them."""
    lines = ["| # | what | target | model | |", "|---|---|---|---|---|"]
    for target in TARGETS:
        value = values[target.key]
        high = "" if math.isinf(target.high) else f"{target.high:g}"
        wanted = (f"{target.low:g}" if target.low == target.high
                  else f">= {target.low:g}" if not high else f"{target.low:g} - {high}")
        lines.append(f"| {target.target} | {target.what} | {wanted} | {value:.3g} | "
                     f"{'ok' if target.holds(value) else 'MISS'} |")
    return "\n".join(lines)
