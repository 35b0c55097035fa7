"""edge/estimate/posture.py: fitting the Gaussian posture model, widening it, and the
calibration error its confidences are judged by."""

import numpy as np
import pytest

from edge.estimate.features import FEATURES
from edge.estimate.posture import PostureModel, calibration_error, window_probabilities


def two_postures(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    upright = rng.normal(0.0, 1.0, (400, len(FEATURES)))
    slouched = rng.normal(0.0, 1.0, (400, len(FEATURES)))
    slouched[:, 0] += 3.0
    return np.vstack([upright, slouched]), np.array(["upright"] * 400 + ["slouched"] * 400)


def test_widening_scales_every_covariance_and_keeps_the_means():
    x, y = two_postures()
    narrow, wide = PostureModel.fit(x, y), PostureModel.fit(x, y, widen=8.0)
    np.testing.assert_allclose(wide.cov, 8.0 * narrow.cov)
    np.testing.assert_array_equal(wide.mean, narrow.mean)
    # A window far from both postures: the narrow model is sure, the wide one less so.
    far = np.zeros((1, len(FEATURES)))
    far[0, 0] = 12.0
    sure = [window_probabilities(m.log_likelihood(far), 1.0).max() for m in (narrow, wide)]
    assert sure[0] > sure[1]


@pytest.mark.parametrize("widen", [0.5, 0.0, -1.0, float("inf"), float("nan")])
def test_widening_below_one_is_refused(widen):
    x, y = two_postures()
    with pytest.raises(ValueError, match="widen"):
        PostureModel.fit(x, y, widen=widen)


def test_calibration_error_is_zero_when_confidence_matches_the_hit_rate():
    confidence = np.repeat([0.55, 0.75, 0.95], 20)
    right = np.concatenate([np.arange(20) < 11, np.arange(20) < 15, np.arange(20) < 19])
    assert calibration_error(confidence, right) == pytest.approx(0.0, abs=1e-12)


def test_calibration_error_of_a_sure_and_wrong_classifier():
    confidence = np.full(100, 0.99)
    right = np.arange(100) < 60  # sure every time, right 60% of the time
    assert calibration_error(confidence, right) == pytest.approx(0.39)
    assert np.isnan(calibration_error(np.zeros(0), np.zeros(0, bool)))
    with pytest.raises(ValueError):
        calibration_error(np.zeros(3), np.zeros(2, bool))


def test_a_mixture_keeps_each_fit_and_weighs_it_by_its_share():
    x, y = two_postures(1)
    a, b = PostureModel.fit(x, y), PostureModel.fit(x + 0.5, y, widen=2.0)
    mixed = PostureModel.mixture([(a, 0.5, ""), (b, 0.5, "varied")])
    assert mixed.classes == a.classes + tuple(f"{c}/varied" for c in b.classes)
    np.testing.assert_allclose(np.exp(mixed.log_prior).sum(), 1.0)
    # Each posture's likelihood is the share-weighted sum of the two fits' likelihoods.
    rows = x[::97]
    expected = np.logaddexp(a.log_likelihood(rows) + np.log(0.5),
                            b.log_likelihood(rows) + np.log(0.5))
    np.testing.assert_allclose(mixed.log_likelihood(rows), expected, rtol=1e-9, atol=1e-9)
    with pytest.raises(ValueError, match="clash"):
        PostureModel.mixture([(a, 0.5, ""), (b, 0.5, "")])
    with pytest.raises(ValueError, match="shares"):
        PostureModel.mixture([(a, 0.7, ""), (b, 0.7, "varied")])
