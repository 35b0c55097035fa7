"""Mat zeroing: automatic re-zeroing from empty-seat windows against the mat's drift, the
explicit zero of `legwake calibrate`, and the sitter's upright baseline."""

from __future__ import annotations

import numpy as np
import pytest

from edge.calibration import NOISE_FLOOR_COUNTS, Calibration
from edge.estimate.labels import POSTURE_INDEX
from edge.estimate.zeroing import (
    AutoZero,
    NotEmptyError,
    NotSeatedError,
    upright_baseline,
    zero_from_frames,
    zeroed_kpa,
)
from firmware_sim.body import Body, counts_to_kpa
from firmware_sim.scenario import Scenario, Segment
from tests.test_estimate_sim import replay, sim_trace

SEED = 1201


def away_and_back(seed: int = SEED) -> Scenario:
    """Away (thighs level, sitting elsewhere) 90 s, upright 60 s, away again 90 s."""
    return Scenario(name="away_and_back", seed=seed, segments=(
        Segment(posture="empty", activity="still", duration_s=90.0),
        Segment(posture="upright", activity="still", duration_s=60.0, transition_s=2.5),
        Segment(posture="empty", activity="fidget", duration_s=90.0, transition_s=2.5),
    ))


@pytest.fixture(scope="module")
def drifted(tmp_path_factory):
    scenario = away_and_back()
    path = sim_trace(tmp_path_factory.mktemp("zeroing"), scenario, weight_kg=75.0, seat="hard")
    return scenario, path, Body(weight_kg=75.0, seat="hard", seed=SEED)


def test_the_simulated_mat_drifts_above_the_noise_floor(drifted):
    """The premise: without zeroing, an empty seat reads above 40 counts in places."""
    _, _, body = drifted
    drift = body.drift_counts(np.array([10.0]))[0]
    assert drift.max() > NOISE_FLOOR_COUNTS + 5


def test_a_drifted_mat_re_zeroes_from_the_empty_seat(drifted):
    _, path, _ = drifted
    out = replay(path)
    empty = POSTURE_INDEX["empty"]
    away = (out.t_s > 10) & (out.t_s <= 88)
    back = (out.t_s > 160) & (out.t_s <= 238)
    for when in (away, back):
        assert (out.posture[when] == empty).all()
        # No invented load: under a newton on the whole seat, nothing on any nerve.
        assert np.nanmax(out.seat.load_n[when]) < 1.0
        assert (out.site_mmHg[when] == 0).all()
    seated = (out.t_s > 100) & (out.t_s <= 148)
    assert (out.posture[seated] == POSTURE_INDEX["upright"]).all()
    assert np.all(out.seat.load_n[seated] > 0.6 * 75 * 9.81 * 0.75)


def test_re_zeroed_offsets_follow_the_drift(drifted):
    scenario, path, body = drifted
    from edge.decode import Decoders
    from edge.estimate.estimator import Estimator
    from edge.sources.replay import batches
    from edge.sources.trace import TraceReader

    reader = TraceReader(path)
    decoders = Decoders(reader.header.sources)
    est = Estimator()
    for chunk in batches(reader, 512):
        est.feed(decoders.feed(chunk))
        if chunk[-1].arrival_s > 80:
            break
    offsets = est.zero_offsets
    drift = body.drift_counts(np.array([80.0]))[0]
    noisy = np.zeros(drift.shape, bool).ravel()
    noisy[body._noisy] = True  # the mat's noisy cells: their offsets wander more
    error = np.abs(offsets - drift).ravel()
    assert np.median(error) < 2.0 and error[~noisy].max() < 8.0
    # Empty frames minus the offsets read under the noise floor (the spec's promise).
    frames = body.pressure_counts(scenario, np.arange(80.0, 82.0, 0.05))
    zeroed = (frames - offsets).reshape(len(frames), -1)
    assert (zeroed[:, ~noisy] < NOISE_FLOOR_COUNTS).all()
    assert (frames.reshape(len(frames), -1)[:, ~noisy] >= NOISE_FLOOR_COUNTS).any()


