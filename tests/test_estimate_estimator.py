"""The Estimator's contract: windows on the arrival clock, sensors missing by configuration
or by their data stopping, gaps in all the data, and the per-second output."""

from __future__ import annotations

import numpy as np
import pytest

from edge.estimate.estimator import EstimateSeconds, Estimator
from edge.estimate.labels import POSTURE_INDEX
from edge.estimate.windows import Windower, imu_sample_times
from edge.wire import Decoded, ImuSamples, PressureFrames
from tests.test_estimate_sim import DATA, replay

CROSSING = DATA / "crossing_left.jsonl.gz"  # upright 0-15, crossed L over R 15-45, upright
CROSSED_LR = POSTURE_INDEX["crossed_left_over_right"]


def mat_frames(t_s) -> Decoded:
    t = np.asarray(t_s, np.float64)
    return Decoded(pressure=(PressureFrames(t, (t * 1000).astype(np.int64),
                                            np.zeros(len(t), np.uint16),
                                            np.zeros((len(t), 16, 16), np.uint16)),))


def imu_notification(arrival_s: float, first_ms: float, n: int, seq: int,
                     placement: int = 1) -> Decoded:
    return Decoded(imu=ImuSamples(
        placement=np.full(n, placement, np.uint8), arrival_s=np.full(n, arrival_s),
        device_ms=first_ms + 20.0 * np.arange(n), seq=np.full(n, seq, np.uint16),
        accel_mg=np.tile(np.array([0, 0, 1000], np.int16), (n, 1)),
        gyro_dps10=np.zeros((n, 3), np.int16)))


# --- windows -----------------------------------------------------------------------------------


def test_a_notifications_samples_are_spread_back_from_its_arrival():
    imu = imu_notification(10.0, 5000.0, 19, 7).imu
    times = imu_sample_times(imu)
    np.testing.assert_allclose(times, 10.0 - 0.02 * np.arange(18, -1, -1))


def test_windows_close_after_the_delay_once_each_and_flush_the_rest():
    w = Windower(close_delay_s=1.0)
    w.add({"mat": mat_frames(np.arange(0.0, 2.5, 0.05))})
    first = w.close()
    assert first is not None and first.first == 0 and len(first) == 1  # 0-1 closed at >= 2
    np.testing.assert_array_equal(first.samples["mat"], [20])
    assert w.close() is None
    last = w.flush()
    assert last is not None and last.first == 1 and list(last.samples["mat"]) == [20, 10]
    assert w.flush() is None


def test_a_gap_in_all_data_gives_windows_with_nothing_present():
    w = Windower(close_delay_s=0.0, missing_after_s=3.0)
    w.add({"mat": mat_frames(np.arange(0.0, 2.0, 0.05))})
    w.add({"mat": mat_frames(np.arange(10.0, 12.0, 0.05))})
    out = w.close()
    assert out is not None and len(out) == 11  # windows 0..10
    # The last frame before the gap is at 1.95 s: present up to the window ending at 4 s.
    np.testing.assert_array_equal(out.present["mat"],
                                  [True, True, True, True, False, False, False, False, False,
                                   False, True])


def test_late_samples_are_counted_and_dropped():
    w = Windower(close_delay_s=0.0)
    w.add({"mat": mat_frames(np.arange(0.0, 3.0, 0.05))})
    assert len(w.close()) == 2
    w.add({"imu_left": imu_notification(1.5, 0.0, 5, 1)})  # samples at 1.42..1.5 s: too late
    assert w.late_samples["imu_left"] == 5


# --- sensors missing -----------------------------------------------------------------------------


def test_a_sensor_left_out_of_present_is_never_used():
    out = replay(CROSSING, present={"mat": True, "imu_left": False})
    assert out.mat.all() and not out.imu_left.any() and not out.imu_right.any()


def test_a_thigh_unit_that_goes_silent_counts_as_missing_after_3_s():
    out = replay(CROSSING, drop=lambda r: r.source == "imu_left" and r.arrival_s > 20.0)
    assert out.imu_left[out.t_s <= 20].all()
    assert not out.imu_left[out.t_s > 24].any()
    assert out.imu_right.all() and out.mat.all()
    crossed = (out.t_s > 20) & (out.t_s <= 45)
    assert (out.posture[crossed] == CROSSED_LR).all()


def test_the_mat_dropping_out_and_coming_back():
    out = replay(CROSSING, drop=lambda r: r.source == "mat" and 25.0 < r.arrival_s < 35.0)
    gone = (out.t_s > 29) & (out.t_s <= 35)
    assert not out.mat[gone].any() and out.mat[out.t_s > 37].all()
    assert np.isnan(out.seat.load_n[gone]).all()
    assert np.all(out.seat.load_n[out.t_s > 37] > 300)
    # The thighs carry the crossing through the gap.
    assert (out.posture[(out.t_s > 20) & (out.t_s <= 45)] == CROSSED_LR).all()
    assert (out.site_mmHg[gone, 4] > 0).all()


def test_no_data_at_all_for_a_while_still_gives_every_second():
    out = replay(CROSSING, drop=lambda r: 25.0 < r.arrival_s < 35.0)
    np.testing.assert_array_equal(out.t_s, np.arange(1, len(out) + 1, dtype=float))
    # (The first notifications after the gap carry samples from just before 35 s.)
    blind = (out.t_s > 29) & (out.t_s <= 34)
    assert not (out.mat[blind] | out.imu_left[blind] | out.imu_right[blind]).any()
    assert (out.confidence[blind] == 0).all()
    assert (out.posture[blind] == CROSSED_LR).all()  # the last posture, held


# --- the output ----------------------------------------------------------------------------------


def test_output_shapes_and_an_empty_feed():
    est = Estimator()
    nothing = est.feed({})
    assert len(nothing) == 0 and nothing.events == [] and est.flush().t_s.size == 0
    out = replay(CROSSING, keep_features=True)
    n = len(out)
    assert out.site_mmHg.shape == (n, 6) and out.probabilities.shape == (n, 10)
    assert out.features is not None and out.features.shape[0] == n
    assert out.seat.load_n.shape == (n,) and out.relief.dtype == bool
    assert list(out.posture_names[:3]) == ["upright"] * 3
    both = EstimateSeconds.concat([out, EstimateSeconds.empty(), out])
    assert len(both) == 2 * n


def test_unknown_stream_is_refused():
    with pytest.raises(ValueError, match="unknown streams"):
        Estimator(present={"mat": True, "imu_middle": True})
