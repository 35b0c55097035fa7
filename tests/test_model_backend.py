"""The ahead-of-time kernels (built by scripts/setup.sh) are the numba kernels, compiled early."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from edge.model import Profile, backend, kernels
from edge.model.params import kernel_parameters


def run_tracking(module, pressure: np.ndarray):
    params = kernel_parameters(Profile(diabetic=True))
    sites = pressure.shape[1]
    flow, energy = np.ones(sites), np.ones((4, sites))
    depol, sodium = np.zeros((4, sites)), np.zeros((4, sites))
    conduction = np.empty((*pressure.shape, 4))
    ectopic = np.empty_like(conduction)
    ttn = np.empty(pressure.shape)
    module.tracking_kernel(pressure, 2.0, params.shared, params.atp_use, params.block,
                           params.ectopic_gain, params.tingle_gain, params.conduction_hill,
                           flow, energy, depol, sodium, conduction, ectopic, 1, 1.0, 3600.0, ttn)
    return conduction, ectopic, ttn


def test_the_ahead_of_time_build_is_used_and_agrees_with_the_jit():
    assert backend.name() == "ahead-of-time", "scripts/setup.sh builds it"
    rng = np.random.default_rng(5)
    pressure = np.repeat(rng.choice([0.0, 30.0, 45.0, 60.0, 250.0], size=(30, 6)), 40, axis=0)
    built = run_tracking(backend.kernels(), pressure)
    jit = run_tracking(kernels, pressure)
    for a, b in zip(built, jit, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)


def test_the_model_runs_without_loading_numba():
    code = ("import sys, numpy as np\n"
            "from edge.model import simulate, time_to_numbness\n"
            "simulate(np.full(60, 250.0)); time_to_numbness(250.0)\n"
            "print('numba' in sys.modules, 'llvmlite' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.split() == ["False", "False"]
