"""SeatMat ADC counts -> interface pressure, through the mat's calibration table.

Owns the conversion only (`spec/hardware.md` 1, "Counts to pressure"): linear
interpolation between the table's points, clamped at both ends. Zeroing drifting
cells is the estimator's job, not this module's.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MMHG_PER_KPA = 7.50062

DEFAULT_TABLE: tuple[tuple[int, float], ...] = (
    (0, 0.0), (40, 0.0), (300, 2.0), (900, 6.0), (1800, 14.0),
    (2800, 28.0), (3500, 45.0), (3950, 70.0), (4095, 90.0),
)
NOISE_FLOOR_COUNTS = 40


@dataclass(frozen=True, slots=True)
class Calibration:
    """A mat's (counts, kPa) table. Counts strictly increase; kPa never decreases."""

    points: tuple[tuple[int, float], ...] = DEFAULT_TABLE

    def __post_init__(self) -> None:
        if len(self.points) < 2:
            raise ValueError("a calibration table needs at least 2 (counts, kPa) points")
        counts = [c for c, _ in self.points]
        kpa = [k for _, k in self.points]
        if any(b <= a for a, b in itertools.pairwise(counts)):
            raise ValueError(f"calibration counts must strictly increase, got {counts}")
        if any(b < a for a, b in itertools.pairwise(kpa)) or min(kpa) < 0:
            raise ValueError(f"calibration kPa must be >= 0 and never decrease, got {kpa}")

    @classmethod
    def from_points(cls, points: Sequence[Sequence[float]]) -> Calibration:
        return cls(tuple((int(c), float(k)) for c, k in points))

    def kpa(self, counts: np.ndarray) -> np.ndarray:
        """Pressure in kPa for any array of counts (float64, same shape)."""
        xs = np.array([c for c, _ in self.points], np.float64)
        ys = np.array([k for _, k in self.points], np.float64)
        return np.interp(np.asarray(counts, np.float64), xs, ys)

    def mmhg(self, counts: np.ndarray) -> np.ndarray:
        return self.kpa(counts) * MMHG_PER_KPA

    def counts(self, kpa: np.ndarray) -> np.ndarray:
        """The inverse: counts that read as `kpa` (the lowest such count on a flat segment)."""
        xs = np.array([c for c, _ in self.points], np.float64)
        ys = np.array([k for _, k in self.points], np.float64)
        # On a flat run (the noise floor) np.interp needs strictly increasing xp: keep the last
        # point of each run so positive pressures map above the floor.
        keep = np.append(ys[1:] > ys[:-1], True)
        return np.interp(np.asarray(kpa, np.float64), ys[keep], xs[keep])
