"""A person's own sensitivity k, learned from what they report: a posterior over log k.

Why: people differ far more than any profile (one leg falls asleep in 8 min of crossing,
another's never), and only the person knows when theirs did. Each report is set against
what the model says of the pressures the estimator saw on that leg's nerves:

- "my leg fell asleep" (numb): for each k on a grid, when the model would have had that
  leg numb. The likelihood is log-normal in the length of the compression, from the start
  of the stretch that loaded the leg to the report (`REPORT_SD`): people notice numbness
  some seconds after it sets in (`REPORT_DELAY_S`), and durations spread in proportion.
- "false alarm, I was fine" (fine): the person would not have been numb by the time the
  alert foretold, had they stayed; the likelihood is the chance that numbness under k,
  with the pressure held from the alert on, comes later than that (`FINE_SD`, wider: a
  judgement of what did not happen).

The estimator's nerve pressures are uncertain (the seat-to-nerve mapping is a guess): each
likelihood is marginalised over a scale of them (`PRESSURE_SCALES`). The prior is normal in
log k around the configured starting value (`PRIOR_SD`), and the grid spans
`SENSITIVITY_RANGE`, so the posterior is bounded to it. What is kept is the sum of the
reports' log-likelihoods, so the posterior follows a changed starting value at once.

Must not touch: files or the network (the live agent keeps `Evidence.to_dict`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge.model.driver import NUMB_CONDUCTION, simulate, time_to_numbness
from edge.model.params import A_BETA, SENSITIVITY_RANGE, Profile

GRID_POINTS = 41
LOG_K = np.linspace(math.log(SENSITIVITY_RANGE[0]), math.log(SENSITIVITY_RANGE[1]),
                    GRID_POINTS)
PRIOR_SD = 0.5
"""Of log k: about two thirds of people within 0.6..1.65 times the starting value."""
REPORT_SD = 0.15
"""Of log(compression time) at a report of numbness, around the model's plus the delay."""
REPORT_DELAY_S = 15.0
"""How long after numbness sets in a person typically says so."""
FINE_SD = 0.25
"""Of log(compression time) for a false alarm's "I would have been fine"."""
PRESSURE_SCALES = ((0.8, 0.25), (1.0, 0.5), (1.25, 0.25))
"""The estimator's nerve pressures times these, with these weights: the mapping's spread."""
UNLOADED_OF_THRESHOLD = 0.5
"""A nerve below this fraction of the person's threshold is unloaded: it recovers there."""
UNLOADED_HOLD_S = 60.0
"""A loading stretch starts after the leg was unloaded this long."""
REPORTED_AFTER_RELEASE_S = 300
"""A leg reported numb up to this long after it was last loaded (people notice on standing)
is taken to have been numb by then; later, the report has no positional cause here."""
HORIZON_S = 3 * 3600.0
LIKELIHOOD_FLOOR = 1e-12
"""No k is ruled out for good by one report: the person may have misread their leg."""
MAX_REPORTS_KEPT = 10_000
LOWEST_LOG_LIKELIHOOD = -1e6
"""Below the highest: far past anything reports reach (each at most ln 1e12 below)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one report did: whether it moved k, and if not, why not (in words)."""

    used: bool
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Evidence:
    """The reports so far: their summed log-likelihood on the `LOG_K` grid, and counts."""

    log_likelihood: np.ndarray = dataclasses.field(
        default_factory=lambda: np.zeros(GRID_POINTS))
    numb_reports: int = 0
    fine_reports: int = 0

    @property
    def reports(self) -> int:
        return self.numb_reports + self.fine_reports

    def to_dict(self) -> dict[str, Any]:
        return {"grid": [round(float(x), 6) for x in LOG_K],
                "log_likelihood": [round(float(x), 6) for x in self.log_likelihood],
                "numb_reports": self.numb_reports, "fine_reports": self.fine_reports}

    @classmethod
    def from_dict(cls, data: Any) -> Evidence:
        """What `to_dict` wrote, or ValueError saying what is wrong (a file may be anything)."""
        if not isinstance(data, dict):
            raise ValueError(  # noqa: TRY004 (a file's content: ValueError as all else)
                f"expected a JSON object, got {type(data).__name__}")
        grid = _numbers(data.get("grid"))
        if grid is None or not np.allclose(grid, LOG_K, atol=1e-5):
            raise ValueError(f"grid: not the {GRID_POINTS}-point grid over log k this "
                             "legwake uses")
        log_likelihood = _numbers(data.get("log_likelihood"))
        if log_likelihood is None:
            raise ValueError(f"log_likelihood: expected {GRID_POINTS} finite numbers")
        counts = []
        for key in ("numb_reports", "fine_reports"):
            count = data.get(key)
            if isinstance(count, bool) or not isinstance(count, int) \
                    or not 0 <= count <= MAX_REPORTS_KEPT:
                raise ValueError(f"{key}: expected an integer 0..{MAX_REPORTS_KEPT}")
            counts.append(count)
        log_likelihood = np.clip(log_likelihood, -1e300, 1e300)  # no overflow below
        return cls(np.clip(log_likelihood - log_likelihood.max(), LOWEST_LOG_LIKELIHOOD, 0.0),
                   *counts)


