"""edge/estimate/imu_features.tilt_change_deg: how far a thigh has turned from upright.

A thigh unit strapped crooked (up to 15 degrees, `docs/simulator.md`) splits the same
turn of the thigh between its pitch and its roll differently; the tilt between gravity
now and at upright does not change.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from edge.estimate.imu_features import thigh_angles, tilt_change_deg

angle = st.floats(-40.0, 40.0)


def rotation(about: str, deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    if about == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if about == "y":
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def reading(pitch_deg: float, roll_deg: float, mount: np.ndarray) -> np.ndarray:
    """The accelerometer (mg) of a thigh at this pitch and roll, through a crooked strap."""
    p, r = np.radians(pitch_deg), np.radians(roll_deg)
    gravity = np.array([np.sin(p), np.cos(p) * np.sin(r), np.cos(p) * np.cos(r)])
    return 1000.0 * mount @ gravity


@given(angle, angle, angle, angle, st.sampled_from("xyz"), st.floats(-15.0, 15.0))
def test_the_tilt_does_not_depend_on_how_the_unit_is_strapped(p0, r0, p1, r1, about, crooked):
    straight = np.eye(3)
    mount = rotation(about, crooked)
    turned = [tilt_change_deg(*thigh_angles(reading(p1, r1, m)),
                              *thigh_angles(reading(p0, r0, m)))
              for m in (straight, mount)]
    assert abs(turned[0] - turned[1]) < 1e-6


def test_the_tilt_of_a_pure_pitch_or_roll_is_that_angle_and_unknown_is_nan():
    assert abs(tilt_change_deg(20.0, 0.0, 0.0, 0.0) - 20.0) < 1e-9
    assert abs(tilt_change_deg(0.0, -25.0, 0.0, 5.0) - 30.0) < 1e-9
    out = tilt_change_deg(np.array([5.0, np.nan]), np.zeros(2), np.zeros(2), np.array([np.nan, 0]))
    assert np.isnan(out).all()
