"""Fit the nerve model's free parameters to the physiology targets, and print the targets table.

    .venv/bin/python scripts/calibrate_model.py            # the targets table, current values
    .venv/bin/python scripts/calibrate_model.py --fit      # fit, then print values and table

The fit minimises a penalty over every target in `edge.model.validation`
(outside its range: large; inside: a small pull to its centre), plus the
rest condition (conduction >= 0.99 and ectopic near 0 at 0 mmHg), with
scipy's Nelder-Mead on log-parameters. It prints the fitted values to copy
into `edge/model/params.py`, whose sources say which target fixed each one.
Needs scipy (`pip install -e '.[calibrate]'`).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from edge.model.driver import run_kernel, settle
from edge.model.params import PER_FIBRE, SHARED, Profile, kernel_parameters
from edge.model.validation import TARGETS, measure, report

SHARED_FREE = ["perfusion_half_of_threshold", "perfusion_hill", "flow_reopen_s",
               "atp_supply_per_min", "atp_use_half",
               "pump_half_atp", "depolarise_per_min", "repolarise_per_min",
               "sodium_load_per_min", "sodium_clear_per_min", "diabetic_use_factor",
               "diabetic_recovery_factor"]
FIBRE_FREE = ["atp_use_per_min", "block_depolarisation"]
BETA_FREE = ["ectopic_gain", "tingle_gain"]  # fitted on A-beta; other classes keep their ratio


def current_values() -> dict[str, float | tuple[float, ...]]:
    values: dict[str, float | tuple[float, ...]] = {k: p.value for k, p in SHARED.items()}
    values |= {k: tuple(p.value for p in ps) for k, ps in PER_FIBRE.items()}
    return values


def pack(values, free: set[str] | None = None) -> np.ndarray:
    """The free parameters (all, or those named in `free`) as log-values."""
    vector = [values[k] for k in SHARED_FREE if free is None or k in free]
    for name in FIBRE_FREE:
        if free is None or name in free:
            vector += list(values[name])
    vector += [values[name][1] for name in BETA_FREE if free is None or name in free]
    return np.log(np.array(vector, dtype=float))


def unpack(vector: np.ndarray, base, free: set[str] | None = None) -> dict:
    x = list(np.exp(vector))
    values = dict(base)
    for k in SHARED_FREE:
        if free is None or k in free:
            values[k] = x.pop(0)
    for name in FIBRE_FREE:
        if free is None or name in free:
            values[name] = tuple(x.pop(0) for _ in range(4))
    for name in BETA_FREE:
        if free is None or name in free:
            beta = x.pop(0)
            ratio = beta / base[name][1]
            values[name] = tuple(v * ratio for v in base[name])
    return values


def runner_for(values):
    cache: dict[Profile, tuple] = {}

    def run(pressure: np.ndarray, dt_s: float, profile: Profile):
        if profile not in cache:
            params = kernel_parameters(profile, values)
            cache[profile] = (params, settle(params))
        params, rest = cache[profile]
        conduction, ectopic = run_kernel(params, pressure[:, None], dt_s, rest.copy())
        return conduction[:, 0, :], ectopic[:, 0, :]

    return run


def penalty(measured: dict[str, float], rest: tuple[float, float]) -> float:
    total = 0.0
    for target in TARGETS:
        value = measured[target.key]
        if not math.isfinite(value):
            total += 0.0 if (math.isinf(target.high) and value > 0) else 25.0
            continue
        high = target.high if math.isfinite(target.high) else target.low * 2.0
        centre, half = (target.low + high) / 2, max((high - target.low) / 2, 1e-3)
        if target.holds(value):
            total += 0.2 * ((value - centre) / half) ** 2
        else:
            distance = min(abs(value - target.low), abs(value - target.high))
            total += 1.0 + (distance / half) ** 2
    min_conduction, max_ectopic = rest
    total += 100.0 * max(0.0, 0.995 - min_conduction) + 100.0 * max(0.0, max_ectopic - 0.01)
    return total


def rest_check(run) -> tuple[float, float]:
    conduction, ectopic = run(np.zeros(8 * 360), 10.0, Profile())
    return float(conduction.min()), float(ectopic.max())


def partial_block(run) -> float:
    """A smooth stand-in for P2's "complete block at 50 mmHg" while the fit is far from it:
    the higher of the lowest A-alpha and A-beta conductions over 240 min (wanted < 0.05)."""
    conduction, _ = run(np.full(240 * 15, 50.0), 4.0, Profile())
    return float(conduction[:, :2].min(axis=0).max())


def objective(vector: np.ndarray, base, free: set[str] | None = None) -> float:
    try:
        values = unpack(vector, base, free)
        run = runner_for(values)
        return (penalty(measure(run, dt_s=2.0), rest_check(run))
                + 10.0 * max(0.0, partial_block(run) - 0.03))
    except (ValueError, ZeroDivisionError, FloatingPointError):
        return 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", action="store_true", help="fit the free parameters first")
    parser.add_argument("--iterations", type=int, default=6000)
    parser.add_argument("--hill", type=int, default=None,
                        help="conduction Hill exponent to fit with (default: the current one)")
    parser.add_argument("--free", default=None,
                        help="fit only these parameters (comma-separated names; default: "
                             "every free one)")
    args = parser.parse_args()
    values = current_values()
    free = set(args.free.split(",")) if args.free else None
    unknown = (free or set()) - set(SHARED_FREE + FIBRE_FREE + BETA_FREE)
    if unknown:
        parser.error(f"--free: not a free parameter: {', '.join(sorted(unknown))}; valid: "
                     f"{', '.join(SHARED_FREE + FIBRE_FREE + BETA_FREE)}")
    if args.hill:
        values["conduction_hill"] = float(args.hill)
    if args.fit:
        from scipy.optimize import minimize

        started = time.perf_counter()
        start = pack(values, free)
        print(f"start penalty {objective(start, values, free):.3f}")
        result = minimize(objective, start, args=(values, free), method="Nelder-Mead",
                          options={"maxiter": args.iterations, "maxfev": args.iterations,
                                   "xatol": 1e-4, "fatol": 1e-6, "adaptive": True})
        values = unpack(result.x, values, free)
        print(f"fitted in {time.perf_counter() - started:.0f} s: penalty {result.fun:.4f} "
              f"({result.nfev} evaluations)")
        for key in SHARED_FREE + ["conduction_hill"]:
            print(f"  {key} = {float(values[key]):.4g}")
        for key in FIBRE_FREE + BETA_FREE:
            print(f"  {key} = ({', '.join(f'{v:.4g}' for v in values[key])})")
    run = runner_for(values)
    print(report(measure(run, dt_s=1.0)))
    low, high = rest_check(run)
    print(f"\nrest (0 mmHg, 8 h): lowest conduction {low:.4f}, highest ectopic {high:.2e}")


if __name__ == "__main__":
    main()
