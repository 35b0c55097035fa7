"""Thigh-unit samples -> per-window thigh angles and motion.

Owns the reading of one LegIMU (spec/hardware.md 2): x along the thigh toward
the knee, z up out of its top, y toward the occupant's left. At rest the
accelerometer reads gravity in the thigh's frame, so

    ax = sin(pitch), ay = cos(pitch) sin(roll), az = cos(pitch) cos(roll)

with pitch + raising the knee (a standing thigh: -90 deg) and roll + tilting the
top of the thigh toward the occupant's right. The roll feature is the sideways
tilt asin(ay / |a|): the roll itself on a seated thigh, and near 0 (not an
undefined angle) on a standing one. The gyroscope gives how much the
thigh moves: the spread of its angular rate within a window (its bias drops out).

Core code: numpy only, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.estimate.windows import ImuWindowed

IMU_SIDE_FEATURES = (
    "pitch_deg",   # knee up +, a standing thigh -90
    "roll_deg",    # top of the thigh toward the occupant's right +
    "log_motion",  # log(1 + rms angular rate about its mean, deg/s), over the last few windows
)


@dataclass(frozen=True, slots=True)
class ImuWindowStats:
    """Per window: sample count, mean specific force (mg) and angular-rate spread."""

    count: np.ndarray  # (n,)
    accel_mg: np.ndarray  # (n, 3) mean; nan where no sample
    gyro_sq: np.ndarray  # (n,) sum over samples of |gyro - window mean|^2 (deg/s)^2
    gyro_rms: np.ndarray  # (n,) rms of |gyro - window mean| (deg/s); nan where no sample


def window_stats(imu: ImuWindowed, n: int) -> ImuWindowStats:
    count = np.bincount(imu.window, minlength=n).astype(np.float64)
    safe = np.maximum(count, 1.0)
    accel = np.stack([np.bincount(imu.window, imu.accel_mg[:, k], minlength=n)
                      for k in range(3)], axis=1) / safe[:, None]
    gyro_mean = np.stack([np.bincount(imu.window, imu.gyro_dps[:, k], minlength=n)
                          for k in range(3)], axis=1) / safe[:, None]
    dev = imu.gyro_dps - gyro_mean[imu.window]
    gyro_sq = np.bincount(imu.window, (dev * dev).sum(axis=1), minlength=n)
    empty = count == 0
    accel[empty] = np.nan
    rms = np.sqrt(gyro_sq / safe)
    rms[empty] = np.nan
    return ImuWindowStats(count, accel, gyro_sq, rms)


def thigh_angles(accel_mg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pitch, roll) in degrees from mean specific force (..., 3) in mg."""
    ax, ay, az = accel_mg[..., 0], accel_mg[..., 1], accel_mg[..., 2]
    pitch = np.degrees(np.arctan2(ax, np.hypot(ay, az)))
    norm = np.maximum(np.sqrt(ax * ax + ay * ay + az * az), 1e-9)
    roll = np.degrees(np.arcsin(np.clip(ay / norm, -1.0, 1.0)))
    return pitch, roll


def _gravity(pitch_deg: np.ndarray, roll_deg: np.ndarray) -> np.ndarray:
    """The unit vector of gravity in the thigh unit's frame, from `thigh_angles`."""
    ax, ay = np.sin(np.radians(pitch_deg)), np.sin(np.radians(roll_deg))
    return np.stack([ax, ay, np.sqrt(np.clip(1.0 - ax * ax - ay * ay, 0.0, 1.0))], axis=-1)


def tilt_change_deg(pitch_deg: np.ndarray, roll_deg: np.ndarray, upright_pitch_deg: np.ndarray,
                    upright_roll_deg: np.ndarray) -> np.ndarray:
    """How far (degrees) a thigh has turned from its sitter's upright, any way.

    The angle between gravity now and at upright, both in the unit's frame: unlike a
    change of pitch or roll, it does not depend on how crooked the unit is strapped
    (a unit turned on the thigh splits one turn of the thigh between its pitch and roll
    differently, but the angle between the two directions is the same). nan where either
    is unknown. (atan2 of the cross and dot products: arccos of the dot product loses
    precision for directions close together, which are the common case.)"""
    now = _gravity(np.asarray(pitch_deg, np.float64), np.asarray(roll_deg, np.float64))
    then = _gravity(np.asarray(upright_pitch_deg, np.float64),
                    np.asarray(upright_roll_deg, np.float64))
    across = np.linalg.norm(np.cross(now, then), axis=-1)
    return np.degrees(np.arctan2(across, (now * then).sum(axis=-1)))
