"""The numba kernels against the plain-numpy reference implementation of the same equations."""

from __future__ import annotations

import numpy as np
import pytest

from edge.model import Profile, reference, simulate
from edge.model.driver import _parameters
from edge.model.kernels import MAX_SUBSTEP_S

PROFILES = [Profile(), Profile(diabetic=True), Profile(systolic_mmHg=150.0, diastolic_mmHg=95.0)]


@pytest.mark.parametrize("profile", PROFILES, ids=["healthy", "diabetic", "hypertensive"])
@pytest.mark.parametrize("dt_s", [0.1, 1.0, 3.3, 10.0])
def test_kernel_agrees_with_reference(profile, dt_s):
    rng = np.random.default_rng(int(dt_s * 10))
    steps = 3000
    hold = max(1, int(300 / dt_s))
    # Piecewise-constant pressures across every regime, for 5 sites, starting from nerves
    # 20 minutes into a compression (blocked, sodium-loaded), some of them being released.
    levels = rng.choice([0.0, 10.0, 35.0, 45.0, 55.0, 80.0, 250.0], size=(steps // hold + 1, 5))
    pressure = np.repeat(levels, hold, axis=0)[:steps]
    start = simulate(np.full((1200, 5), 250.0), profile=profile).final_state
    result = simulate(pressure, dt_s=dt_s, profile=profile, state=start)

    state = start.copy()
    conduction, ectopic = reference.simulate(pressure, dt_s, _parameters(profile), state.flow,
                                             state.energy, state.depolarisation, state.sodium,
                                             MAX_SUBSTEP_S)
    np.testing.assert_allclose(result.conduction, conduction, rtol=0, atol=1e-9)
    np.testing.assert_allclose(result.ectopic, ectopic, rtol=0, atol=1e-9)
    np.testing.assert_allclose(result.final_state.energy, state.energy, rtol=0, atol=1e-9)
    np.testing.assert_allclose(result.final_state.sodium, state.sodium, rtol=0, atol=1e-9)
    assert result.conduction.min() < 0.5 < result.conduction.max()  # blocked and recovering
