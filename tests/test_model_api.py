"""The model's public API: shapes, continuation, scalars and arrays, and clear errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge.model import FIBERS, Profile, rest_state, simulate, time_to_numbness
from edge.model.driver import NerveState


def test_fibres_in_the_documented_order():
    assert FIBERS == ("A_alpha", "A_beta", "A_delta", "C")


def test_profile_defaults_and_validation():
    profile = Profile()
    assert (profile.systolic_mmHg, profile.diastolic_mmHg, profile.diabetic,
            profile.sensitivity) == (120.0, 80.0, False, 1.0)
    with pytest.raises(AttributeError):
        profile.diabetic = True  # type: ignore[misc]
    for bad in [{"systolic_mmHg": 70.0, "diastolic_mmHg": 80.0}, {"diastolic_mmHg": float("nan")},
                {"diabetic": 1}, {"systolic_mmHg": "120"}, {"sensitivity": 0.49},
                {"sensitivity": 2.01}, {"sensitivity": float("inf")}, {"sensitivity": True}]:
        with pytest.raises(ValueError):
            Profile(**bad)


def test_a_bad_sensitivity_names_its_range():
    with pytest.raises(ValueError, match=r"sensitivity must be 0.5..2"):
        Profile(sensitivity=3.0)


def test_the_threshold_is_30_below_diastolic_and_never_below_25():
    assert Profile(120, 80).threshold_mmHg() == 50.0
    assert Profile(170, 110).threshold_mmHg() == 80.0
    assert Profile(85, 50).threshold_mmHg() == 25.0


def test_shapes_for_one_and_many_sites():
    one = simulate(np.full(30, 100.0), dt_s=2.0)
    assert one.t_s.shape == (30,) and one.t_s[0] == 2.0 and one.t_s[-1] == 60.0
    assert one.conduction.shape == (30, 1, 4) and one.ectopic.shape == (30, 1, 4)
    many = simulate(np.zeros((10, 6)))
    assert many.conduction.shape == (10, 6, 4)
    assert many.final_state.energy.shape == (6, 4) and many.final_state.flow.shape == (6,)
    for array in (one.conduction, one.ectopic, many.conduction, many.ectopic):
        assert np.all((array >= 0) & (array <= 1))


def test_continuing_from_final_state_equals_one_run():
    pressure = np.r_[np.full(400, 250.0), np.full(200, 20.0)]
    whole = simulate(pressure, dt_s=1.5)
    first = simulate(pressure[:250], dt_s=1.5)
    second = simulate(pressure[250:], dt_s=1.5, state=first.final_state)
    np.testing.assert_allclose(np.concatenate([first.conduction, second.conduction]),
                               whole.conduction, rtol=0, atol=1e-12)
    # The caller's state is not modified.
    np.testing.assert_allclose(first.final_state.energy, simulate(pressure[:250], 1.5)
                               .final_state.energy)


def test_time_to_numbness_scalar_and_array():
    scalar = time_to_numbness(250.0)
    assert isinstance(scalar, float) and 8 * 60 <= scalar <= 14 * 60
    array = time_to_numbness(np.array([0.0, 250.0, 20.0]))
    assert isinstance(array, np.ndarray) and array.shape == (3,)
    assert math.isinf(array[0]) and math.isinf(array[2]) and array[1] == pytest.approx(scalar)
    assert math.isinf(time_to_numbness(250.0, horizon_s=60.0))


def test_time_to_numbness_matches_simulate_from_a_mid_compression_state():
    state = simulate(np.full(300, 250.0)).final_state
    predicted = time_to_numbness(250.0, state=state)
    run = simulate(np.full(1200, 250.0), state=state)
    crossed = np.flatnonzero(run.conduction[:, 0, 1] < 0.5)[0] + 1
    assert predicted == pytest.approx(crossed, abs=1.0)
    numb = simulate(np.full(900, 250.0)).final_state
    assert time_to_numbness(250.0, state=numb) == 0.0


def test_rest_state_is_a_fixed_point():
    rest = rest_state(3)
    after = simulate(np.zeros((100, 3)), dt_s=10.0, state=rest).final_state
    np.testing.assert_allclose(after.energy, rest.energy, atol=1e-9)
    np.testing.assert_allclose(after.depolarisation, rest.depolarisation, atol=1e-9)


@pytest.mark.parametrize("call, message", [
    (lambda: simulate([1.0, float("nan")]), "NaN"),
    (lambda: simulate([1.0, -5.0]), ">= 0"),
    (lambda: simulate(np.zeros((2, 2, 2))), "shape"),
    (lambda: simulate(np.zeros((3, 0))), "shape"),
    (lambda: simulate([1.0], dt_s=0.05), "dt_s"),
    (lambda: simulate([1.0], dt_s=11), "dt_s"),
    (lambda: simulate([1.0], dt_s=True), "dt_s"),
    (lambda: simulate(["a"]), "numbers"),
    (lambda: simulate(np.zeros((4, 2)), state=rest_state(3)), "expected"),
    (lambda: simulate([1.0], state="fresh"), "NerveState"),
    (lambda: simulate([1.0], profile="healthy"), "Profile"),
    (lambda: time_to_numbness(float("inf")), "NaN or infinity"),
    (lambda: time_to_numbness(np.zeros((2, 2))), "shape"),
    (lambda: time_to_numbness(-1.0), ">= 0"),
    (lambda: time_to_numbness(10.0, horizon_s=0), "horizon_s"),
    (lambda: time_to_numbness(np.zeros(2), state=rest_state(3)), "expected"),
])
def test_bad_input_is_a_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_state_must_match_sites():
    state = NerveState(np.ones(2), np.ones((2, 4)), np.zeros((2, 4)), np.zeros((2, 4)))
    assert simulate(np.zeros((1, 2)), state=state).conduction.shape == (1, 2, 4)


def test_tracker_matches_simulate_and_time_to_numbness_step_by_step():
    from edge.model import NerveTracker

    pressure = np.column_stack([np.r_[np.full(400, 250.0), np.zeros(100)],
                                np.full(500, 30.0), np.r_[np.zeros(250), np.full(250, 60.0)]])
    tracker = NerveTracker(sites=3)
    first, _, ttn_first = tracker.advance(pressure[:300])
    second, _, ttn_second = tracker.advance(pressure[300:])
    whole = simulate(pressure)
    np.testing.assert_allclose(np.concatenate([first, second]), whole.conduction, atol=1e-12)
    ttn = np.concatenate([ttn_first, ttn_second])
    state = simulate(pressure[:123]).final_state
    np.testing.assert_allclose(ttn[122], time_to_numbness(pressure[122], state=state))
    assert math.isinf(ttn[10, 1])  # 30 mmHg never numbs
    numb_at = time_to_numbness(250.0)
    assert ttn[399, 0] == pytest.approx(numb_at - 400, abs=1.0)
    with pytest.raises(ValueError, match=r"\(T, 3\)"):
        tracker.advance(np.zeros((5, 2)))
