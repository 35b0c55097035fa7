"""The pipeline from received chunks to per-second estimates and events, for live and replay.

Owns the first stages (decode -> estimate) and the posture events they give
rise to; `edge.agent` adds the model and the policy. Replay hands it large
batches, the live agent small ones: the same code runs either way. It does no
I/O of its own; callers give it chunks and take its estimates.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from edge.calibration import Calibration
from edge.config import Config
from edge.decode import Decoders
from edge.estimate.estimator import EstimateSeconds, Estimator
from edge.estimate.labels import POSTURES
from edge.sources.base import Received

IMU_SOURCES = ("imu_left", "imu_right")


def sensors_present(sources: Mapping[str, Mapping[str, Any]]) -> dict[str, bool]:
    """Which sensors a set of sources can deliver: a wired-IMU mat carries both thighs."""
    mat = sources.get("mat")
    wired = bool(mat and mat.get("imu_rate_hz"))
    return {"mat": mat is not None,
            **{name: name in sources or wired for name in IMU_SOURCES}}


@dataclass(slots=True)
class PostureEvents:
    """Turns per-second postures into one event each time the label changes."""

    last: int | None = None

    def events(self, seconds: EstimateSeconds) -> Iterator[dict[str, Any]]:
        for t, posture, confidence in zip(seconds.t_s.tolist(), seconds.posture.tolist(),
                                          seconds.confidence.tolist()):
            if posture != self.last:
                self.last = posture
                yield {"t": round(t, 3), "event": "posture", "posture": POSTURES[posture],
                       "confidence": round(confidence, 3)}


@dataclass(slots=True)
class Pipeline:
    """Decoders and the estimator for one set of sources, with the event stream on top."""

    decoders: Decoders
    estimator: Estimator
    posture_events: PostureEvents = field(default_factory=PostureEvents)

    @classmethod
    def for_sources(cls, sources: Mapping[str, Mapping[str, Any]], config: Config, *,
                    this_mat: bool = False) -> Pipeline:
        """`this_mat`: the sources are this desk's own mat (live), so its calibration file
        and [mat] orientation apply; a trace's mat may be another, and zeroes itself from
        empty-seat moments and finds its front from the load."""
        # Reads the calibration file: kept out of the core.
        from edge.calibrate import Calibrated, load

        calibration = Calibration.from_points(config.mat.calibration_points())
        calibrated = (load(config.mat.zero_file) if this_mat and config.mat.zero_file
                      else Calibrated(None, None, None))
        upright = calibrated.upright_of(config.desk.person)
        if calibrated.person is not None and upright is None:
            logging.getLogger(__name__).warning(
                "the mat calibration's upright was measured on %s, not on [desk] person %s: "
                "the posture is read against the average body until `legwake calibrate` is "
                "run again", repr(calibrated.sitter), repr(config.desk.person))
        estimator = Estimator(config.estimate, nerve=config.nerve, mat_calibration=calibration,
                              present=sensors_present(sources), seat=config.nerve.seat,
                              zero_offsets=calibrated.zero, baseline=calibrated.baseline,
                              mat_orientation=config.mat.orientation if this_mat else "auto",
                              person=upright, learn_person=upright is not None)
        return cls(Decoders(sources), estimator)

    def feed(self, chunks: Iterable[Received]) -> tuple[EstimateSeconds, list[dict[str, Any]]]:
        """The seconds these chunks complete, and the events they give rise to."""
        return self._events(self.estimator.feed(self.decoders.feed(chunks)))

    def finish(self) -> tuple[EstimateSeconds, list[dict[str, Any]]]:
        """The last, partial second at the end of a replay."""
        return self._events(self.estimator.flush())

    def _events(self, seconds: EstimateSeconds) -> tuple[EstimateSeconds, list[dict[str, Any]]]:
        return seconds, list(self.posture_events.events(seconds))

