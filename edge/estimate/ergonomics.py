"""Seat ergonomics per frame: load, contact area, centre of pressure, peak pressure index,
balance, and the load under each buttock and each thigh.

Owns the definitions of these features and of the mat's regions (left/right halves, front
and back halves) that `edge.estimate.nerve` reuses. It sees interface pressure in kPa,
already calibrated and zeroed; it does not window in time, classify posture or read a
clock. Core code: numpy only. Definitions, signs and sources: docs/estimate.md.

Mat frame (spec/hardware.md 1): row 0 is the FRONT edge (under the knees), the last row
the back (under the buttocks); column 0 is the occupant's LEFT.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.calibration import MMHG_PER_KPA

__all__ = [
    "CONTACT_KPA",
    "PPI_AREA_CM2",
    "SeatFeatures",
    "check_pitch_mm",
    "clean_kpa",
    "contact_mean_kpa",
    "peak_pressure_index_kpa",
    "region_weights",
    "seat_features",
    "window_mean_kpa",
]

CONTACT_KPA = 5.0 / MMHG_PER_KPA
"""A cell is in contact above 5 mmHg (0.67 kPa): clear of the mat's noise after zeroing
(a few counts, ~0.05 kPa) and of the 0.4 kPa below which a force-sensing cell does not
conduct at all, yet low enough to count the edges of the thighs."""

PPI_AREA_CM2 = 9.4
"""The peak pressure index averages the highest ~9-10 cm2 (Swain & Bader 2002). On the
28 mm mat a cell is 7.84 cm2: the region is the peak cell plus 1.56 cm2 (a 0.199 share) of
its highest edge neighbour."""


@dataclass(frozen=True, slots=True)
class SeatFeatures:
    """Per-frame seat features, each an (n,) float array.

    - `load_n`: total seat force (N), the sum of pressure x cell area.
    - `contact_cm2`: area of the cells above `CONTACT_KPA`.
    - `cop_x_mm`, `cop_y_mm`: centre of pressure. x from the mat's left edge (the
      occupant's left, column 0) toward the occupant's right; y from the front edge
      (row 0, under the knees) toward the back. Cell centres are at (j + 0.5) x pitch,
      (i + 0.5) x pitch, so a symmetric map on the 16 x 16 mat is centred at (224, 224).
    - `peak_pressure_index_mmHg`: the mean pressure over the highest ~9.4 cm2 (see
      `peak_pressure_index_kpa`), in mmHg.
    - `left_right_balance`: (L - R) / (L + R) in -1..1; positive = more load on the
      occupant's LEFT half of the mat.
    - `front_back_balance`: (F - B) / (F + B) in -1..1; positive = more load on the
      FRONT half (thighs), negative = on the back half (buttocks).
    - `ischial_load_left_n`, `ischial_load_right_n`: force on the back half of the mat
      on each side (under each buttock and ischial tuberosity).
    - `thigh_load_left_n`, `thigh_load_right_n`: force on the front half on each side.

    An empty frame (no load, or every cell NaN) has load, contact, the four regional
    loads and the peak pressure index 0, and NaN centre of pressure and balances
    (undefined: there is no load to locate or divide).
    """

    load_n: np.ndarray
    contact_cm2: np.ndarray
    cop_x_mm: np.ndarray
    cop_y_mm: np.ndarray
    peak_pressure_index_mmHg: np.ndarray
    left_right_balance: np.ndarray
    front_back_balance: np.ndarray
    ischial_load_left_n: np.ndarray
    ischial_load_right_n: np.ndarray
    thigh_load_left_n: np.ndarray
    thigh_load_right_n: np.ndarray


def clean_kpa(kpa: np.ndarray) -> np.ndarray:
    """(n, rows, cols) float64 pressure with NaN cells and negative values as 0 (unloaded)."""
    pressure = np.asarray(kpa, dtype=np.float64)
    if pressure.ndim != 3 or pressure.shape[1] < 1 or pressure.shape[2] < 1:
        raise ValueError(f"pressure must be (n, rows, cols) in kPa, got shape {pressure.shape}")
    if np.isinf(pressure).any():
        raise ValueError("pressure contains infinity")
    return np.where(np.isnan(pressure) | (pressure < 0.0), 0.0, pressure)


def check_pitch_mm(pitch_mm: float) -> float:
    if isinstance(pitch_mm, bool) or not isinstance(pitch_mm, int | float) \
            or not 1.0 <= pitch_mm <= 200.0:
        raise ValueError(f"pitch_mm must be a number of mm in 1..200, got {pitch_mm!r}")
    return float(pitch_mm)


def region_weights(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Weights (size,) of each row (or column) in the first and the second half of the mat.

    With an odd count the middle row or column belongs half to each; the two add to 1.
    Rows: the first half is the front (thighs), the second the back (buttocks). Columns:
    the first half is the occupant's left.
    """
    twice_centre = 2 * np.arange(size) + 1
    first = np.where(twice_centre < size, 1.0, np.where(twice_centre == size, 0.5, 0.0))
    return first, 1.0 - first


