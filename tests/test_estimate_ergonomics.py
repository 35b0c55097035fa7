"""edge/estimate/ergonomics.py: the seat features' definitions, signs, empty frames, shapes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edge.calibration import MMHG_PER_KPA
from edge.estimate.ergonomics import CONTACT_KPA, SeatFeatures, seat_features
from firmware_sim.body import Body
from firmware_sim.scenario import Scenario, Segment

CELL_CM2 = 7.84
CELL_N_PER_KPA = 0.784  # 1 kPa on a 28 mm cell
MID_MM = 224.0  # the middle of the 448 mm mat


def frames(*maps: np.ndarray) -> np.ndarray:
    return np.stack(maps).astype(np.float64)


def test_uniform_map_load_contact_centre_and_balance():
    f = seat_features(frames(np.full((16, 16), 1.0)))
    assert f.load_n[0] == pytest.approx(256 * CELL_N_PER_KPA)
    assert f.contact_cm2[0] == pytest.approx(256 * CELL_CM2)
    assert (f.cop_x_mm[0], f.cop_y_mm[0]) == pytest.approx((MID_MM, MID_MM))
    assert f.left_right_balance[0] == pytest.approx(0.0, abs=1e-12)
    assert f.front_back_balance[0] == pytest.approx(0.0, abs=1e-12)
    assert f.peak_pressure_index_mmHg[0] == pytest.approx(MMHG_PER_KPA)
    quadrants = [f.ischial_load_left_n, f.ischial_load_right_n, f.thigh_load_left_n,
                 f.thigh_load_right_n]
    for q in quadrants:
        assert q[0] == pytest.approx(f.load_n[0] / 4)


def test_symmetric_map_is_centred():
    rng = np.random.default_rng(1)
    half = rng.uniform(0, 20, (16, 8))
    symmetric = np.concatenate([half, half[:, ::-1]], axis=1)
    f = seat_features(frames(symmetric))
    assert f.cop_x_mm[0] == pytest.approx(MID_MM)
    assert f.left_right_balance[0] == pytest.approx(0.0, abs=1e-12)
    assert f.ischial_load_left_n[0] == pytest.approx(f.ischial_load_right_n[0])


def test_signs_of_centre_and_balance():
    left = np.zeros((16, 16))
    left[10:14, 2:5] = 10.0  # the occupant's left buttock only (column 0 is their left)
    front = np.zeros((16, 16))
    front[0:4, 6:10] = 10.0  # under the knees
    f = seat_features(frames(left, front))
    assert f.left_right_balance[0] == pytest.approx(1.0)
    assert f.cop_x_mm[0] == pytest.approx(3.5 * 28.0)  # centre of columns 2..4
    assert f.front_back_balance[0] == pytest.approx(-1.0)  # all on the back half
    assert f.cop_y_mm[0] == pytest.approx(12.0 * 28.0)
    assert f.ischial_load_left_n[0] == pytest.approx(f.load_n[0])
    assert f.ischial_load_right_n[0] == f.thigh_load_left_n[0] == 0.0
    assert f.front_back_balance[1] == pytest.approx(1.0)
    assert f.left_right_balance[1] == pytest.approx(0.0, abs=1e-12)
    assert f.thigh_load_left_n[1] == pytest.approx(f.thigh_load_right_n[1])


def test_peak_pressure_index_hot_cell_plateau_and_neighbour():
    hot = np.zeros((16, 16))
    hot[7, 7] = 40.0
    plateau = np.full((16, 16), 40.0)
    pair = hot.copy()
    pair[7, 8] = 20.0  # its highest edge neighbour
    pair[8, 8] = 35.0  # a diagonal neighbour does not count
    corner = np.zeros((16, 16))
    corner[0, 0] = 40.0
    ppi = seat_features(frames(hot, plateau, pair, corner)).peak_pressure_index_mmHg
    share = (9.4 - CELL_CM2) / CELL_CM2  # ~0.199 of a neighbour: a 9.4 cm2 region
    assert ppi[0] == pytest.approx(40.0 / (1 + share) * MMHG_PER_KPA)
    assert ppi[1] == pytest.approx(40.0 * MMHG_PER_KPA)
    assert ppi[2] == pytest.approx((40.0 + share * 20.0) / (1 + share) * MMHG_PER_KPA)
    assert ppi[3] == pytest.approx(ppi[0])  # off-mat neighbours count as 0
    assert ppi[0] < ppi[2] < ppi[1]


def test_peak_pressure_index_on_other_pitches():
    hot = np.zeros((1, 8, 8))
    hot[0, 4, 4] = 10.0
    big = seat_features(hot, pitch_mm=40.0)  # a 16 cm2 cell covers 9.4 cm2 alone
    assert big.peak_pressure_index_mmHg[0] == pytest.approx(10.0 * MMHG_PER_KPA)
    plateau = np.full((1, 8, 8), 10.0)
    plateau[0, 4, 4] = 10.5  # 2.25 cm2 cells: the peak and 3.18 neighbours
    small = seat_features(plateau, pitch_mm=15.0)
    expected = (10.5 + (9.4 - 2.25) / 2.25 * 10.0) / (9.4 / 2.25)
    assert small.peak_pressure_index_mmHg[0] == pytest.approx(expected * MMHG_PER_KPA)
    assert small.contact_cm2[0] == pytest.approx(64 * 2.25)


def test_contact_area_counts_cells_above_the_threshold():
    grid = np.zeros((16, 16))
    grid[0, :5] = 2 * CONTACT_KPA
    grid[1, :3] = CONTACT_KPA  # at the threshold: not in contact
    grid[2, :7] = 0.5 * CONTACT_KPA
    f = seat_features(frames(grid))
    assert f.contact_cm2[0] == pytest.approx(5 * CELL_CM2)
    assert CONTACT_KPA * MMHG_PER_KPA == pytest.approx(5.0)


def test_empty_and_nan_frames():
    empty = np.zeros((16, 16))
    all_nan = np.full((16, 16), np.nan)
    dead_cell = np.full((16, 16), 2.0)
    dead_cell[3, 3] = np.nan
    f = seat_features(frames(empty, all_nan, dead_cell))
    for row in (0, 1):
        for name in ("load_n", "contact_cm2", "peak_pressure_index_mmHg", "ischial_load_left_n",
                     "ischial_load_right_n", "thigh_load_left_n", "thigh_load_right_n"):
            assert getattr(f, name)[row] == 0.0, name
        for name in ("cop_x_mm", "cop_y_mm", "left_right_balance", "front_back_balance"):
            assert np.isnan(getattr(f, name)[row]), name
    assert f.load_n[2] == pytest.approx(255 * 2.0 * CELL_N_PER_KPA)
    assert f.contact_cm2[2] == pytest.approx(255 * CELL_CM2)
    assert np.isfinite(f.cop_x_mm[2])


def test_vectorised_equals_frame_by_frame():
    rng = np.random.default_rng(7)
    maps = rng.gamma(1.0, 3.0, (12, 16, 16)) * (rng.uniform(size=(12, 16, 16)) > 0.4)
    batch = seat_features(maps)
    for name in (f.name for f in dataclasses.fields(SeatFeatures)):
        values = getattr(batch, name)
        assert values.shape == (12,) and values.dtype == np.float64, name
        one_by_one = np.concatenate([getattr(seat_features(maps[i:i + 1]), name)
                                     for i in range(12)])
        np.testing.assert_allclose(values, one_by_one, rtol=1e-12, err_msg=name)
    quadrants = (batch.ischial_load_left_n + batch.ischial_load_right_n
                 + batch.thigh_load_left_n + batch.thigh_load_right_n)
    np.testing.assert_allclose(quadrants, batch.load_n, rtol=1e-12)
    none = seat_features(np.zeros((0, 16, 16)))
    assert none.load_n.shape == (0,) and none.peak_pressure_index_mmHg.shape == (0,)


def test_odd_mat_splits_the_middle_column_and_row():
    grid = np.zeros((1, 5, 5))
    grid[0, 2, 2] = 8.0  # only the middle cell
    f = seat_features(grid)
    assert f.left_right_balance[0] == 0.0 and f.front_back_balance[0] == 0.0
    assert f.ischial_load_left_n[0] == pytest.approx(f.load_n[0] / 4)


def test_bad_input():
    with pytest.raises(ValueError, match="rows, cols"):
        seat_features(np.zeros((16, 16)))
    with pytest.raises(ValueError, match="infinity"):
        seat_features(np.full((1, 16, 16), np.inf))
    with pytest.raises(ValueError, match="pitch_mm"):
        seat_features(np.zeros((1, 16, 16)), pitch_mm=0.0)


def test_simulated_sitter():
    """On the simulator's maps: leaning left loads the left half; a crossed leg moves the load
    toward the bottom leg; upright, most load is on the back half."""
    def still(posture: str) -> Scenario:
        return Scenario(name=posture, seed=1,
                        segments=(Segment(posture=posture, activity="still", duration_s=60.0),))

    body = Body(weight_kg=75, seat="cushioned", seed=2)
    t = np.arange(0.0, 60.0, 5.0)
    upright = seat_features(body.pressure_kpa(still("upright"), t))
    lean = seat_features(body.pressure_kpa(still("leaning_left"), t))
    crossed = seat_features(body.pressure_kpa(still("crossed_left_over_right"), t))
    seat_force = 0.75 * 75 * 9.80665
    np.testing.assert_allclose(upright.load_n, seat_force, rtol=0.03)
    assert np.all(upright.front_back_balance < 0)
    assert np.all(np.abs(upright.left_right_balance) < 0.1)
    assert np.all(lean.left_right_balance > upright.left_right_balance + 0.1)
    assert np.all(crossed.left_right_balance < upright.left_right_balance - 0.1)
    assert np.all((upright.peak_pressure_index_mmHg > 60) & (upright.peak_pressure_index_mmHg < 140))
