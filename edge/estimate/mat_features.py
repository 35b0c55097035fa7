"""Seat-pressure maps -> the load-distribution features that posture and movement need.

Owns the geometry of a sitter on the mat: where the pelvis (the ischial region) is,
how the load splits left/right and front/back, how far each thigh reaches, and
where the sharpest spot is. Input: zeroed maps in kPa, (n, rows, cols), row 0 at
the front edge (under the knees), column 0 on the occupant's left
(spec/hardware.md 1). Seat features for ergonomics (peak pressure index, contact
area in cm2, ...) are `edge.estimate.ergonomics`, not this module.

Every feature but the load itself is a ratio or a distance measured from the
sitter's own pelvis, so that it does not depend on body weight (45-130 kg) or on
where on the seat the person sits. A map carrying less than `MIN_SHAPE_LOAD_N`
has no shape: its shape features are 0 (the classifier's empty-seat value).

Core code: numpy only, no I/O.
"""

from __future__ import annotations

import numpy as np

# Below this seat load a map is treated as having no sitter's shape (N).
MIN_SHAPE_LOAD_N = 40.0
# A cell is in contact above this pressure (kPa): the sensor's noise floor is 0.
CONTACT_KPA = 0.5
# The ischial region reaches this far in front of the ischial row (mm): the
# tuberosities and the buttocks, not the thighs, which begin ~40 mm in front.
ISCHIAL_FRONT_MM = 28.0
# The thigh region starts this far in front of the ischial row (mm).
THIGH_START_MM = 70.0

MAT_FEATURES = (
    "log_load",            # log(seat load N + 10): nobody / somebody
    "balance_lr",          # (left - right) / total load, about the pelvis midline
    "ischial_balance_lr",  # the same within the ischial region
    "thigh_balance_lr",    # the same within the thigh region
    "ischial_fraction",    # share of the load on the ischial region
    "thigh_fraction",      # share of the load on the thigh region
    "reach_left_mm",       # how far in front of the ischial row the left thigh's load reaches
    "reach_right_mm",
    "ischial_y_mm",        # the ischial row, from the back edge of the mat
    "peak_ratio",          # highest cell / mean contact pressure
    "peak_side",           # (left peak - right peak) / their sum, each side's highest cell
    "peak_dy_mm",          # the highest cell in front (+) of the ischial row
    "rear_mid_fraction",   # share of the load behind the ischial row at the midline (sacrum)
    "area_per_load",       # log(contact cm2 / load N): how spread the contact is
)


def cell_newtons(pitch_mm: float) -> float:
    """Force (N) on one cell per kPa of pressure."""
    return (pitch_mm / 1000.0) ** 2 * 1000.0


def _interp_peak(profile: np.ndarray, lo: int) -> tuple[np.ndarray, np.ndarray]:
    """Index (with parabolic sub-cell refinement) of each row's maximum from column `lo` on."""
    n = profile.shape[0]
    sub = profile[:, lo:]
    k = np.argmax(sub, axis=1)
    left = sub[np.arange(n), np.maximum(k - 1, 0)]
    mid = sub[np.arange(n), k]
    right = sub[np.arange(n), np.minimum(k + 1, sub.shape[1] - 1)]
    denom = left - 2 * mid + right
    offset = np.where(np.abs(denom) > 1e-12, 0.5 * (left - right) / np.where(denom == 0, 1, denom),
                      0.0)
    return lo + k + np.clip(offset, -0.5, 0.5), mid


