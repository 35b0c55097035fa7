"""Speed of the nerve compression model: kernel throughput, prediction latency, start-up.

Pinned to one core. Prints one table with each figure, its unit, its target
and PASS/MISS:

- site-fibre steps per second of the numba kernel (`kernels.simulate_kernel`
  on preallocated arrays), of the numpy reference (`reference.simulate`) and
  of the same kernel code run as plain Python (the dispatchers' `.py_func`);
- `time_to_numbness` latency for 8 sites from a mid-compression state, for
  pressures that numb and for pressures that never do (no numbness found:
  the search runs until the state settles or the horizon ends);
- the band (edge/model/band.py): what following the nerves at the band's two edges as
  well as the centre adds to one second of 8 sites (`NerveBand.advance`, with its
  time to numbness at each quantile);
- a person's report (edge/model/sensitivity.py): one "my leg fell asleep" update over a
  stretch of one leg's 3 sites loaded for the whole hour kept (the worst case: 41 values
  of k x 3 pressure scales, each simulated through it);
- start-up in fresh subprocesses with an empty temporary NUMBA_CACHE_DIR:
  cold (compile and write the cache) and warm (load it), each timed inside
  the subprocess from before `import edge.model` to the end of the first
  `simulate` and the first `time_to_numbness`.

    .venv/bin/python bench/model.py [--quick]

Whole run: well under 2 minutes (most of it is the cold compile).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import fields
from pathlib import Path
from types import SimpleNamespace

import numpy as np

# This benchmark measures numba's kernels (JIT, cached), not the ahead-of-time build.
os.environ["LEGWAKE_MODEL_JIT"] = "1"

from edge.model import (
    NerveState,
    Profile,
    kernels,
    reference,
    rest_state,
    simulate,
    time_to_numbness,
)
from edge.model.band import BAND, NerveBand
from edge.model.driver import NUMBNESS_STEP_S, _parameters
from edge.model.params import KernelParameters
from edge.model.sensitivity import Evidence, Learner, Posterior

REPO = Path(__file__).resolve().parent.parent
KERNEL_STEPS_PER_S_TARGET = 100e6
NUMBNESS_LATENCY_TARGET_S = 1e-3
WARM_START_TARGET_S = 1.0
HORIZON_S = 3600.0


def pin_to_one_core() -> int:
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def compression_pressure(steps: int, sites: int) -> np.ndarray:
    """Nerve pressure (steps, sites), 1 s steps: each site alternates 25 min at 250 mmHg and
    20 min off, site s shifted by s * 97 s (the same for any number of sites, so runs of
    different sizes can be compared), so every part of the model's range is exercised."""
    period_s = 45 * 60
    t = np.arange(steps)[:, None] + np.arange(sites)[None, :] * 97.0
    return np.where((t % period_s) < 25 * 60, 250.0, 0.0)