def test_explicit_zero_from_empty_frames_and_refusal_of_a_loaded_seat():
    body = Body(weight_kg=60.0, seat="cushioned", seed=SEED)
    scenario = away_and_back()
    empty = body.pressure_counts(scenario, np.arange(5.0, 10.0, 0.05))
    offsets = zero_from_frames(empty)
    drift = body.drift_counts(np.array([7.5]))[0]
    assert np.median(np.abs(offsets - drift)) < 2.0
    zeroed = Calibration().kpa(np.maximum(empty - offsets, 0))
    assert zeroed.sum(axis=(1, 2)).mean() * 0.784 < 1.0  # under a newton
    seated = body.pressure_counts(scenario, np.arange(120.0, 122.0, 0.05))
    with pytest.raises(NotEmptyError, match="does not look empty"):
        zero_from_frames(seated)
    with pytest.raises(ValueError):
        zero_from_frames(np.zeros((0, 16, 16)))


@pytest.mark.parametrize("weight_kg", [45.0, 130.0])
def test_upright_baseline_scales_with_the_sitter(weight_kg):
    body = Body(weight_kg=weight_kg, seat="hard", seed=SEED, cell_drift=False)
    scenario = away_and_back()
    kpa = counts_to_kpa(body.pressure_counts(scenario, np.arange(110.0, 115.0, 0.05)))
    baseline = upright_baseline(kpa)
    seat_n = weight_kg * 9.80665 * 0.75
    assert 0.85 * seat_n < baseline.seat_load_n < 1.15 * seat_n
    assert 0.3 < baseline.ischial_load_n / baseline.seat_load_n < 0.8
    assert 9.0 < baseline.ischial_row < 14.0  # 95-125 mm from the back edge of 448 mm
    with pytest.raises(NotSeatedError):
        upright_baseline(kpa * 0.01)


def test_auto_zero_waits_for_a_settled_empty_seat_and_ignores_load():
    zero = AutoZero((4, 4), calibration=Calibration(), pitch_mm=28.0, settle_s=3.0,
                    time_constant_s=10.0)
    drift = np.full((4, 4), 30.0)
    loaded = drift + 2000.0
    means = np.stack([loaded] * 5 + [drift] * 10)
    offsets = zero.update(means, np.ones(15, bool), 1.0)
    assert (offsets[:9] == 0).all()  # loaded, then 3 s settling: untouched
    np.testing.assert_allclose(offsets[9], drift)  # first settled empty window: straight to it
    assert zero.updates == 7
    # A window without frames says nothing; a loaded one resets the settling.
    before = zero.offsets.copy()
    zero.update(np.stack([drift + 5, loaded, drift + 5]), np.array([False, True, True]), 1.0)
    np.testing.assert_array_equal(zero.offsets, before)


def test_calibrate_then_estimate_finds_a_relief_that_starts_right_away(tmp_path):
    """`legwake calibrate`'s zero and upright baseline, handed to the Estimator: a weight
    shift 5 s into the sitting has no history of its own to compare against."""
    from firmware_sim.scenario import Shift

    seed, weight, seat = 1202, 90.0, "hard"
    body = Body(weight_kg=weight, seat=seat, seed=seed)
    calibrate = Scenario(name="calibrate", seed=seed, segments=(
        Segment(posture="empty", activity="still", duration_s=10.0),
        Segment(posture="upright", activity="still", duration_s=20.0, transition_s=2.5)))
    offsets = zero_from_frames(body.pressure_counts(calibrate, np.arange(2.0, 9.0, 0.05)))
    upright = body.pressure_counts(calibrate, np.arange(20.0, 29.0, 0.05))
    baseline = upright_baseline(zeroed_kpa(upright, offsets, Calibration()))

    early = Scenario(name="early_shift", seed=seed, segments=(
        Segment(posture="upright", activity="shifts", duration_s=60.0,
                shifts=(Shift(offset_s=5.0, duration_s=18.0, kind="lean_forward"),)),))
    path = sim_trace(tmp_path, early, weight_kg=weight, seat=seat)
    found = [t for t, kind in replay(path, zero_offsets=offsets, baseline=baseline).events
             if kind == "relief"]
    assert len(found) == 1 and 20.0 <= found[0] <= 22.0
    # Without the baseline, the sitter's own reference needs 10 s: too late for this one.
    assert not [t for t, kind in replay(path).events if kind == "relief"]
