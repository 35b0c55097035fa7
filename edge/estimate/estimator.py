"""The estimate stage: decoded frames in, one estimate per second (per window) out.

Ties the stage together: windowing (`windows`), zeroing and features (`features`),
posture (`posture`), movement (`movement`), seat ergonomics (`ergonomics`) and the
pressure at each nerve site (`nerve`). It holds all the state between feeds, so
live (a feed every few frames) and replay (thousands of windows a feed) give the
same estimates.

    est = Estimator(config.estimate, nerve=config.nerve, mat_calibration=Calibration(...),
                    present={"mat": True, "imu_left": True, "imu_right": True},
                    seat="cushioned")
    out = est.feed(decoded)   # dict[source name, Decoded] -> EstimateSeconds
    out = est.flush()         # at the end of a replay: the last, partial window

Sensors: a stream counts as present in a window when `present` says it is fitted and
it delivered data within `missing_after_s` before the window's end. The posture
uses whatever is present; so do the confidence (lower with fewer sensors) and the
seat and nerve estimates (no mat: no seat features, nerve pressures from posture).
A window in which no stream is present keeps the last posture at confidence 0.

Core code: numpy only, no I/O, no clock: time is the data's arrival time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from edge.calibration import Calibration
from edge.estimate.ergonomics import SeatFeatures, seat_features
from edge.estimate.features import FEATURES, GROUPS, FeatureStage, WindowFeatures
from edge.estimate.imu_features import tilt_change_deg
from edge.estimate.labels import POSTURE_INDEX, POSTURES, SITES
from edge.estimate.movement import MovementStage
from edge.estimate.nerve import NerveMapping, site_pressures
from edge.estimate.person import OnlineReference, PersonReference, normalise
from edge.estimate.posture import (
    PostureModel,
    PostureTracker,
    confidence_caps,
    default_model,
    window_probabilities,
)
from edge.estimate.windows import STREAMS, Windower
from edge.estimate.zeroing import UprightBaseline
from edge.wire import Decoded

if TYPE_CHECKING:
    from edge.config import EstimateConfig, NerveConfig

__all__ = ["EVENT_KINDS", "EstimateSeconds", "Estimator"]

EVENT_KINDS = ("stand_up", "sit_down", "relief")
# Windows handled per step, so that one huge feed does not hold every frame's map at once.
_MAX_WINDOWS = 600
# A window is still enough to learn the sitter's upright from below these.
_STILL_THIGH_DPS = 5.0
_STILL_MAT_MM = 5.0
# The thighs' upright, for telling a folded leg (`nerve.site_pressures`), is learnt from
# the first windows the general model calls upright at least this surely: a lean or a
# slouch misread as upright turns the thighs a few degrees at most, so a looser rule
# than the person model's (`person.LEARN_CONFIDENCE`) learns sooner at little cost.
_THIGH_LEARN_CONFIDENCE = 0.5
_THIGH_LEARN_WINDOWS = 60
_ANGLES = {side: (FEATURES.index(f"pitch_deg_{side}"), FEATURES.index(f"roll_deg_{side}"))
           for side in ("left", "right")}


def _empty_seat(n: int = 0) -> SeatFeatures:
    return SeatFeatures(**{f.name: np.full(n, np.nan) for f in fields(SeatFeatures)})


@dataclass(frozen=True, slots=True)
class EstimateSeconds:
    """The estimates of the windows (seconds) completed by one feed, as (n,) arrays.

    `t_s` is the end of each window on the arrival clock (in a replay: seconds since
    the trace started), one `period_s` apart but where a long gap in all the data was
    jumped over (`windows.GAP_S`). `posture` indexes `POSTURES`, `site_mmHg` columns follow
    `SITES`. `events` are (t_s, kind) with kind in `EVENT_KINDS`, in time order.
    `mat`, `imu_left`, `imu_right` say which sensors were present in each window.
    """

    t_s: np.ndarray
    posture: np.ndarray  # (n,) int8
    confidence: np.ndarray  # (n,) 0..1
    site_mmHg: np.ndarray  # (n, 6)
    seat: SeatFeatures  # per window, nan without the mat
    relief: np.ndarray  # (n,) bool: inside a qualifying relief
    fidget: np.ndarray  # (n,) bool
    walking: np.ndarray  # (n,) bool
    events: list[tuple[float, str]]
    mat: np.ndarray  # (n,) bool
    imu_left: np.ndarray  # (n,) bool
    imu_right: np.ndarray  # (n,) bool
    probabilities: np.ndarray  # (n, len(POSTURES)) the filtered belief over the labels
    offload: np.ndarray  # (n,) ischial load taken off vs. the reference, 0..1; nan unknown
    thigh_tilt_deg: np.ndarray  # (n, 2) left, right: turned from the sitter's upright; nan unknown
    features: np.ndarray | None = field(default=None, repr=False)  # (n, len(FEATURES))
    seat_kpa: np.ndarray | None = field(default=None, repr=False)  # (n, rows, cols) mean map

    def __len__(self) -> int:
        return len(self.t_s)

    @property
    def posture_names(self) -> np.ndarray:
        return np.asarray(POSTURES)[self.posture]

    @classmethod
    def empty(cls, *, with_features: bool = False) -> EstimateSeconds:
        return cls(t_s=np.zeros(0), posture=np.zeros(0, np.int8), confidence=np.zeros(0),
                   site_mmHg=np.zeros((0, len(SITES))), seat=_empty_seat(),
                   relief=np.zeros(0, bool), fidget=np.zeros(0, bool),
                   walking=np.zeros(0, bool), events=[], mat=np.zeros(0, bool),
                   imu_left=np.zeros(0, bool), imu_right=np.zeros(0, bool),
                   probabilities=np.zeros((0, len(POSTURES))), offload=np.zeros(0),
                   thigh_tilt_deg=np.zeros((0, 2)),
                   features=np.zeros((0, len(FEATURES))) if with_features else None)

    @classmethod
    def concat(cls, parts: list[EstimateSeconds]) -> EstimateSeconds:
        """One EstimateSeconds of several, in order (a replay's whole run)."""
        parts = [p for p in parts if len(p) or p.events]
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        values: dict[str, Any] = {}
        for f in fields(cls):
            items = [getattr(p, f.name) for p in parts]
            if f.name == "events":
                values[f.name] = [e for item in items for e in item]
            elif f.name == "seat":
                values[f.name] = SeatFeatures(**{
                    g.name: np.concatenate([getattr(s, g.name) for s in items])
                    for g in fields(SeatFeatures)})
            elif f.name == "seat_kpa":
                shape = next((i.shape[1:] for i in items if i is not None), None)
                values[f.name] = None if shape is None else np.concatenate([
                    i if i is not None else np.full((len(p), *shape), np.nan)
                    for i, p in zip(items, parts)])
            elif f.name == "features":
                values[f.name] = None if any(i is None for i in items) \
                    else np.concatenate(items)
            else:
                values[f.name] = np.concatenate(items)
        return cls(**values)


class Estimator:
    """Decoded frames -> posture, movement, seat features and nerve-site pressures."""

    def __init__(self, config: EstimateConfig | None = None, *,
                 nerve: NerveConfig | NerveMapping | None = None,
                 mat_calibration: Calibration | None = None,
                 present: Mapping[str, bool] | None = None, seat: str | None = None,
                 zero_offsets: np.ndarray | None = None,
                 baseline: UprightBaseline | None = None,
                 model: PostureModel | None = None, keep_features: bool = False,
                 mat_orientation: str = "auto", person: PersonReference | None = None,
                 learn_person: bool = False, person_model: PostureModel | None = None):
        """
        - `config`: the `[estimate]` section (defaults when None).
        - `nerve`: the `[nerve]` section or a NerveMapping (defaults when None); `seat`,
          when given, overrides its seat ("cushioned" or "hard").
        - `present`: which streams ("mat", "imu_left", "imu_right") are fitted; a
          stream left out or False is never used, even if its data arrives.
        - `zero_offsets`: the mat's per-cell zero (counts) from `legwake calibrate`
          (`zeroing.zero_from_frames`); re-zeroing from empty-seat windows refines it.
        - `baseline`: the sitter's upright baseline (`zeroing.upright_baseline`), the
          reference for reliefs until each posture has its own.
        - `keep_features`: also return each window's feature vector (training, study).
        - `mat_orientation`: how the mat lies (`orientation.ORIENTATIONS`), or "auto" to
          learn front from back from the first seated minutes.
        - `person`: the sitter's upright features (`person.PersonReference`, from a
          calibration); `learn_person`: learn what is missing of it from the first still
          upright minutes. Once a window's sensors all have a reference and a thigh unit
          is among them, its posture comes from the person model (`person_model`, default
          the committed one) on features as changes from upright; before that, and for
          the mat alone, from the general `model`.
        """
        if config is None:
            from edge.config import EstimateConfig as _EstimateConfig

            config = _EstimateConfig()
        if nerve is None:
            from edge.config import NerveConfig as _NerveConfig

            nerve = _NerveConfig()
        mapping = nerve if isinstance(nerve, NerveMapping) else NerveMapping.from_config(nerve)
        if seat is not None:
            mapping = dataclasses.replace(mapping, seat=seat)
        self.config = config
        self.mapping = mapping
        self.pitch_mm = config.mat_pitch_mm
        enabled = {s: True for s in STREAMS} if present is None else \
            {s: bool(present.get(s, False)) for s in STREAMS}
        unknown = set(present or {}) - set(STREAMS)
        if unknown:
            raise ValueError(f"unknown streams in present: {sorted(unknown)}; "
                             f"streams are {', '.join(STREAMS)}")
        self.windower = Windower(period_s=config.period_s, close_delay_s=config.close_delay_s,
                                 missing_after_s=config.missing_after_s, enabled=enabled)
        self.features = FeatureStage(calibration=mat_calibration or Calibration(),
                                     pitch_mm=self.pitch_mm, empty_load_n=config.empty_load_n,
                                     zero_time_constant_s=config.zero_time_constant_s,
                                     zero_settle_s=config.zero_settle_s,
                                     zero_offsets=zero_offsets,
                                     orientation=mat_orientation)
        self.model = model or default_model()
        self.person: OnlineReference | None = None
        self.person_model = person_model
        if person is not None or learn_person:
            self.person = OnlineReference(person, learn=learn_person)
            self.person_model = person_model or default_model(person=True)
        self.person_windows = 0  # windows read against the sitter's own upright
        # A calibration's seat features, the thighs left out: what learning reads the mat by.
        self._calibrated_mat = person.mat_part().values \
            if person is not None and person.known("mat") else None
        # The thighs' upright: a calibration's, else learnt (`_THIGH_LEARN_*`).
        self.thighs = OnlineReference(person, learn=person is None or learn_person,
                                      windows=_THIGH_LEARN_WINDOWS,
                                      confidence=_THIGH_LEARN_CONFIDENCE)
        self.tracker = PostureTracker(switch_per_s=config.posture_switch_per_s,
                                      evidence_weight=config.evidence_weight,
                                      period_s=config.period_s)
        self.movement = MovementStage(relief_offload=config.relief_offload,
                                      relief_min_s=config.relief_min_s,
                                      period_s=config.period_s, pitch_mm=self.pitch_mm,
                                      baseline=baseline)
        self.keep_features = keep_features
        self._nothing = EstimateSeconds.empty(with_features=keep_features)
        self._last_posture = POSTURES.index("empty")

    @property
    def mat_orientation(self) -> tuple[str, bool]:
        """How the mat lies as known now, and whether that is settled (its front and back,
        and its left and right: those only when the thigh units have seen crossings)."""
        orientation = self.features.orientation
        return orientation.name, orientation.decided and orientation.sides_checked

    @property
    def mat_mirror_suspected(self) -> bool:
        """Crossings say the mat's left and right are swapped ("auto" does not act on it)."""
        return self.features.orientation.mirror_suspected

    @property
    def zero_offsets(self) -> np.ndarray | None:
        """The mat's per-cell zero (counts) now in effect; None before the first frame."""
        zero = self.features.zero
        return None if zero is None else zero.offsets.copy()

    def feed(self, decoded: Mapping[str, Decoded]) -> EstimateSeconds:
        """Take one feed of decoded frames; the estimates of the windows it completed."""
        self.windower.add(decoded)
        return self._drain(final=False)

    def flush(self) -> EstimateSeconds:
        """Close every window up to the latest data (the end of a replay)."""
        return self._drain(final=True)

    def _drain(self, *, final: bool) -> EstimateSeconds:
        parts = []
        while True:
            win = (self.windower.flush(max_windows=_MAX_WINDOWS) if final
                   else self.windower.close(max_windows=_MAX_WINDOWS))
            if win is None:
                break
            parts.append(self._estimate(self.features.process(win)))
        if not parts:
            # Most live feeds complete no second: one shared, read-only empty result.
            return self._nothing
        return EstimateSeconds.concat(parts)

    def _log_likelihood(self, feats: WindowFeatures) -> tuple[np.ndarray, np.ndarray]:
        """(n, len(POSTURES)) per window: from the person model where a thigh unit is
        present and every sensor present has the sitter's reference, else from the general
        model; and (n, 2) each thigh's tilt from the sitter's upright (nan unknown)."""
        general = self.model.log_likelihood(feats.features)
        alone = window_probabilities(general, self.config.evidence_weight)
        thigh = np.nan_to_num(feats.thigh_motion_dps, nan=0.0).max(axis=1)
        mat = np.nan_to_num(feats.mat_motion_mm, nan=0.0)
        still = (thigh < _STILL_THIGH_DPS) & (mat < _STILL_MAT_MM)
        empty = alone.argmax(axis=1) == POSTURE_INDEX["empty"]
        upright_p = alone[:, POSTURE_INDEX["upright"]]
        thighs = self.thighs.step(feats.features, upright_p, empty, still, self.config.period_s)
        tilt = np.stack([tilt_change_deg(feats.features[:, p], feats.features[:, r],
                                         thighs[:, p], thighs[:, r])
                         for p, r in _ANGLES.values()], axis=1)
        if self.person is None:
            return general, tilt
        reference = self.person.step(feats.features, self._upright_p(feats, upright_p, empty),
                                     empty, still, self.config.period_s)
        changes = normalise(feats.features, reference)
        # The mat alone is read by the general model: against the sitter's upright it tells
        # a tucked foot from a lean less well (bench/estimate.py --person calibrated_mat
        # --modes mat_only), and that is the case the nerves need most.
        use = feats.present["imu_left"] | feats.present["imu_right"]
        for stream, columns in GROUPS.items():
            known = ~np.isnan(reference[:, columns]).any(axis=1)
            use &= known | ~feats.present[stream]
        if not use.any():
            return general, tilt
        assert self.person_model is not None
        self.person_windows += int(use.sum())
        out = general.copy()
        out[use] = self.person_model.log_likelihood(changes[use])
        return out, tilt

    def _upright_p(self, feats: WindowFeatures, general: np.ndarray, empty: np.ndarray
                   ) -> np.ndarray:
        """(n,) how surely each window alone is upright, for learning what the person
        reference is missing.

        With a calibration's seat features, the person model reads the mat against them
        (the thighs left out): it is right far more often on a body the general model was
        not fitted on, and the calibration never changes, so live and replay learn alike.
        Else the general model's (`general`). The thighs' upright for telling a folded
        leg keeps the general model's looser rule: it must be known early."""
        if self.person is None or not self.person.learn or self._calibrated_mat is None:
            return general
        missing = any(feats.present[stream].any() and np.isnan(self.person.values[columns]).any()
                      for stream, columns in GROUPS.items() if stream != "mat")
        if not (missing or empty.any()):
            return general  # nothing here left to learn, and no empty seat to forget it by
        assert self.person_model is not None
        against_mat = normalise(feats.features, self._calibrated_mat)
        p = window_probabilities(self.person_model.log_likelihood(against_mat),
                                 self.config.evidence_weight)[:, POSTURE_INDEX["upright"]]
        return np.where(feats.present["mat"], p, 0.0)

    def _estimate(self, feats: WindowFeatures) -> EstimateSeconds:
        n = len(feats)
        present = feats.present
        log_likelihood, tilt = self._log_likelihood(feats)
        posture, confidence, belief = self.tracker.run(log_likelihood)
        caps = confidence_caps(present, mat_only_crossing=self.config.mat_only_crossing_confidence)
        confidence = np.minimum(confidence, caps[np.arange(n), posture])
        nothing = ~(present["mat"] | present["imu_left"] | present["imu_right"])
        if nothing.any():
            # No sensor at all: keep the last posture, and say it is not known now.
            for k in np.flatnonzero(nothing):
                posture[k] = posture[k - 1] if k > 0 else self._last_posture
            confidence[nothing] = 0.0
        self._last_posture = int(posture[-1])
        movement = self.movement.run(feats, posture)

        kpa = feats.kpa
        usable = np.zeros(n, bool) if kpa is None else ~np.isnan(kpa[:, 0, 0])
        seat = _empty_seat(n)
        if usable.any():
            assert kpa is not None
            found = seat_features(kpa[usable], self.pitch_mm)
            for f in fields(SeatFeatures):
                getattr(seat, f.name)[usable] = getattr(found, f.name)
        site = site_pressures(kpa if usable.any() else None, posture.astype(np.int64),
                              self.mapping, pitch_mm=self.pitch_mm,
                              unsure_top=~(present["imu_left"] | present["imu_right"]),
                              thigh_tilt_deg=tilt)

        return EstimateSeconds(
            t_s=feats.t_s, posture=posture.astype(np.int8), confidence=confidence,
            site_mmHg=site, seat=seat, relief=movement.relief, fidget=movement.fidget,
            walking=movement.walking, events=movement.events, mat=present["mat"].copy(),
            imu_left=present["imu_left"].copy(), imu_right=present["imu_right"].copy(),
            probabilities=belief, offload=movement.offload, thigh_tilt_deg=tilt,
            features=feats.features if self.keep_features else None,
            seat_kpa=kpa if usable.any() else None)
