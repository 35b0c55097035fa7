"""Movement: reliefs (>= 30% off the ischial region for >= 15 s), standing up and sitting
down, walking and fidgeting."""

from __future__ import annotations

import numpy as np
import pytest

from edge.estimate.features import WindowFeatures
from edge.estimate.labels import POSTURE_INDEX
from edge.estimate.movement import ReliefDetector
from tests.test_estimate_sim import DATA, replay, shifted, sim_trace

UPRIGHT = POSTURE_INDEX["upright"]


@pytest.fixture(scope="module", params=[(45.0, "hard"), (130.0, "cushioned")],
                ids=["45kg-hard", "130kg-cushioned"])
def shifting(request, tmp_path_factory):
    weight, seat = request.param
    scenario = shifted(1300 + int(weight))
    path = sim_trace(tmp_path_factory.mktemp("movement"), scenario, weight_kg=weight, seat=seat)
    return scenario, replay(path)


def test_a_weight_shift_of_20_s_is_one_relief(shifting):
    scenario, out = shifting
    shift = scenario.shift_table()[0]  # 40-60 s, the left buttock lifted
    reliefs = [t for t, kind in out.events if kind == "relief"]
    assert len(reliefs) == 1
    # It qualifies 15 s into the offload (the ramp's first ~0.6 s is under 30%).
    assert shift["start_s"] + 15.0 <= reliefs[0] <= shift["start_s"] + 17.0
    inside = out.relief
    assert inside.any() and (out.t_s[inside] > reliefs[0]).all()
    assert (out.t_s[inside] <= shift["end_s"] + 1.0).all()
    during = (out.t_s > shift["start_s"] + 2) & (out.t_s < shift["end_s"] - 1)
    assert np.all(out.offload[during] >= 0.3)
    assert np.all(np.abs(out.offload[(out.t_s > 15) & (out.t_s < 38)]) < 0.15)
    # The posture stays upright through the shift.
    assert (out.posture[during] == UPRIGHT).all()


def test_fidgeting_is_told_from_sitting_still(shifting):
    _, out = shifting
    fidgeting = (out.t_s > 104) & (out.t_s <= 140)
    still = ((out.t_s > 5) & (out.t_s <= 38)) | ((out.t_s > 144) & (out.t_s <= 170))
    # The simulated fidgeting comes in bursts (its envelope is off part of the time).
    assert out.fidget[fidgeting].mean() > 0.1
    assert not out.fidget[still].any()
    assert not out.walking.any()


def test_standing_up_walking_away_and_sitting_down():
    out = replay(DATA / "walk_away.jsonl.gz")
    # upright 0-10, standing 10-16, walking away 16-36, upright (sitting down) from 36
    assert [kind for _, kind in out.events] == ["stand_up", "sit_down"]
    (up, _), (down, _) = out.events
    assert 10.0 <= up <= 14.0 and 36.0 <= down <= 40.0
    walking = (out.t_s > 19) & (out.t_s <= 35)
    assert out.walking[walking].mean() > 0.8
    assert not out.walking[out.t_s <= 10].any() and not out.walking[out.t_s > 40].any()


def test_thighs_alone_still_see_standing_up_and_sitting_down():
    out = replay(DATA / "walk_away.jsonl.gz",
                 present={"mat": False, "imu_left": True, "imu_right": True})
    assert [kind for _, kind in out.events] == ["stand_up", "sit_down"]


def _features(loads: np.ndarray, rate_hz: float = 20.0) -> WindowFeatures:
    """Windows of 1 s whose ischial region (rows 8-15 of a 16-row mat) carries `loads` (N)
    frame by frame, with 300 N on the thighs."""
    m = len(loads)
    n = int(np.ceil(m / rate_hz))
    frame_rows = np.zeros((m, 16))
    frame_rows[:, 11] = loads  # the tuberosities' row
    frame_rows[:, 3] = 300.0
    window = (np.arange(m) // rate_hz).astype(np.int64)
    row_load = np.stack([frame_rows[window == k].mean(axis=0) for k in range(n)])
    nan = np.full(n, np.nan)
    return WindowFeatures(
        t_s=np.arange(1, n + 1, dtype=float), features=np.zeros((n, 1)),
        present={"mat": np.ones(n, bool), "imu_left": np.ones(n, bool),
                 "imu_right": np.ones(n, bool)},
        kpa=None, seat_load_n=row_load.sum(axis=1), ischial_row=np.full(n, 11.0),
        row_load_n=row_load, frame_t_s=np.arange(m) / rate_hz, frame_window=window,
        frame_row_load_n=frame_rows, mat_motion_mm=nan, thigh_pitch_deg=np.zeros((n, 2)),
        thigh_motion_dps=np.zeros((n, 2)), zero_offsets=None)


@pytest.mark.parametrize(("off_s", "depth", "reliefs"),
                         [(16.0, 0.4, 1), (14.0, 0.4, 0), (30.0, 0.25, 0), (30.0, 0.31, 1)])
def test_relief_needs_30_percent_for_15_s(off_s, depth, reliefs):
    rate = 20.0
    t = np.arange(0, 80.0, 1 / rate)
    loads = np.full(len(t), 400.0)
    loads[(t >= 30.0) & (t < 30.0 + off_s)] *= 1.0 - depth
    detector = ReliefDetector()
    found = []
    for k in range(0, len(t), 200):  # ten seconds a feed
        feats = _features(loads[k:k + 200])
        feats = WindowFeatures(**{**{f: getattr(feats, f) for f in feats.__slots__},
                                  "t_s": feats.t_s + k / rate,
                                  "frame_t_s": feats.frame_t_s + k / rate})
        _, _, events = detector.run(feats, np.full(len(feats), UPRIGHT))
        found += events
    assert len(found) == reliefs
    if reliefs:
        assert found[0][0] == pytest.approx(45.0, abs=0.1)


def test_a_short_dip_does_not_break_a_relief():
    t = np.arange(0, 80.0, 0.05)
    loads = np.full(len(t), 400.0)
    loads[(t >= 30.0) & (t < 50.0)] = 200.0
    loads[(t >= 37.0) & (t < 37.3)] = 400.0  # a 0.3 s twitch back
    _, _, events = ReliefDetector().run(_features(loads), np.full(80, UPRIGHT))
    assert [kind for _, kind in events] == ["relief"]