def best_of(repeat: int, run: Callable[[], None]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def kernel_call(sites_pressure: np.ndarray) -> tuple[Callable[..., None], tuple, list]:
    """The arguments `simulate` passes to `kernels.simulate_kernel` for this pressure, captured
    from a real call (so the benchmark follows the driver when the kernel's signature moves),
    with a copy of each array as it was before the call."""
    captured: list[tuple[tuple, list]] = []
    real = kernels.simulate_kernel

    def record(*args: object) -> None:
        captured.append((args, [a.copy() if isinstance(a, np.ndarray) else a for a in args]))
        real(*args)

    rest_state(sites_pressure.shape[1])  # settles the rest state (a kernel call) beforehand
    kernels.simulate_kernel = record
    try:
        simulate(sites_pressure)
    finally:
        kernels.simulate_kernel = real
    args, before = captured[-1]
    return real, args, before


def bench_numba(steps: int, sites: int, repeat: int) -> tuple[float, np.ndarray]:
    """The compiled kernel on preallocated arrays; the state arrays are reset before each run."""
    pressure = compression_pressure(steps, sites)
    kernel, args, before = kernel_call(pressure)
    state = [(a, b) for a, b in zip(args, before)
             if isinstance(a, np.ndarray) and a.ndim < 3 and a is not args[0]]
    outputs = [a for a in args if isinstance(a, np.ndarray) and a.ndim == 3]

    def run() -> None:
        for array, initial in state:
            np.copyto(array, initial)
        kernel(*args)

    seconds = best_of(repeat, run)
    return steps * sites * 4 / seconds, outputs[0]


def bench_reference(params: KernelParameters, steps: int, sites: int, repeat: int
                    ) -> tuple[float, np.ndarray]:
    pressure = compression_pressure(steps, sites)
    result: list[np.ndarray] = []

    def run() -> None:
        state = rest_state(sites)
        arrays = [getattr(state, f.name) for f in fields(NerveState)]
        result[:] = [reference.simulate(pressure, 1.0, params, *arrays,
                                        kernels.MAX_SUBSTEP_S)[0]]

    seconds = best_of(repeat, run)
    return steps * sites * 4 / seconds, result[0]


def pure_python_kernels(count_advance: list[int] | None = None) -> SimpleNamespace:
    """Every kernel as plain Python: each dispatcher's `.py_func`, rebuilt so that the kernels
    it calls are the plain-Python ones too (what NUMBA_DISABLE_JIT=1 would run).

    With `count_advance`, its first item counts calls of `advance` (one per model step)."""
    namespace = dict(vars(kernels))
    plain = {name: obj.py_func for name, obj in namespace.items() if hasattr(obj, "py_func")}
    for name, func in plain.items():
        namespace[name] = types.FunctionType(func.__code__, namespace, func.__name__,
                                             func.__defaults__, func.__closure__)
    if count_advance is not None:
        advance = namespace["advance"]

        def counted(*args: object) -> object:
            count_advance[0] += 1
            return advance(*args)

        namespace["advance"] = counted
    return SimpleNamespace(**{name: namespace[name] for name in plain})


@contextlib.contextmanager
def kernels_replaced(replacement: SimpleNamespace) -> Iterator[None]:
    """Run the driver on other kernels (`kernels.<name>` is looked up at each call)."""
    saved = {name: getattr(kernels, name) for name in vars(replacement)}
    for name, func in vars(replacement).items():
        setattr(kernels, name, func)
    try:
        yield
    finally:
        for name, func in saved.items():
            setattr(kernels, name, func)


def bench_python(steps: int, sites: int, repeat: int) -> tuple[float, np.ndarray]:
    """`simulate` with the kernels run as plain Python, numpy arrays and all; the driver's
    own work (checks, allocation) is a negligible part of it."""
    pressure = compression_pressure(steps, sites)
    result: list[np.ndarray] = []

    def run() -> None:
        result[:] = [simulate(pressure).conduction]

    with kernels_replaced(pure_python_kernels()):
        seconds = best_of(repeat, run)
    return steps * sites * 4 / seconds, result[0]


def numbness_search_steps(pressure: np.ndarray, state: NerveState) -> list[int]:
    """How many model steps `time_to_numbness` runs for each site (counted in plain Python)."""
    counts = []
    for s in range(pressure.size):
        count = [0]
        one_site = NerveState(*(getattr(state, f.name)[s:s + 1] for f in fields(NerveState)))
        with kernels_replaced(pure_python_kernels(count)):
            time_to_numbness(pressure[s:s + 1], state=one_site, horizon_s=HORIZON_S)
        counts.append(count[0])
    return counts


def highest_never_numb(state: NerveState) -> float:
    """The highest whole mmHg below which no pressure numbs the first site of `state` within
    the horizon (the parameters move while the model is tuned, so it is found, not fixed)."""
    candidates = np.arange(0.0, 301.0)
    first = NerveState(*(np.repeat(getattr(state, f.name)[:1], candidates.size, axis=0)
                         for f in fields(NerveState)))
    numb = np.isfinite(time_to_numbness(candidates, state=first, horizon_s=HORIZON_S))
    return float(candidates[np.argmax(numb)] - 1) if numb.any() else float(candidates[-1])


def latency(pressure: np.ndarray, state: NerveState, calls: int
            ) -> tuple[float, float, np.ndarray]:
    answer = time_to_numbness(pressure, state=state, horizon_s=HORIZON_S)
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        time_to_numbness(pressure, state=state, horizon_s=HORIZON_S)
        times.append(time.perf_counter() - started)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))], answer


