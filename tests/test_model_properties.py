"""Properties the nerve model must have for any input, checked with hypothesis."""

from __future__ import annotations

import math
import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.model import FIBERS, Profile, simulate, time_to_numbness

# Under NUMBA_DISABLE_JIT the same properties run in pure Python: fewer examples.
EXAMPLES = 8 if os.environ.get("NUMBA_DISABLE_JIT") == "1" else 40
settings.register_profile("model", max_examples=EXAMPLES, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("model")

profiles = st.builds(
    lambda diastolic, pulse, diabetic: Profile(systolic_mmHg=diastolic + pulse,
                                               diastolic_mmHg=diastolic, diabetic=diabetic),
    st.floats(55.0, 110.0), st.floats(25.0, 70.0), st.booleans())
pressures = st.floats(0.0, 400.0)


@given(profiles, pressures, pressures, st.integers(0, 1200))
def test_numbness_never_comes_later_under_higher_pressure(profile, low, high, compressed_s):
    low, high = sorted((low, high))
    state = simulate(np.full((max(compressed_s // 10, 1), 2), 100.0), dt_s=10.0,
                     profile=profile).final_state
    times = time_to_numbness(np.array([low, high]), profile=profile, state=state)
    assert times[1] <= times[0] + 1e-9


@given(profiles)
def test_zero_pressure_for_eight_hours_keeps_every_fibre_conducting(profile):
    result = simulate(np.zeros(8 * 360), dt_s=10.0, profile=profile)
    assert result.conduction.min() >= 0.99
    assert result.ectopic.max() <= 0.01


@given(profiles, st.floats(30.0, 400.0), st.integers(1, 120))
def test_every_release_recovers(profile, pressure, minutes):
    compression = np.full(minutes * 6, pressure)
    release = np.zeros(120 * 6)
    result = simulate(np.concatenate([compression, release]), dt_s=10.0, profile=profile)
    final = result.conduction[-1, 0]
    assert final.min() >= 0.95, dict(zip(FIBERS, final.round(3)))


def numb_time(pressure: float, dt_s: float, profile: Profile) -> float:
    """Seconds until A-beta conduction < 0.5 in `simulate`, interpolated between steps."""
    result = simulate(np.full(int(3600 / dt_s), pressure), dt_s=dt_s, profile=profile)
    beta = result.conduction[:, 0, FIBERS.index("A_beta")]
    below = np.flatnonzero(beta < 0.5)
    if not below.size:
        return math.inf
    k = below[0]
    before = beta[k - 1] if k else 1.0
    return (k + (before - 0.5) / (before - beta[k])) * dt_s


@given(profiles, st.floats(40.0, 400.0))
def test_time_to_numbness_agrees_at_dt_half_a_second_and_five_seconds(profile, pressure):
    fine, coarse = numb_time(pressure, 0.5, profile), numb_time(pressure, 5.0, profile)
    if math.isinf(fine) or math.isinf(coarse):
        # Near the threshold pressure both must agree that it (almost) never comes.
        assert min(fine, coarse) > 0.9 * 3600
        return
    assert abs(coarse - fine) <= 0.05 * fine