def _numbers(values: Any) -> np.ndarray | None:
    """`GRID_POINTS` finite numbers (not booleans) as an array, or None."""
    if not isinstance(values, list) or len(values) != GRID_POINTS or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return None
    array = np.asarray(values, dtype=np.float64)
    return array if np.isfinite(array).all() else None


@dataclass(frozen=True, slots=True)
class Posterior:
    """The person's k as the reports and the prior around `start` have it."""

    start: float
    evidence: Evidence

    def _log_density(self) -> np.ndarray:
        return self.evidence.log_likelihood - 0.5 * (
            (LOG_K - math.log(self.start)) / PRIOR_SD) ** 2

    @property
    def weights(self) -> np.ndarray:
        log_p = self._log_density()
        p = np.exp(log_p - log_p.max())
        return p / p.sum()

    @property
    def k(self) -> float:
        """The posterior's most likely k (between grid points, from a parabola through the
        three around the highest): what the agent's model uses. Unlike the mean, it is the
        starting value itself before any report, even near the grid's edges."""
        log_p = self._log_density()
        i = int(np.argmax(log_p))
        x = float(LOG_K[i])
        if 0 < i < GRID_POINTS - 1:
            before, at, after = log_p[i - 1:i + 2]
            curvature = before - 2 * at + after
            if curvature < 0:
                x += 0.5 * (before - after) / curvature * float(LOG_K[1] - LOG_K[0])
        return _bounded(math.exp(x))

    def quantile(self, q: float) -> float:
        """The k below which the posterior puts `q` (0..1)."""
        cumulative = np.cumsum(self.weights)
        return _bounded(math.exp(float(np.interp(q, cumulative - self.weights / 2, LOG_K))))

    def band(self, low: float = 0.1, high: float = 0.9) -> tuple[float, float]:
        return self.quantile(low), self.quantile(high)


def _bounded(k: float) -> float:
    return min(SENSITIVITY_RANGE[1], max(SENSITIVITY_RANGE[0], k))


def loading_start(pressure_mmHg: np.ndarray, unloaded_mmHg: float) -> int | None:
    """Where the stretch that loads the leg up to the end of `pressure_mmHg` (T, S) began:
    the first row after the last `UNLOADED_HOLD_S` rows with every site unloaded (or 0),
    None when the end is not loaded at any time of the stretch (no positional cause)."""
    loaded = (pressure_mmHg >= unloaded_mmHg).any(axis=1)
    if not loaded.any():
        return None
    unloaded_run = 0
    start = 0
    hold = int(UNLOADED_HOLD_S)
    for i in range(len(loaded) - 1, -1, -1):
        unloaded_run = 0 if loaded[i] else unloaded_run + 1
        if unloaded_run >= hold:
            start = i + hold
            break
    if start >= len(loaded) or not loaded[start:].any():
        return None
    return start + int(np.argmax(loaded[start:]))