def band_cost(calls: int) -> tuple[float, float]:
    """Median seconds of one second's NerveBand.advance for 8 sites mid-compression (6 min at
    150 mmHg): the centre alone, and with the band's two edges."""
    history = np.full((6 * 60, 8), 150.0)
    second = np.full((1, 8), 150.0)
    medians = []
    for quantiles in ((), BAND):
        band = NerveBand(8, Profile(), Posterior(1.0, Evidence()), quantiles,
                         horizon_s=HORIZON_S, history=history)
        band.advance(second)
        times = []
        for _ in range(calls):
            started = time.perf_counter()
            band.advance(second)
            times.append(time.perf_counter() - started)
        medians.append(statistics.median(times))
    return medians[0], medians[1]


def report_cost(repeat: int) -> float:
    """Seconds of one "my leg fell asleep" update after the longest stretch the agent keeps
    (an hour at 150 mmHg, the whole history): the worst case (best of)."""
    pressure = np.zeros((120 + 3600 - 120, 3))
    pressure[120:, 2] = 150.0
    learner = Learner(Profile())
    learner.numb(Evidence(), pressure)  # every k's parameters and rest state made once
    return best_of(repeat, lambda: learner.numb(Evidence(), pressure))


STARTUP_CODE = """
import time
started = time.perf_counter()
import edge.model
from edge.model import simulate, time_to_numbness
import numpy as np
imported = time.perf_counter()
result = simulate(np.full(600, 250.0))
simulated = time.perf_counter()
time_to_numbness(np.full(8, 250.0), state=simulate(np.full((60, 8), 250.0)).final_state)
predicted = time.perf_counter()
import json
print(json.dumps({"import_s": imported - started, "simulate_s": simulated - imported,
                  "time_to_numbness_s": predicted - simulated, "total_s": predicted - started}))
"""


