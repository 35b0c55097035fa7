"""Feature vectors -> posture, once a window, with a confidence.

Owns the classifier and the smoothing over time:

- `PostureModel`: one Gaussian per sub-class of posture (a posture as such, the
  same posture during each kind of weight shift, standing or away while walking),
  with a full covariance over the features (`edge.estimate.features.FEATURES`).
  A posture's likelihood is the prior-weighted sum over its sub-classes. A
  missing sensor's features are left out by marginalising them, which for a
  Gaussian is taking the sub-vector of the mean and the sub-block of the
  covariance: the same model serves all sensors, mat only, thighs only and one
  thigh. The parameters are learnt by `bench/train_posture.py` on simulated
  sittings and stored in `edge/estimate/posture_params.py`.
- `PostureTracker`: a hidden Markov model over the labels, filtered forward in
  time (causal: a window's label never changes afterwards). A label switches with
  a small probability per second, and the evidence of one window is weighted
  down (windows are not independent), so one odd window does not flip the label
  while a real change (a crossing) wins within a couple of seconds. The confidence
  is the lower of the label's filtered probability and its probability from the
  window alone (so a label the present sensors cannot tell from another is never
  confident, however long it has been held).

Core code: numpy only, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType

import numpy as np

from edge.estimate.features import FEATURES, GROUPS
from edge.estimate.labels import POSTURE_INDEX, POSTURES

_LOG_2PI = math.log(2.0 * math.pi)


def available_columns(features: np.ndarray) -> np.ndarray:
    """(n, D) bool: the columns of each row that belong to a stream with values in it."""
    available = np.zeros(features.shape, bool)
    for columns in GROUPS.values():
        has = ~np.isnan(features[:, columns]).any(axis=1)
        available[:, columns] = has[:, None]
    return available


@dataclass(frozen=True, slots=True, eq=False)
class PostureModel:
    """Gaussian sub-classes of the postures over the feature vector."""

    features: tuple[str, ...]
    classes: tuple[str, ...]  # "upright", "upright/lift_left", "empty/walking", ...
    posture: np.ndarray  # (K,) index into POSTURES of each sub-class
    log_prior: np.ndarray  # (K,)
    mean: np.ndarray  # (K, D)
    cov: np.ndarray  # (K, D, D)
    _cache: dict[bytes, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(
        default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        k, d = len(self.classes), len(self.features)
        if self.features != FEATURES:
            raise ValueError("the posture model was trained on other features than "
                             "edge.estimate.features.FEATURES: retrain it "
                             "(bench/train_posture.py)")
        shapes = {"posture": (k,), "log_prior": (k,), "mean": (k, d), "cov": (k, d, d)}
        for name, shape in shapes.items():
            if np.shape(getattr(self, name)) != shape:
                raise ValueError(f"{name} has shape {np.shape(getattr(self, name))}, "
                                 f"expected {shape}")
        if not set(np.unique(self.posture)) <= set(range(len(POSTURES))):
            raise ValueError("posture indices must index POSTURES")

    # --- construction --------------------------------------------------------------------

    @classmethod
    def from_module(cls, module: ModuleType) -> PostureModel:
        """The model stored in a generated parameter module (see `to_source`)."""
        d = len(module.FEATURES)
        tril = np.tril_indices(d)
        cov = np.zeros((len(module.CLASSES), d, d))
        for k, packed in enumerate(module.COV_TRIL):
            cov[k][tril] = packed
            cov[k] = cov[k] + np.tril(cov[k], -1).T
        return cls(features=tuple(module.FEATURES), classes=tuple(module.CLASSES),
                   posture=np.array([POSTURE_INDEX[c.split("/")[0]] for c in module.CLASSES]),
                   log_prior=np.array(module.LOG_PRIOR, np.float64),
                   mean=np.array(module.MEAN, np.float64), cov=cov)

    @classmethod
    def default(cls) -> PostureModel:
        from edge.estimate import posture_params

        return cls.from_module(posture_params)

    @classmethod
    def default_person(cls) -> PostureModel:
        """The committed person model: features as changes from the sitter's upright
        (`edge.estimate.person`)."""
        from edge.estimate import posture_params_person

        return cls.from_module(posture_params_person)

    @classmethod
    def fit(cls, features: np.ndarray, classes: Sequence[str] | np.ndarray, *,
            shrink: float = 200.0, floor: float = 0.02, diagonal: bool = False,
            widen: float = 1.0) -> PostureModel:
        """Fit on rows of `features` labelled with sub-class names ("posture[/variant]").

        A variant's covariance is shrunk toward its posture's (`shrink` pseudo-rows),
        as variants (weight shifts) have few windows; every covariance gets
        (`floor` x the feature's overall spread)^2 on its diagonal, so that a feature
        that is constant within a class (a shapeless empty seat) stays usable.
        `diagonal` keeps only each feature's own spread: correlations between features
        are the part of a simulator least likely to hold on another body. `widen`
        multiplies every covariance: a body the model was not fitted on spreads wider
        than the bodies it was, and a model as narrow as its training data is confidently
        wrong there (`bench/train_posture.py --choose-widen` picks it on a body held out).
        """
        if not 1.0 <= widen < np.inf:
            raise ValueError(f"widen must be >= 1, got {widen!r}")
        features = np.asarray(features, np.float64)
        labels = np.asarray(classes)
        if np.isnan(features).any():
            raise ValueError("training rows must have every feature")
        names = tuple(sorted(set(labels.tolist())))
        spread = features.std(axis=0)
        floor_cov = np.diag((floor * spread) ** 2 + 1e-9)
        base: dict[str, np.ndarray] = {}
        for name in names:
            if "/" not in name:
                base[name] = np.cov(features[labels == name].T)
        mean, cov, prior = [], [], []
        for name in names:
            rows = features[labels == name]
            if len(rows) < 2:
                raise ValueError(f"sub-class {name!r} has {len(rows)} training rows")
            own = np.cov(rows.T)
            parent = base.get(name.split("/")[0])
            if "/" in name and parent is not None:
                own = (len(rows) * own + shrink * parent) / (len(rows) + shrink)
            mean.append(rows.mean(axis=0))
            own = own + floor_cov
            cov.append(widen * (np.diag(np.diag(own)) if diagonal else own))
            prior.append(len(rows) / len(features))
        return cls(features=FEATURES, classes=names,
                   posture=np.array([POSTURE_INDEX[c.split("/")[0]] for c in names]),
                   log_prior=np.log(np.array(prior)), mean=np.array(mean), cov=np.array(cov))

    @classmethod
    def mixture(cls, parts: Sequence[tuple[PostureModel, float, str]]) -> PostureModel:
        """One model of several fits (model, share, tag) as a mixture: every fit's
        sub-classes, their priors scaled by the fit's share; a tag other than "" is
        appended to that fit's sub-class names ("upright/varied")."""
        shares = np.array([share for _, share, _ in parts], np.float64)
        if not parts or not np.all(shares > 0) or not math.isclose(shares.sum(), 1.0):
            raise ValueError("a mixture needs fits with positive shares summing to 1")
        classes = tuple(c + (f"/{tag}" if tag else "") for m, _, tag in parts for c in m.classes)
        if len(set(classes)) != len(classes):
            raise ValueError("the fits' sub-class names clash: tag them")
        return cls(features=FEATURES, classes=classes,
                   posture=np.concatenate([m.posture for m, _, _ in parts]),
                   log_prior=np.concatenate([m.log_prior + math.log(share)
                                             for m, share, _ in parts]),
                   mean=np.concatenate([m.mean for m, _, _ in parts]),
                   cov=np.concatenate([m.cov for m, _, _ in parts]))

    def to_source(self, header: str, *, digits: int = 5) -> str:
        """A Python module holding this model, for `from_module`."""
        tril = np.tril_indices(len(self.features))

        def fmt(values: np.ndarray) -> str:
            return "(" + ", ".join(f"{v:.{digits}g}" for v in values) + ",)"

        lines = [f'"""{header}"""', "",
                 f"FEATURES = {self.features!r}", "",
                 f"CLASSES = {self.classes!r}", "",
                 f"LOG_PRIOR = {fmt(self.log_prior)}", "", "MEAN = ("]
        lines += [f"    {fmt(row)}," for row in self.mean]
        lines += [")", "", "# Lower triangle of each sub-class's covariance, row by row.",
                  "COV_TRIL = ("]
        lines += [f"    {fmt(c[tril])}," for c in self.cov]
        lines += [")", ""]
        return "\n".join(lines)

    # --- evaluation ------------------------------------------------------------------------

    def _marginal(self, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean, inverse Cholesky factor, log normaliser) of every sub-class over `columns`."""
        key = np.packbits(columns).tobytes()
        cached = self._cache.get(key)
        if cached is None:
            idx = np.flatnonzero(columns)
            cov = self.cov[:, idx[:, None], idx[None, :]]
            chol = np.linalg.cholesky(cov)
            inv = np.linalg.inv(chol)
            log_norm = -np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1) \
                - 0.5 * len(idx) * _LOG_2PI
            cached = (self.mean[:, idx], inv, log_norm)
            self._cache[key] = cached
        return cached

    def class_log_joint(self, features: np.ndarray) -> np.ndarray:
        """(n, K) log p(x, sub-class) over each row's available columns (0 where none)."""
        features = np.asarray(features, np.float64)
        available = available_columns(features)
        out = np.zeros((len(features), len(self.classes)))
        patterns, which = np.unique(available, axis=0, return_inverse=True)
        for p, columns in enumerate(patterns):
            rows = np.flatnonzero(which.ravel() == p)
            if not columns.any():
                out[rows] = self.log_prior
                continue
            mean, inv, log_norm = self._marginal(columns)
            diff = features[rows][:, None, columns] - mean[None]  # (r, K, d)
            z = np.einsum("kde,rke->rkd", inv, diff)
            out[rows] = log_norm - 0.5 * (z * z).sum(axis=2) + self.log_prior
        return out

    def log_likelihood(self, features: np.ndarray) -> np.ndarray:
        """(n, len(POSTURES)) log p(x, posture): the posture's sub-classes summed."""
        joint = self.class_log_joint(features)
        out = np.full((len(features), len(POSTURES)), -np.inf)
        for label in range(len(POSTURES)):
            mine = self.posture == label
            if mine.any():
                out[:, label] = np.logaddexp.reduce(joint[:, mine], axis=1)
        return out


class PostureTracker:
    """Forward filtering of the labels over windows; keeps its belief between calls."""

    def __init__(self, *, switch_per_s: float, evidence_weight: float, period_s: float = 1.0,
                 labels: int = len(POSTURES)):
        if not 0 < switch_per_s < 1:
            raise ValueError(f"switch_per_s must be in (0, 1), got {switch_per_s}")
        switch = 1.0 - (1.0 - switch_per_s) ** period_s
        self.transition = np.full((labels, labels), switch / (labels - 1))
        np.fill_diagonal(self.transition, 1.0 - switch)
        self.evidence_weight = evidence_weight
        self.belief = np.full(labels, 1.0 / labels)

    def run(self, log_likelihood: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(label (n,), confidence (n,), belief (n, labels)) for windows in time order."""
        n, labels = log_likelihood.shape
        evidence = window_probabilities(log_likelihood, self.evidence_weight)
        beliefs = np.empty((n, labels))
        belief = self.belief
        transition = self.transition
        for k in range(n):
            belief = (belief @ transition) * evidence[k]
            belief = belief / belief.sum()
            beliefs[k] = belief
        self.belief = belief
        label = beliefs.argmax(axis=1)
        # The confidence is also what this window alone says of the label: when the
        # sensors present cannot tell two labels apart (standing or away, with the
        # mat alone), the smoothing may hold one label, but not claim to know it.
        rows = np.arange(n)
        return label, np.minimum(beliefs[rows, label], evidence[rows, label]), beliefs


def default_model(person: bool = False) -> PostureModel:
    """The committed model (or the person model), loaded once per process."""
    if person not in _DEFAULT:
        _DEFAULT[person] = PostureModel.default_person() if person else PostureModel.default()
    return _DEFAULT[person]


_DEFAULT: dict[bool, PostureModel] = {}


def window_probabilities(log_likelihood: np.ndarray, evidence_weight: float) -> np.ndarray:
    """(n, labels) each label's probability from each window's evidence alone."""
    evidence = evidence_weight * log_likelihood
    evidence = np.exp(evidence - evidence.max(axis=1, keepdims=True))
    return evidence / evidence.sum(axis=1, keepdims=True)


def confidence_caps(present: Mapping[str, np.ndarray], *, mat_only_crossing: float) -> np.ndarray:
    """(n, len(POSTURES)) highest confidence each label may have, given the streams present.

    With the mat alone the direction of a crossing rests on the load pattern only
    (which thigh reaches less far): report it, but say so with a lower confidence.
    """
    mat = present["mat"]
    caps = np.ones((len(mat), len(POSTURES)))
    mat_only = mat & ~present["imu_left"] & ~present["imu_right"]
    for name in ("crossed_left_over_right", "crossed_right_over_left"):
        caps[mat_only, POSTURE_INDEX[name]] = mat_only_crossing
    return caps


def calibration_error(confidence: np.ndarray, right: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: over equal-width bins of confidence, the share-weighted
    gap between the mean confidence and the share of labels that were right. 0 when a
    label said with confidence p is right a fraction p of the time."""
    confidence = np.asarray(confidence, np.float64)
    right = np.asarray(right, bool)
    if confidence.shape != right.shape or confidence.ndim != 1:
        raise ValueError("confidence and right must be (n,) arrays of the same length")
    if confidence.size == 0:
        return float("nan")
    which = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    gap = np.abs(np.bincount(which, confidence, bins) - np.bincount(which, right, bins))
    return float(gap.sum() / count.sum())