def numb_at_s(pressure_mmHg: np.ndarray, profile: Profile, *, held_from: int | None = None
              ) -> float:
    """Seconds from the start of `pressure_mmHg` (T, S), one row a second from rested
    nerves, to the model's first numbness at any of the S sites. With the pressure of row
    `held_from` held from there (default: the last row) if none came before; inf if never."""
    rows = pressure_mmHg if held_from is None else pressure_mmHg[:held_from + 1]
    result = simulate(rows, dt_s=1.0, profile=profile)
    numb = (result.conduction[:, :, A_BETA] < NUMB_CONDUCTION).any(axis=1)
    if numb.any():
        return float(np.argmax(numb))
    ahead = time_to_numbness(rows[-1], profile, state=result.final_state, horizon_s=HORIZON_S)
    return len(rows) - 1 + float(np.min(ahead))


def _log_normal_pdf(x: np.ndarray, mean: np.ndarray, sd: float) -> np.ndarray:
    return np.exp(-0.5 * ((x - mean) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))


def _later_than(mean: np.ndarray, x: float, sd: float) -> np.ndarray:
    """P(a normal around `mean` with `sd` > x), elementwise."""
    return 0.5 * np.array([math.erfc((x - m) / (sd * math.sqrt(2))) for m in mean])


class PressureHistory:
    """The newest `length` seconds of nerve pressures (S sites) and their times: what a
    report is judged against. A ring: appending never grows it."""

    def __init__(self, sites: int, length: int) -> None:
        self._rows = np.zeros((length, sites))
        self._t = np.zeros(length)
        self._end = 0  # rows ever appended since the last clear
        self.length = length

    def __len__(self) -> int:
        return min(self._end, self.length)

    def clear(self) -> None:
        self._end = 0

    def extend(self, t_s: np.ndarray, pressure_mmHg: np.ndarray) -> None:
        rows, times = pressure_mmHg[-self.length:], t_s[-self.length:]
        first = self._end + len(pressure_mmHg) - len(rows)  # the rows that fit: the newest
        slots = (first + np.arange(len(rows))) % self.length
        self._rows[slots], self._t[slots] = rows, times
        self._end += len(pressure_mmHg)

    def _order(self) -> np.ndarray:
        return (self._end - len(self) + np.arange(len(self))) % self.length

    def pressures(self) -> np.ndarray:
        """(T, S), oldest first."""
        return self._rows[self._order()]

    def times(self) -> np.ndarray:
        return self._t[self._order()]