def startup(cache_dir: str) -> tuple[dict[str, float], float]:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", STARTUP_CODE], cwd=REPO, env=env,
                          capture_output=True, text=True, check=True, timeout=300)
    wall = time.perf_counter() - started
    return json.loads(done.stdout.strip().splitlines()[-1]), wall


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer calls")
    args = parser.parse_args()
    cpu = pin_to_one_core()
    print(f"pinned to cpu {cpu} (os.sched_setaffinity; subprocesses inherit it); "
          f"numba {kernels.numba.__version__}, numpy {np.__version__}, "
          f"python {sys.version.split()[0]}")
    params = _parameters(Profile())
    rows: list[tuple[str, str, str, str]] = []
    notes: list[str] = []

    numba_size = (2000, 64) if args.quick else (20000, 64)
    reference_size = (500, 64) if args.quick else (2000, 64)
    python_size = (300, 8) if args.quick else (1500, 8)
    numba_rate, numba_conduction = bench_numba(*numba_size, repeat=5)
    reference_rate, reference_conduction = bench_reference(params, *reference_size, repeat=3)
    python_rate, python_conduction = bench_python(*python_size, repeat=3)
    # The three must compute the same thing, or the comparison means nothing.
    gap_reference = float(np.abs(reference_conduction
                                 - numba_conduction[:reference_size[0]]).max())
    gap_python = float(np.abs(python_conduction
                              - numba_conduction[:python_size[0], :python_size[1]]).max())
    rows += [
        (f"numba kernel, T={numba_size[0]} x S={numba_size[1]}, dt 1 s (best of 5)",
         f"{numba_rate / 1e6:,.1f} M site-fibre steps/s",
         f">= {KERNEL_STEPS_PER_S_TARGET / 1e6:.0f} M/s",
         verdict(numba_rate >= KERNEL_STEPS_PER_S_TARGET)),
        (f"numpy reference, T={reference_size[0]} x S={reference_size[1]} (best of 3)",
         f"{reference_rate / 1e6:,.2f} M site-fibre steps/s",
         f"- (numba {numba_rate / reference_rate:,.0f}x)", ""),
        (f"pure Python (kernels' .py_func), T={python_size[0]} x S={python_size[1]}, best of 3",
         f"{python_rate / 1e6:,.3f} M site-fibre steps/s",
         f"- (numba {numba_rate / python_rate:,.0f}x)", ""),
    ]

    calls = 300 if args.quick else 3000
    mid = simulate(np.full((6 * 60, 8), 250.0)).final_state
    notes.append("time_to_numbness: 8 sites from a mid-compression state (6 min at 250 mmHg), "
                 f"horizon {HORIZON_S:.0f} s; steps = model steps searched per site")
    highest = highest_never_numb(mid)
    for label, pressure in (("20..250 mmHg", np.linspace(20.0, 250.0, 8)),
                            (f"never numb, 0..{highest:g} mmHg", np.linspace(0.0, highest, 8))):
        median_s, p95_s, answer = latency(pressure, mid, calls)
        steps = numbness_search_steps(pressure, mid)
        numb = int(np.isfinite(answer).sum())
        name = (f"time_to_numbness, 8 sites, {label} ({numb}/8 numb; "
                f"{min(steps)}-{max(steps)} of {int(HORIZON_S / NUMBNESS_STEP_S)} steps)")
        result = f"median {median_s * 1e3:.3f} ms, p95 {p95_s * 1e3:.3f} ms ({calls} calls)"
        rows.append((name, result,
                     f"< {NUMBNESS_LATENCY_TARGET_S * 1e3:.0f} ms",
                     verdict(p95_s < NUMBNESS_LATENCY_TARGET_S)))

    centre_s, with_band_s = band_cost(100 if args.quick else 1000)
    added_s = with_band_s - centre_s
    rows.append(("the band: one second of 8 sites, the 10 % and 90 % edges besides the centre",
                 (f"adds {added_s * 1e3:.3f} ms (centre {centre_s * 1e3:.3f} ms, with the band "
                  f"{with_band_s * 1e3:.3f} ms; medians)"),
                 f"< {NUMBNESS_LATENCY_TARGET_S * 1e3:.0f} ms",
                 verdict(added_s < NUMBNESS_LATENCY_TARGET_S)))
    update_s = report_cost(3)
    rows.append(('a report, "my leg fell asleep" after an hour loaded (3 sites, best of 3)',
                 f"{update_s * 1e3:.0f} ms", "-", ""))

    with tempfile.TemporaryDirectory(prefix="legwake-bench-numba-") as cache_dir:
        cold, cold_wall = startup(cache_dir)
        warm, warm_wall = startup(cache_dir)
    notes.append("start-up: fresh process, empty NUMBA_CACHE_DIR; timed from before "
                 "`import edge.model` to the end of the first simulate and the first "
                 "time_to_numbness")
    for label, timing, wall, target in (("cold start (compile, write cache)", cold, cold_wall,
                                         None),
                                        ("warm start (cache loaded)", warm, warm_wall,
                                         WARM_START_TARGET_S)):
        result = (f"{timing['total_s']:.2f} s (import {timing['import_s']:.2f}, "
                  f"simulate {timing['simulate_s']:.2f}, time_to_numbness "
                  f"{timing['time_to_numbness_s']:.2f}; process wall {wall:.2f})")
        rows.append((label, result,
                     "-" if target is None else f"< {target:.0f} s",
                     "" if target is None else verdict(timing["total_s"] < target)))

    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    target_width = max(len(r[2]) for r in rows)
    print(f"{'measure':<{width}}  {'result':<{value_width}}  {'target':<{target_width}}  ok")
    for name, value, target, ok in rows:
        print(f"{name:<{width}}  {value:<{value_width}}  {target:<{target_width}}  {ok}")
    print(f"agreement with numba, max |conduction gap|: numpy {gap_reference:.1e}, "
          f"pure Python {gap_python:.1e}")
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
