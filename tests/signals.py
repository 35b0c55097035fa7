"""Reproducible test signals: a distinct value for every sample time, so any loss, repeat or
reordering between a device and the decoder shows up as a mismatch."""

from __future__ import annotations

import numpy as np


def ramp_pressure(t_s: np.ndarray) -> np.ndarray:
    """ADC counts (n, 16, 16) for frame times `t_s`."""
    cells = np.arange(256, dtype=np.int64).reshape(16, 16)
    frame = np.round(np.asarray(t_s) * 1000).astype(np.int64)
    return ((cells[None] * 13 + frame[:, None, None] * 7) % 4096).astype(np.uint16)


def wave_motion(placement: int, t_s: np.ndarray) -> np.ndarray:
    """IMU samples (n, 6) int16 for a placement at sample times `t_s`."""
    ms = np.round(np.asarray(t_s) * 1000).astype(np.int64)
    columns = [(ms * (k + 1) + placement * 1000) % 20000 - 10000 for k in range(6)]
    return np.stack(columns, axis=1).astype(np.int16)
