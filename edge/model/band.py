"""How sure the time to numbness is: the nerves followed at quantiles of what is uncertain.

Why: the estimator's nerve pressures are a guess (the seat-to-nerve mapping, `MAPPING_SD` in
log pressure: a factor 1.25 at its 90 % point) and so is the person's sensitivity k (the
posterior of `edge.model.sensitivity`). A single number hides both. So besides the centre
(the pressures as estimated, the posterior's most likely k), the nerves are followed at
each quantile q asked for: with the pressures and k both at the side that numbs sooner,
their (1 - q) quantiles. q is the chance that numbness comes sooner than that prediction;
q = 0.1 is the band's early edge, 0.9 its late one. Taking both inputs at the same quantile
is cautious: the band is a little wider than the two spreads combined would make it.

Must not touch: files or the network.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from statistics import NormalDist

import numpy as np

from edge.model.driver import NerveTracker, simulate
from edge.model.params import Profile
from edge.model.sensitivity import Posterior

CENTRE = 0.5
BAND = (0.1, 0.9)
MAPPING_SD = math.log(1.25) / NormalDist().inv_cdf(0.9)
"""Of log(nerve pressure): the mapping puts the true pressure within x/1.25 of its estimate
four times in five."""


def pressure_scale(quantile: float) -> float:
    """What the estimated nerve pressures are multiplied by at `quantile` (above 1 early)."""
    if quantile == CENTRE:
        return 1.0
    return math.exp(NormalDist().inv_cdf(1 - quantile) * MAPPING_SD)


def sensitivity_at(posterior: Posterior, quantile: float) -> float:
    return posterior.k if quantile == CENTRE else posterior.quantile(1 - quantile)


class NerveBand:
    """One NerveTracker per quantile (the centre always among them), stepped together."""

    def __init__(self, sites: int, profile: Profile, posterior: Posterior,
                 quantiles: Iterable[float], *, horizon_s: float,
                 history: np.ndarray | None = None) -> None:
        """`history` (T, sites): the pressures the nerves went through, from rested, to
        start from; None: rested nerves."""
        self.quantiles = tuple(sorted({CENTRE, *quantiles}))
        self.trackers: dict[float, tuple[float, NerveTracker]] = {}
        for q in self.quantiles:
            person = dataclasses.replace(profile, sensitivity=sensitivity_at(posterior, q))
            scale = pressure_scale(q)
            state = None
            if history is not None and len(history):
                state = simulate(history * scale, dt_s=1.0, profile=person).final_state
            self.trackers[q] = (scale, NerveTracker(sites=sites, profile=person,
                                                    horizon_s=horizon_s, state=state))

    @property
    def centre(self) -> NerveTracker:
        return self.trackers[CENTRE][1]

    def advance(self, pressure_mmHg: np.ndarray) -> dict[float, np.ndarray]:
        """Pressures (T, S), a second each -> the time to numbness (T, S) at each quantile."""
        return {q: tracker.advance(pressure_mmHg * scale)[2]
                for q, (scale, tracker) in self.trackers.items()}
