"""A person, not an average: the posture features measured against this sitter's upright.

Most of what tells one posture from another on a body legwake was not fitted to is a
change from how that person sits upright, not a value: a slouch shortens the thighs'
reach on the seat by a quarter whatever their length; a unit strapped 15 degrees crooked
reads 15 degrees off in every posture, so only its change from upright means anything.
`PersonReference` holds a sitter's upright value of each such feature and turns a
window's features into changes from it: an offset for angles, balances and positions,
a ratio for lengths, shares and the peak ratio. The person posture model
(`posture_params_person.py`, `bench/train_posture.py --person`) is fitted on features
made so.

Where the reference comes from: the windows of a calibration sitting upright
(`legwake calibrate` measures the mat's part), and what it lacks from `OnlineReference`:
the first `LEARN_WINDOWS` still, seated windows called upright with a confidence of at
least `LEARN_CONFIDENCE` (their median, so a few misread windows do not move it), by the
person model reading the mat against the calibration when there is one, else by the
general model. Each sensor's part is learnt on its own (a thigh unit that connects later
gets its reference later). After `FORGET_EMPTY_S` of an empty seat the reference goes
back to the calibration's: someone else may have sat down.

Core code: numpy only, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.estimate.features import FEATURES, GROUPS
from edge.estimate.labels import POSTURE_INDEX

# Changes from upright by subtraction: angles, balances, positions (mm).
OFFSET_FEATURES = (
    "balance_lr", "ischial_balance_lr", "thigh_balance_lr", "ischial_y_mm", "peak_side",
    "peak_dy_mm", "pitch_deg_left", "roll_deg_left", "pitch_deg_right", "roll_deg_right",
)
# Changes from upright by ratio: lengths and shares that scale with the person.
RATIO_FEATURES = (
    "reach_left_mm", "reach_right_mm", "thigh_fraction", "ischial_fraction", "peak_ratio",
    "rear_mid_fraction",
)
LEARN_WINDOWS = 120
LEARN_CONFIDENCE = 0.9
FORGET_EMPTY_S = 300.0
_RATIO_FLOOR = 1e-3

_INDEX = {name: i for i, name in enumerate(FEATURES)}
_OFFSET = np.array([_INDEX[f] for f in OFFSET_FEATURES])
_RATIO = np.array([_INDEX[f] for f in RATIO_FEATURES])
_UPRIGHT = POSTURE_INDEX["upright"]
_EMPTY = POSTURE_INDEX["empty"]
_STANDING = POSTURE_INDEX["standing"]


def normalise(features: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(n, len(FEATURES)) changes from upright, given the reference in effect for each
    window ((len(FEATURES),) or (n, len(FEATURES))); nan in a stream with no reference."""
    out = np.array(features, np.float64, copy=True)
    ref = np.broadcast_to(np.asarray(reference, np.float64), out.shape)
    out[:, _OFFSET] -= ref[:, _OFFSET]
    out[:, _RATIO] /= np.maximum(ref[:, _RATIO], _RATIO_FLOOR)
    for columns in GROUPS.values():
        unknown = np.isnan(ref[:, columns]).any(axis=1)
        out[unknown, columns] = np.nan
    return out


@dataclass(frozen=True, slots=True, eq=False)
class PersonReference:
    """A sitter's upright value of every feature (nan for a stream not yet known)."""

    values: np.ndarray  # (len(FEATURES),)

    def __post_init__(self) -> None:
        if np.shape(self.values) != (len(FEATURES),):
            raise ValueError(f"a reference has {len(FEATURES)} values, got "
                             f"{np.shape(self.values)}")

    @classmethod
    def unknown(cls) -> PersonReference:
        return cls(np.full(len(FEATURES), np.nan))

    @classmethod
    def from_windows(cls, features: np.ndarray) -> PersonReference:
        """The median of upright windows' features (n, len(FEATURES)), per stream over the
        windows that have it."""
        features = np.asarray(features, np.float64)
        values = np.full(len(FEATURES), np.nan)
        for columns in GROUPS.values():
            block = features[:, columns]
            rows = block[~np.isnan(block).any(axis=1)]
            if len(rows):
                values[columns] = np.median(rows, axis=0)
        return cls(values)

    def mat_part(self) -> PersonReference:
        """The mat's part alone, the thighs' unknown: what `legwake calibrate` measures."""
        values = np.full(len(FEATURES), np.nan)
        values[GROUPS["mat"]] = self.values[GROUPS["mat"]]
        return PersonReference(values)

    def known(self, stream: str) -> bool:
        return not np.isnan(self.values[GROUPS[stream]]).any()

    def normalise(self, features: np.ndarray) -> np.ndarray:
        return normalise(features, self.values)


class OnlineReference:
    """Learns a sitter's reference, window by window, from the windows called upright with
    confidence (by the model the caller chooses: `upright_p`) in which the sitter is still.

    `step` gives the reference in effect for each window, from the windows before it
    only, so live (a window at a time) and replay (hundreds) learn the same.
    """

    def __init__(self, start: PersonReference | None = None, *, learn: bool = True,
                 windows: int = LEARN_WINDOWS, confidence: float = LEARN_CONFIDENCE,
                 forget_empty_s: float = FORGET_EMPTY_S):
        self.learn = learn  # False: keep `start` as it is
        self.windows = windows
        self.confidence = confidence
        self.forget_empty_s = forget_empty_s
        self.start = start or PersonReference.unknown()
        self.values = self.start.values.copy()
        self._rows: dict[str, list[np.ndarray]] = {s: [] for s in GROUPS}
        self._empty_s = 0.0

    @property
    def reference(self) -> PersonReference:
        return PersonReference(self.values.copy())

    def step(self, features: np.ndarray, upright_p: np.ndarray, empty: np.ndarray,
             still: np.ndarray, period_s: float = 1.0) -> np.ndarray:
        """(n, len(FEATURES)): the reference each window is read against.

        `upright_p`: the probability of upright from each window alone (the general
        model's, or the person model's reading the mat against a calibration);
        `empty`: the seat is empty; `still`: no fidgeting or walking in the window.
        """
        n = len(features)
        out = np.empty((n, len(FEATURES)))
        for k in range(n):
            out[k] = self.values
            if empty[k]:
                self._empty_s += period_s
                if self._empty_s >= self.forget_empty_s:
                    self.values = self.start.values.copy()
                    self._rows = {s: [] for s in GROUPS}
                continue
            self._empty_s = 0.0
            if not self.learn or upright_p[k] < self.confidence or not still[k]:
                continue
            for stream, columns in GROUPS.items():
                row = features[k, columns]
                if not np.isnan(self.values[columns]).any() or np.isnan(row).any():
                    continue
                rows = self._rows[stream]
                rows.append(row)
                if len(rows) >= self.windows:
                    self.values[columns] = np.median(np.array(rows), axis=0)
                    rows.clear()
        return out