def ischial_row(kpa: np.ndarray) -> np.ndarray:
    """The row (fractional, from the front) of the ischial tuberosities, (n,).

    Each half of the seat (left, right) has its load peak in the back 60% of the
    mat; the tuberosities are the rearmost of the two. A foot tucked under one
    buttock makes a peak in front of that side's tuberosity, which the other
    side's peak then outranks.
    """
    rows, cols = kpa.shape[1:]
    found = []
    for side in (slice(0, cols // 2), slice(cols // 2, cols)):
        profile = kpa[:, :, side].sum(axis=2)
        smooth = profile.copy()
        smooth[:, 1:-1] = 0.25 * profile[:, :-2] + 0.5 * profile[:, 1:-1] + 0.25 * profile[:, 2:]
        row, _ = _interp_peak(smooth, int(rows * 0.4))
        found.append(row)
    return np.maximum(found[0], found[1])


def ischial_weights(row: np.ndarray, rows: int, pitch_mm: float) -> np.ndarray:
    """Per-row share (0..1) of each row in the ischial region, (n, rows)."""
    y = (np.arange(rows) + 0.5) * pitch_mm  # row centres from the front edge
    boundary = (row[:, None] + 0.5) * pitch_mm - ISCHIAL_FRONT_MM
    # A row counts by the part of its span behind the boundary.
    return np.clip((y[None, :] + pitch_mm / 2 - boundary) / pitch_mm, 0.0, 1.0)


def ischial_load(kpa: np.ndarray, row: np.ndarray, pitch_mm: float) -> np.ndarray:
    """Load (N) on the ischial region of each map, given each map's ischial row."""
    weights = ischial_weights(row, kpa.shape[1], pitch_mm)
    return np.einsum("nrc,nr->n", kpa, weights) * cell_newtons(pitch_mm)


def mat_features(kpa: np.ndarray, pitch_mm: float = 28.0) -> np.ndarray:
    """(n, len(MAT_FEATURES)) features of (n, rows, cols) zeroed maps in kPa."""
    kpa = np.asarray(kpa, np.float64)
    n, rows, cols = kpa.shape
    per_cell = cell_newtons(pitch_mm)
    force = kpa * per_cell
    load = force.sum(axis=(1, 2))
    safe = np.maximum(load, 1e-9)
    y = (np.arange(rows) + 0.5) * pitch_mm  # from the front edge
    x = (np.arange(cols) + 0.5) * pitch_mm  # from the occupant's left edge

    row = ischial_row(kpa)
    y_isch = (row + 0.5) * pitch_mm
    w_isch = ischial_weights(row, rows, pitch_mm)  # (n, rows)
    w_thigh = (y[None, :] < y_isch[:, None] - THIGH_START_MM).astype(np.float64)

    # Midline: the centre of the ischial region's contact footprint, which stays put
    # when the load moves from one buttock to the other.
    contact = kpa > CONTACT_KPA
    foot = contact * w_isch[:, :, None]
    foot_cells = foot.sum(axis=(1, 2))
    mid_x = np.where(foot_cells > 0, (foot * x).sum(axis=(1, 2)) / np.maximum(foot_cells, 1e-9),
                     cols * pitch_mm / 2)
    left_share = np.clip((mid_x[:, None] - (x[None, :] - pitch_mm / 2)) / pitch_mm, 0.0, 1.0)
    sign = 2.0 * left_share - 1.0  # +1 left of the midline, -1 right, in between on its cell

    def balance(region_rows: np.ndarray) -> np.ndarray:
        f = force * region_rows[:, :, None]
        total = f.sum(axis=(1, 2))
        return (f * sign[:, None, :]).sum(axis=(1, 2)) / np.maximum(total, 1e-9)

    isch_load = (force * w_isch[:, :, None]).sum(axis=(1, 2))
    thigh_load = (force * w_thigh[:, :, None]).sum(axis=(1, 2))

    # Thigh reach per side: how far forward of the ischial row 95% of that side's load lies.
    reach = []
    for side in (left_share, 1.0 - left_share):
        rows_load = (force * side[:, None, :]).sum(axis=2)  # (n, rows)
        cum = np.cumsum(rows_load, axis=1) / np.maximum(rows_load.sum(axis=1, keepdims=True),
                                                        1e-9)
        k = np.argmax(cum >= 0.05, axis=1)
        prev = np.where(k > 0, cum[np.arange(n), np.maximum(k - 1, 0)], 0.0)
        here = cum[np.arange(n), k]
        frac = np.clip((0.05 - prev) / np.maximum(here - prev, 1e-9), 0.0, 1.0)
        y_front = (k + frac) * pitch_mm  # the cell's front edge plus the share reached
        reach.append(y_isch - y_front)

    flat = kpa.reshape(n, -1)
    top = np.argmax(flat, axis=1)
    peak = flat[np.arange(n), top]
    contact_cells = contact.sum(axis=(1, 2))
    mean_contact = (kpa * contact).sum(axis=(1, 2)) / np.maximum(contact_cells, 1)
    peak_ratio = peak / np.maximum(mean_contact, 1e-9)
    peak_y = y[top // cols]
    cell_left = left_share > 0.5  # (n, cols)
    peak_left = np.where(cell_left[:, None, :], kpa, 0.0).max(axis=(1, 2))
    peak_right = np.where(cell_left[:, None, :], 0.0, kpa).max(axis=(1, 2))
    peak_side = (peak_left - peak_right) / np.maximum(peak_left + peak_right, 1e-9)

    near_mid = np.abs(x[None, :] - mid_x[:, None]) < 1.25 * pitch_mm
    behind = y[None, :] > y_isch[:, None] + 1.25 * pitch_mm
    rear_mid = (force * behind[:, :, None] * near_mid[:, None, :]).sum(axis=(1, 2))

    area_cm2 = contact_cells * (pitch_mm / 10.0) ** 2
    out = np.column_stack([
        np.log(load + 10.0),
        balance(np.ones((n, rows))),
        balance(w_isch),
        balance(w_thigh),
        isch_load / safe,
        thigh_load / safe,
        reach[0],
        reach[1],
        rows * pitch_mm - y_isch,
        peak_ratio,
        peak_side,
        y_isch - peak_y,
        rear_mid / safe,
        np.log(np.maximum(area_cm2, 1.0) / safe),
    ])
    shapeless = load < MIN_SHAPE_LOAD_N
    out[shapeless, 1:] = 0.0
    return out