class Learner:
    """Updates a person's evidence from a report and the leg's pressure history."""

    def __init__(self, profile: Profile) -> None:
        """`profile`: the person's blood pressure and diabetes (its sensitivity is the grid's)."""
        self.profile = profile
        self.unloaded_mmHg = UNLOADED_OF_THRESHOLD * profile.threshold_mmHg()

    def _onsets(self, pressure: np.ndarray, start: int, held_from: int | None) -> np.ndarray:
        """(scales, grid) seconds from `start` to numbness under each scale and k."""
        out = np.empty((len(PRESSURE_SCALES), GRID_POINTS))
        window = pressure[start:]
        held = None if held_from is None else held_from - start
        for i, (scale, _) in enumerate(PRESSURE_SCALES):
            for j, log_k in enumerate(LOG_K):
                profile = dataclasses.replace(self.profile, sensitivity=_bounded(
                    math.exp(float(log_k))))
                out[i, j] = numb_at_s(window * scale, profile, held_from=held)
        return out

    def stretch(self, pressure_mmHg: np.ndarray) -> tuple[int, int] | str:
        """The rows (first, last) of the stretch that loaded the leg before a report at the
        end of `pressure_mmHg` (T, S), or why there is none, in words."""
        loaded = (pressure_mmHg >= self.unloaded_mmHg).any(axis=1)
        if not loaded.any():
            return "no loaded nerve in that leg before the report"
        end = len(loaded) - 1 - int(np.argmax(loaded[::-1]))
        if len(loaded) - 1 - end > REPORTED_AFTER_RELEASE_S:
            return (f"no loaded nerve in that leg in the {REPORTED_AFTER_RELEASE_S // 60:g} min"
                    " before the report")
        start = loading_start(pressure_mmHg[:end + 1], self.unloaded_mmHg)
        assert start is not None  # its last row is loaded
        return start, end

    def numb(self, evidence: Evidence, pressure_mmHg: np.ndarray
             ) -> tuple[Evidence, Verdict]:
        """The person says the leg is numb now, at the last row of `pressure_mmHg` (T, S):
        that leg's sites, a row a second. Said while the leg is loaded (or just after), it
        dates the numbness; said later, once they got up, it says the leg was numb by then."""
        found = self.stretch(pressure_mmHg)
        if isinstance(found, str):
            return evidence, Verdict(False, found)
        start, end = found
        if len(pressure_mmHg) - 1 - end <= REPORT_DELAY_S:
            onsets = np.maximum(self._onsets(pressure_mmHg, start, None), 1.0)
            x = math.log(len(pressure_mmHg) - start)
            likelihood = sum(weight * _log_normal_pdf(x, np.log(onsets[i] + REPORT_DELAY_S),
                                                      REPORT_SD)
                             for i, (_, weight) in enumerate(PRESSURE_SCALES))
        else:  # numb by the release at the latest
            onsets = np.maximum(self._onsets(pressure_mmHg, start, end), 1.0)
            x = math.log(end + 1 - start)
            likelihood = sum(weight * (1.0 - _later_than(np.log(onsets[i]), x, REPORT_SD))
                             for i, (_, weight) in enumerate(PRESSURE_SCALES))
        return dataclasses.replace(
            evidence, log_likelihood=_add(evidence.log_likelihood, likelihood),
            numb_reports=min(MAX_REPORTS_KEPT, evidence.numb_reports + 1)), Verdict(True)

    def fine(self, evidence: Evidence, pressure_mmHg: np.ndarray, alert_row: int,
             foretold_s: float) -> tuple[Evidence, Verdict]:
        """The person says the alert at row `alert_row` of `pressure_mmHg` (T, S), which
        foretold numbness in `foretold_s`, was a false alarm."""
        if not math.isfinite(foretold_s):
            return evidence, Verdict(False, "the alert foretold no numbness")
        start = loading_start(pressure_mmHg[:alert_row + 1], self.unloaded_mmHg)
        if start is None:
            return evidence, Verdict(False, "the alert's leg was not loaded when it came")
        claimed = alert_row - start + max(foretold_s, 1.0)
        onsets = np.maximum(self._onsets(pressure_mmHg, start, alert_row), 1.0)
        x = math.log(claimed)
        likelihood = sum(weight * _later_than(np.log(onsets[i]), x, FINE_SD)
                         for i, (_, weight) in enumerate(PRESSURE_SCALES))
        return dataclasses.replace(
            evidence, log_likelihood=_add(evidence.log_likelihood, likelihood),
            fine_reports=min(MAX_REPORTS_KEPT, evidence.fine_reports + 1)), Verdict(True)


def _add(log_likelihood: np.ndarray, likelihood: np.ndarray) -> np.ndarray:
    total = log_likelihood + np.log(np.maximum(likelihood / max(likelihood.max(), 1e-300),
                                               LIKELIHOOD_FLOOR))
    return np.maximum(total - total.max(), LOWEST_LOG_LIKELIHOOD)
