"""The sitter's own upright: references, changes from it, and learning it online."""

import numpy as np

from edge.estimate.features import FEATURES, GROUPS
from edge.estimate.person import OnlineReference, PersonReference
from firmware_sim.body import Body
from firmware_sim.scenario import get_scenario

I = {name: i for i, name in enumerate(FEATURES)}


def rows(n: int, pitch: float) -> np.ndarray:
    x = np.ones((n, len(FEATURES)))
    x[:, I["pitch_deg_left"]] = pitch
    x[:, I["reach_left_mm"]] = 250.0
    return x


def test_changes_from_upright_are_offsets_and_ratios():
    reference = PersonReference.from_windows(rows(10, 12.0))
    window = rows(1, 30.0)
    window[0, I["reach_left_mm"]] = 200.0
    changed = reference.normalise(window)
    assert changed[0, I["pitch_deg_left"]] == 18.0
    assert changed[0, I["reach_left_mm"]] == 0.8
    assert changed[0, I["log_load"]] == 1.0  # neither: as it is


def test_a_stream_without_a_reference_is_left_out():
    features = rows(5, 3.0)
    features[:, GROUPS["imu_right"]] = np.nan
    reference = PersonReference.from_windows(features)
    assert reference.known("mat") and not reference.known("imu_right")
    assert np.isnan(reference.normalise(rows(1, 3.0))[0, GROUPS["imu_right"]]).all()


def test_online_learns_from_still_upright_windows_only_and_forgets_an_empty_seat():
    online = OnlineReference(windows=10, forget_empty_s=5.0)
    x = rows(30, 7.0)
    p = np.r_[np.full(10, 0.5), np.full(20, 0.99)]  # the first ten are not upright enough
    still = np.ones(30, bool)
    refs = online.step(x, p, np.zeros(30, bool), still)
    assert np.isnan(refs[:20]).all()  # nothing before ten upright windows were seen
    assert refs[20, I["pitch_deg_left"]] == 7.0
    online.step(x[:6], np.zeros(6), np.ones(6, bool), still[:6])
    assert np.isnan(online.values).all()


def test_variety_widens_the_standard_body_and_leaves_the_default_alone():
    scenario = get_scenario("all_postures", 3)
    t = np.array([100.0, 400.0])
    plain = Body(weight_kg=80.0, seat="hard", seed=4)
    assert plain.fit is None and "variety" not in plain.describe()
    wide = Body(weight_kg=80.0, seat="hard", seed=4, variety=True)
    fit = wide.fit
    assert fit is not None and all(abs(v) <= 40.0 for v in fit.mat_offset_mm)
    assert all(abs(a) <= 15.0 for unit in fit.mount_deg for a in unit)
    assert not np.array_equal(plain.pressure_counts(scenario, t), wide.pressure_counts(scenario, t))
    again = Body(weight_kg=80.0, seat="hard", seed=4, variety=True)
    assert np.array_equal(wide.pressure_counts(scenario, t), again.pressure_counts(scenario, t))
