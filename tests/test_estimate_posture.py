"""Posture: every label, both ends of the body-weight range, both seats, every sensor mode,
crossing detection delay and confidence; through real trace bytes (seeds >= 1000 are
held out from the model's training)."""

from __future__ import annotations

import numpy as np
import pytest

from edge.estimate.labels import CROSSED, POSTURE_INDEX, POSTURES
from tests.test_estimate_sim import replay, scored, sim_trace, tour

HEAVY_HARD = {"weight_kg": 130.0, "seat": "hard"}
LIGHT_CUSHION = {"weight_kg": 45.0, "seat": "cushioned"}
MAT_ONLY = {"mat": True, "imu_left": False, "imu_right": False}
IMU_ONLY = {"mat": False, "imu_left": True, "imu_right": True}
NO_LEFT = {"mat": True, "imu_left": False, "imu_right": True}
NO_RIGHT = {"mat": True, "imu_left": True, "imu_right": False}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return tmp_path_factory.mktemp("estimate-posture")


@pytest.fixture(scope="module", params=[LIGHT_CUSHION, HEAVY_HARD], ids=["45kg", "130kg"])
def sitting(request, base):
    scenario = tour(1100 if request.param is LIGHT_CUSHION else 1101)
    return scenario, sim_trace(base, scenario, **request.param)


@pytest.fixture(scope="module")
def runs(sitting):
    """Each sensor mode's estimates of the same sitting."""
    scenario, path = sitting
    modes = {"all": None, "mat_only": MAT_ONLY, "imu_only": IMU_ONLY, "no_left": NO_LEFT,
             "no_right": NO_RIGHT}
    return scenario, {mode: replay(path, present=present) for mode, present in modes.items()}


def per_label(scenario, out):
    truth, estimated, _ = scored(scenario, out)
    return {POSTURES[label]: float((estimated[truth == label] == label).mean())
            for label in np.unique(truth)}


def test_every_label_is_recognised_at_both_ends_of_the_weight_range(runs):
    scenario, outs = runs
    accuracy = per_label(scenario, outs["all"])
    assert set(accuracy) == set(POSTURES)
    assert all(a >= 0.95 for a in accuracy.values()), accuracy


@pytest.mark.parametrize("mode", ["no_left", "no_right"])
def test_one_thigh_missing_still_gives_every_label(runs, mode):
    scenario, outs = runs
    accuracy = per_label(scenario, outs[mode])
    assert all(a >= 0.95 for a in accuracy.values()), accuracy
    out = outs[mode]
    assert not out.imu_left.any() if mode == "no_left" else not out.imu_right.any()
    assert out.mat.all()


def test_mat_only_gives_every_seated_label_and_the_empty_seat(runs):
    scenario, outs = runs
    out = outs["mat_only"]
    accuracy = per_label(scenario, out)
    for name in POSTURES:
        if name not in ("empty", "standing"):
            assert accuracy[name] >= 0.95, (name, accuracy)
    # Without the thighs an empty seat is empty or standing, and not confidently either.
    truth, estimated, keep = scored(scenario, out)
    away = np.isin(truth, [POSTURE_INDEX["empty"], POSTURE_INDEX["standing"]])
    assert np.isin(estimated[away], [POSTURE_INDEX["empty"], POSTURE_INDEX["standing"]]).all()
    assert out.confidence[keep][away].max() < 0.8
    assert not (out.imu_left.any() or out.imu_right.any())


def test_mat_only_reports_crossings_with_lower_confidence(runs):
    scenario, outs = runs
    for mode in ("all", "mat_only"):
        truth, estimated, keep = scored(scenario, outs[mode])
        crossed = np.isin(truth, [POSTURE_INDEX[c] for c in CROSSED])
        assert (estimated[crossed] == truth[crossed]).mean() >= 0.95
        confidence = outs[mode].confidence[keep][crossed]
        if mode == "all":
            assert confidence.mean() > 0.9
            full = confidence.mean()
        else:
            assert confidence.max() <= 0.6 + 1e-9 and confidence.mean() < full


def test_thighs_only_give_crossings_tucked_feet_and_standing(runs):
    scenario, outs = runs
    out = outs["imu_only"]
    accuracy = per_label(scenario, out)
    for name in ("crossed_left_over_right", "crossed_right_over_left", "foot_under_left",
                 "foot_under_right", "standing", "slouched"):
        assert accuracy[name] >= 0.95, (name, accuracy)
    # No mat: no seat load, and nerve pressures come from the posture alone.
    assert not out.mat.any()
    assert np.isnan(out.seat.load_n).all()
    assert np.isfinite(out.site_mmHg).all()


def test_crossings_are_detected_within_5_s_with_the_right_direction(runs):
    scenario, outs = runs
    for mode in ("all", "mat_only", "imu_only", "no_left", "no_right"):
        out = outs[mode]
        for segment in scenario.ground_truth()["segments"]:
            if segment["posture"] not in CROSSED:
                continue
            label = POSTURE_INDEX[segment["posture"]]
            after = (out.t_s > segment["start_s"]) & (out.posture == label)
            delay = out.t_s[after][0] - segment["start_s"]
            assert delay <= 5.0, (mode, segment["posture"], delay)


def test_the_recorded_live_crossing_is_detected_within_5_s():
    from tests.test_estimate_sim import DATA

    out = replay(DATA / "crossing_left.jsonl.gz")
    label = POSTURE_INDEX["crossed_left_over_right"]
    first = out.t_s[out.posture == label][0]
    assert first - 15.0 <= 5.0  # the crossing starts at 15 s
    crossed = (out.t_s > 20) & (out.t_s <= 45)
    assert (out.posture[crossed] == label).all()
    # The top (left) leg's peroneal nerve is pressed; the other's is not.
    assert (out.site_mmHg[crossed, 4] > 0).all() and (out.site_mmHg[crossed, 5] == 0).all()


def test_no_crossing_is_reported_where_there_is_none(base):
    from tests.test_estimate_sim import DATA, shifted

    scenario = shifted(1102)
    for path in (sim_trace(base, scenario, weight_kg=130.0, seat="hard"),
                 DATA / "upright_shift.jsonl.gz", DATA / "walk_away.jsonl.gz",
                 DATA / "foot_under_right.jsonl.gz"):
        for present in (None, MAT_ONLY, IMU_ONLY):
            out = replay(path, present=present)
            assert not np.isin(out.posture, [POSTURE_INDEX[c] for c in CROSSED]).any(), path