def peak_pressure_index_kpa(kpa: np.ndarray, pitch_mm: float = 28.0,
                            where: np.ndarray | None = None) -> np.ndarray:
    """Mean pressure (n,) in kPa over the highest ~`PPI_AREA_CM2` around each frame's peak.

    The peak cell (the first maximum, searched only where `where` is true when given) plus
    its edge neighbours, highest first, each taking as much of its area as the region still
    needs: on the 28 mm mat, peak + 0.199 x the highest neighbour, over 1.199 cells. Cells
    off the mat count as 0. A mat whose cells are 9.4 cm2 or more uses the peak cell alone;
    one whose peak and four neighbours cover less uses all five.
    `kpa` must be clean (`clean_kpa`).
    """
    n, _, cols = kpa.shape
    if n == 0:
        return np.zeros(0)
    search = kpa if where is None else np.where(where, kpa, -np.inf)
    peak_at = search.reshape(n, -1).argmax(axis=1)
    i, j = np.divmod(peak_at, cols)
    padded = np.pad(kpa, ((0, 0), (1, 1), (1, 1)))
    k = np.arange(n)
    peak = padded[k, i + 1, j + 1]
    neighbours = np.stack([padded[k, i, j + 1], padded[k, i + 2, j + 1],
                           padded[k, i + 1, j], padded[k, i + 1, j + 2]], axis=1)
    neighbours = -np.sort(-neighbours, axis=1)
    cell_cm2 = (pitch_mm / 10.0) ** 2
    still_needed = max(PPI_AREA_CM2 - cell_cm2, 0.0) / cell_cm2  # in cells
    shares = np.clip(still_needed - np.arange(4), 0.0, 1.0)
    return (peak + neighbours @ shares) / (1.0 + shares.sum())


def window_mean_kpa(kpa: np.ndarray, where: np.ndarray, cells: int) -> np.ndarray:
    """Mean pressure (n,) over a `cells` x `cells` square (odd) centred on the highest cell
    where `where` is true; cells off the mat count as 0. `kpa` must be clean."""
    n, _, cols = kpa.shape
    if n == 0:
        return np.zeros(0)
    half = cells // 2
    peak_at = np.where(where, kpa, -np.inf).reshape(n, -1).argmax(axis=1)
    i, j = np.divmod(peak_at, cols)
    padded = np.pad(kpa, ((0, 0), (half, half), (half, half)))
    offsets = np.arange(cells)
    rows_at = i[:, None, None] + offsets[None, :, None]
    cols_at = j[:, None, None] + offsets[None, None, :]
    return padded[np.arange(n)[:, None, None], rows_at, cols_at].mean(axis=(1, 2))


def contact_mean_kpa(kpa: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Mean pressure (n,) over the cells in contact within a region given as per-cell
    weights (rows, cols) in 0..1; 0 where the region has no contact. `kpa` must be clean."""
    in_contact = (kpa > CONTACT_KPA) * weight
    area = in_contact.sum(axis=(1, 2))
    total = (kpa * in_contact).sum(axis=(1, 2))
    return np.divide(total, area, out=np.zeros_like(total), where=area > 0)


def seat_features(kpa: np.ndarray, pitch_mm: float = 28.0) -> SeatFeatures:
    """The features of each frame of seat pressure `kpa` (n, rows, cols), in kPa.

    NaN cells (a dead cell, a gap) and negative values count as unloaded; see
    `SeatFeatures` for every definition and for what an empty frame gives.
    """
    pitch = check_pitch_mm(pitch_mm)
    pressure = clean_kpa(kpa)
    _, rows, cols = pressure.shape
    cell_m2 = (pitch / 1000.0) ** 2
    force = pressure * (1000.0 * cell_m2)  # N per cell
    front, back = region_weights(rows)
    left, right = region_weights(cols)

    by_row = force.sum(axis=2)  # (n, rows)
    by_col = force.sum(axis=1)  # (n, cols)
    load = by_row.sum(axis=1)
    loaded = load > 0
    safe_load = np.where(loaded, load, 1.0)
    centres_mm = (np.arange(max(rows, cols)) + 0.5) * pitch

    def ratio(numerator: np.ndarray) -> np.ndarray:
        return np.where(loaded, numerator / safe_load, np.nan)

    cop_x = ratio(by_col @ centres_mm[:cols])
    cop_y = ratio(by_row @ centres_mm[:rows])
    left_load, right_load = by_col @ left, by_col @ right
    front_load, back_load = by_row @ front, by_row @ back
    quadrant = np.einsum("nij,i,j->n", force, back, left), \
        np.einsum("nij,i,j->n", force, back, right), \
        np.einsum("nij,i,j->n", force, front, left), \
        np.einsum("nij,i,j->n", force, front, right)
    contact = (pressure > CONTACT_KPA).sum(axis=(1, 2)) * (pitch / 10.0) ** 2
    return SeatFeatures(
        load_n=load,
        contact_cm2=contact.astype(np.float64),
        cop_x_mm=cop_x,
        cop_y_mm=cop_y,
        peak_pressure_index_mmHg=peak_pressure_index_kpa(pressure, pitch) * MMHG_PER_KPA,
        left_right_balance=ratio(left_load - right_load),
        front_back_balance=ratio(front_load - back_load),
        ischial_load_left_n=quadrant[0],
        ischial_load_right_n=quadrant[1],
        thigh_load_left_n=quadrant[2],
        thigh_load_right_n=quadrant[3],
    )
