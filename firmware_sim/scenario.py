"""A seated day as timed posture segments: the ground truth the product is tested against.

This module owns the timeline only: which posture and activity hold when, the
transitions between them and the weight shifts inside them. What the sensors
see of that timeline is `firmware_sim.body`'s job; the bytes are
`firmware_sim.packets`'. Nothing here reads a clock or draws from a global
random state: a named scenario is a pure function of its seed.

Conventions (also in docs/simulator.md):

- Time runs from 0 at the start of the first segment. A segment's transition
  (1-3 s: sitting down, standing up, crossing, settling) takes the first
  `transition_s` of that segment; during it the label is already the new one.
- Seated postures take the activities `still`, `fidget` and `shifts`;
  `standing` and `empty` take `still`, `fidget` and `walking`. `empty` means
  the seat is empty because the person is away: `empty`/`walking` is walking
  away (or back), `empty`/`still` and `empty`/`fidget` are sitting elsewhere
  (a meeting room), still wearing the thigh sensors.
- A weight shift offloads the ischial region by at least 30% for at least
  15 s (the wheelchair-seating definition of a pressure relief). Its
  `start_s`/`end_s` include a ramp of `SHIFT_RAMP_S` at each end, so it lasts
  at least `MIN_SHIFT_S` = 15 s + 2 ramps. Kinds: `lift_left` (leaning right
  so that the left buttock lifts), `lift_right`, `lean_forward` (both).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

POSTURES: tuple[str, ...] = (
    "empty",
    "upright",
    "leaning_left",
    "leaning_right",
    "slouched",
    "crossed_left_over_right",
    "crossed_right_over_left",
    "foot_under_left",
    "foot_under_right",
    "standing",
)
SEATED_POSTURES: tuple[str, ...] = POSTURES[1:9]
ACTIVITIES: tuple[str, ...] = ("still", "fidget", "shifts", "walking")
ALLOWED_ACTIVITIES: Mapping[str, tuple[str, ...]] = {
    **{p: ("still", "fidget", "shifts") for p in SEATED_POSTURES},
    "standing": ("still", "fidget", "walking"),
    "empty": ("still", "fidget", "walking"),
}
SHIFT_KINDS: tuple[str, ...] = ("lift_left", "lift_right", "lean_forward")

MIN_TRANSITION_S = 1.0
MAX_TRANSITION_S = 3.0
SHIFT_RAMP_S = 1.0
MIN_SHIFT_HOLD_S = 15.0
MIN_SHIFT_S = MIN_SHIFT_HOLD_S + 2 * SHIFT_RAMP_S
SHIFT_MARGIN_S = 1.0
"""A shift starts this long after its segment's transition and ends this long before its end."""

SCENARIO_FORMAT = "legwake-scenario"
GROUND_TRUTH_FORMAT = "legwake-ground-truth"
FORMAT_VERSION = 1

_EPS = 1e-6


def _finite_number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class Shift:
    """One weight shift inside a `shifts` segment; `offset_s` counts from the segment's start."""

    offset_s: float
    duration_s: float
    kind: str

    def __post_init__(self) -> None:
        offset = _finite_number("shift offset_s", self.offset_s)
        duration = _finite_number("shift duration_s", self.duration_s)
        if self.kind not in SHIFT_KINDS:
            raise ValueError(f"shift kind must be one of {', '.join(SHIFT_KINDS)}; "
                             f"got {self.kind!r}")
        if offset < 0:
            raise ValueError(f"shift offset_s must be >= 0, got {offset}")
        if duration < MIN_SHIFT_S - _EPS:
            raise ValueError(
                f"a weight shift offloads for >= {MIN_SHIFT_HOLD_S:g} s plus a {SHIFT_RAMP_S:g} s "
                f"ramp at each end, so duration_s must be >= {MIN_SHIFT_S:g}; got {duration}")


@dataclass(frozen=True, slots=True)
class Segment:
    """One posture held with one activity; its transition from the previous segment comes first."""

    posture: str
    activity: str
    duration_s: float
    transition_s: float = 0.0
    shifts: tuple[Shift, ...] = ()

    def __post_init__(self) -> None:
        if self.posture not in ALLOWED_ACTIVITIES:
            raise ValueError(f"posture must be one of {', '.join(POSTURES)}; got {self.posture!r}")
        allowed = ALLOWED_ACTIVITIES[self.posture]
        if self.activity not in allowed:
            raise ValueError(f"activity {self.activity!r} is not possible in posture "
                             f"{self.posture!r}; use one of {', '.join(allowed)}")
        duration = _finite_number("duration_s", self.duration_s)
        transition = _finite_number("transition_s", self.transition_s)
        if duration <= 0:
            raise ValueError(f"duration_s must be positive, got {duration}")
        if not 0 <= transition <= MAX_TRANSITION_S:
            raise ValueError(f"transition_s must be in 0..{MAX_TRANSITION_S:g}, got {transition}")
        if transition >= duration:
            raise ValueError(f"transition_s ({transition}) must be shorter than duration_s "
                             f"({duration})")
        if not isinstance(self.shifts, tuple):
            object.__setattr__(self, "shifts", tuple(self.shifts))
        if any(not isinstance(s, Shift) for s in self.shifts):
            raise ValueError("shifts must be Shift values")
        if self.activity == "shifts" and not self.shifts:
            raise ValueError("a 'shifts' segment needs at least one Shift")
        if self.activity != "shifts" and self.shifts:
            raise ValueError(f"only a 'shifts' segment has weight shifts, not {self.activity!r}")
        earliest = transition + SHIFT_MARGIN_S
        for number, shift in enumerate(self.shifts):
            if shift.offset_s < earliest - _EPS:
                if number == 0:
                    raise ValueError(f"a shift at offset {shift.offset_s} s starts before "
                                     f"{earliest:g} s (the transition plus {SHIFT_MARGIN_S:g} s)")
                raise ValueError(f"shifts must be sorted and {SHIFT_MARGIN_S:g} s apart; the one "
                                 f"at {shift.offset_s} s starts before {earliest:g} s")
            earliest = shift.offset_s + shift.duration_s + SHIFT_MARGIN_S
        if earliest > duration + _EPS:
            raise ValueError(f"a shift must end {SHIFT_MARGIN_S:g} s before its segment does "
                             f"({duration} s); the last ends at {earliest - SHIFT_MARGIN_S:g} s")


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named, seeded sequence of segments starting at t = 0."""

    name: str
    seed: int
    segments: tuple[Segment, ...] = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {self.seed!r}")
        if not isinstance(self.segments, tuple):
            object.__setattr__(self, "segments", tuple(self.segments))
        if not self.segments:
            raise ValueError("a scenario needs at least one segment")
        if any(not isinstance(s, Segment) for s in self.segments):
            raise ValueError("segments must be Segment values")
        if self.segments[0].transition_s != 0:
            raise ValueError("the first segment has nothing to transition from: "
                             "its transition_s must be 0")
        for index, segment in enumerate(self.segments[1:], start=1):
            if not MIN_TRANSITION_S - _EPS <= segment.transition_s <= MAX_TRANSITION_S:
                raise ValueError(f"segment {index}: a transition takes {MIN_TRANSITION_S:g}-"
                                 f"{MAX_TRANSITION_S:g} s, got transition_s={segment.transition_s}")

    # --- the timeline ---------------------------------------------------------------

    @property
    def duration_s(self) -> float:
        return float(self.segment_bounds_s()[-1])

    def segment_bounds_s(self) -> np.ndarray:
        """Segment boundaries (len(segments) + 1): segment i starts at [i] and ends at [i + 1]."""
        durations = [s.duration_s for s in self.segments]
        # fsum: exact partial sums, so 0.1 s steps add up to round totals (1800.0, not 1799.99...).
        return np.array([0.0] + [math.fsum(durations[:i]) for i in range(1, len(durations) + 1)])

    def segment_index_at(self, t_s: np.ndarray) -> np.ndarray:
        """Index of the segment holding each time; times past the end belong to the last segment."""
        t = scenario_times(t_s)
        starts = self.segment_bounds_s()[:-1]
        return np.searchsorted(starts, t, side="right") - 1

    def posture_index_at(self, t_s: np.ndarray) -> np.ndarray:
        """Posture at each time as an index into `POSTURES` (int8)."""
        codes = np.array([POSTURES.index(s.posture) for s in self.segments], dtype=np.int8)
        return codes[self.segment_index_at(t_s)]

    def posture_at(self, t_s: np.ndarray) -> np.ndarray:
        """Posture label at each time (the new posture already during a transition)."""
        return np.asarray(POSTURES)[self.posture_index_at(t_s)]

    def activity_at(self, t_s: np.ndarray) -> np.ndarray:
        """Activity label at each time."""
        labels = np.array([s.activity for s in self.segments])
        return labels[self.segment_index_at(t_s)]

    def in_transition(self, t_s: np.ndarray) -> np.ndarray:
        """True where the body is moving from one segment's posture to the next."""
        t = scenario_times(t_s)
        index = self.segment_index_at(t)
        starts = self.segment_bounds_s()[:-1]
        transition = np.array([s.transition_s for s in self.segments])
        return (t - starts[index]) < transition[index]

    def in_shift(self, t_s: np.ndarray) -> np.ndarray:
        """True inside a weight shift (ramps included)."""
        t = scenario_times(t_s)
        inside = np.zeros(t.shape, dtype=bool)
        for shift in self.shift_table():
            inside |= (t >= shift["start_s"]) & (t < shift["end_s"])
        return inside

    def shift_table(self) -> list[dict[str, Any]]:
        """Every weight shift with absolute start and end times."""
        bounds = self.segment_bounds_s()
        return [
            {"start_s": float(bounds[i] + s.offset_s),
             "end_s": float(bounds[i] + s.offset_s + s.duration_s),
             "kind": s.kind, "segment": i}
            for i, segment in enumerate(self.segments) for s in segment.shifts
        ]

    def ground_truth(self) -> dict[str, Any]:
        """The timeline as JSON-ready data: segments, transitions and weight shifts."""
        bounds = self.segment_bounds_s()
        segments = [
            {"index": i, "start_s": float(bounds[i]), "end_s": float(bounds[i + 1]),
             "posture": s.posture, "activity": s.activity}
            for i, s in enumerate(self.segments)
        ]
        transitions = [
            {"start_s": float(bounds[i]), "end_s": float(bounds[i] + s.transition_s),
             "from": prev.posture, "to": s.posture,
             "from_activity": prev.activity, "to_activity": s.activity}
            for i, (prev, s) in enumerate(zip(self.segments, self.segments[1:]), start=1)
        ]
        return {
            "format": GROUND_TRUTH_FORMAT, "version": FORMAT_VERSION,
            "name": self.name, "seed": self.seed, "duration_s": float(bounds[-1]),
            "postures": list(POSTURES), "activities": list(ACTIVITIES),
            "segments": segments, "transitions": transitions, "shifts": self.shift_table(),
        }

    # --- serialisation ----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": SCENARIO_FORMAT, "version": FORMAT_VERSION,
            "name": self.name, "seed": self.seed,
            "segments": [
                {"posture": s.posture, "activity": s.activity, "duration_s": s.duration_s,
                 "transition_s": s.transition_s,
                 "shifts": [{"offset_s": x.offset_s, "duration_s": x.duration_s, "kind": x.kind}
                            for x in s.shifts]}
                for s in self.segments
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scenario:
        if not isinstance(data, Mapping):
            # A ValueError, like every other malformed document: callers report those.
            raise ValueError(  # noqa: TRY004
                f"a scenario is a JSON object, got {type(data).__name__}")
        if data.get("format") != SCENARIO_FORMAT or data.get("version") != FORMAT_VERSION:
            raise ValueError(f"not a {SCENARIO_FORMAT} version {FORMAT_VERSION} document "
                             f"(format={data.get('format')!r}, version={data.get('version')!r})")
        try:
            segments = tuple(
                Segment(posture=s["posture"], activity=s["activity"], duration_s=s["duration_s"],
                        transition_s=s.get("transition_s", 0.0),
                        shifts=tuple(Shift(offset_s=x["offset_s"], duration_s=x["duration_s"],
                                           kind=x["kind"]) for x in s.get("shifts", ())))
                for s in data["segments"]
            )
            return cls(name=data["name"], seed=data["seed"], segments=segments)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed scenario document: {exc!r}") from exc


def scenario_times(t_s: np.ndarray) -> np.ndarray:
    """Validated scenario seconds: a contiguous 1-D float64 array, finite and >= 0."""
    t = np.ascontiguousarray(t_s, dtype=np.float64)
    if t.ndim != 1:
        raise ValueError(f"times are a 1-D array of seconds, got shape {t.shape}")
    if t.size and not (np.all(np.isfinite(t)) and t.min() >= 0):
        raise ValueError("times must be finite and >= 0 (scenario seconds)")
    return t


# --- building scenarios --------------------------------------------------------------

_MASK64 = (1 << 64) - 1


class _Rng:
    """splitmix64: a tiny generator whose stream never changes with the numpy version."""

    def __init__(self, name: str, seed: int) -> None:
        self._state = (zlib.crc32(name.encode()) << 32 ^ seed) & _MASK64

    def _next(self) -> int:
        self._state = (self._state + 0x9E3779B97F4A7C15) & _MASK64
        z = self._state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        return z ^ (z >> 31)

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * (self._next() >> 11) * 2.0**-53

    def choice(self, options: tuple[str, ...] | list[str],
               weights: tuple[float, ...] | list[float] | None = None) -> str:
        weights = list(weights) if weights is not None else [1.0] * len(options)
        pick = self.uniform(0.0, sum(weights))
        for option, weight in zip(options, weights):
            pick -= weight
            if pick < 0:
                return option
        return options[-1]

    def shuffled(self, items: list[str]) -> list[str]:
        items = list(items)
        for i in range(len(items) - 1, 0, -1):
            j = self._next() % (i + 1)
            items[i], items[j] = items[j], items[i]
        return items


def _transition_range_s(before: str, after: str) -> tuple[float, float]:
    """How long moving between two postures takes (sitting down, crossing, settling)."""
    seated_before, seated_after = before in SEATED_POSTURES, after in SEATED_POSTURES
    if seated_before and seated_after:
        return (1.0, 1.6) if before == after else (1.2, 2.5)
    if seated_before or seated_after:
        return (2.0, 3.0)
    return (1.0, 2.0)


def _place_shifts(rng: _Rng, duration_s: float, transition_s: float) -> tuple[Shift, ...]:
    """Occasional weight shifts, one every 2.5-5 minutes on average, at least one."""
    window_start = transition_s + SHIFT_MARGIN_S
    window = duration_s - SHIFT_MARGIN_S - window_start
    count = max(1, round(window / rng.uniform(150.0, 300.0)))
    slot = window / count
    if slot < MIN_SHIFT_S + SHIFT_MARGIN_S + 0.2:
        raise ValueError(f"a 'shifts' segment of {duration_s} s is too short for a weight shift")
    shifts = []
    for k in range(count):
        longest = min(40.0, slot - SHIFT_MARGIN_S)
        length = math.floor(rng.uniform(MIN_SHIFT_S + 1.0, longest) * 10) / 10
        length = max(length, MIN_SHIFT_S)
        slack = slot - SHIFT_MARGIN_S - length - 0.1  # room for rounding the offset up
        offset = math.ceil((window_start + k * slot + rng.uniform(0.0, slack)) * 10) / 10
        shifts.append(Shift(offset_s=offset, duration_s=length, kind=rng.choice(SHIFT_KINDS)))
    return tuple(shifts)


def _build(name: str, seed: int, rng: _Rng, plan: list[tuple[str, str, float]]) -> Scenario:
    """Segments from (posture, activity, duration) steps: transitions and shifts drawn here."""
    segments: list[Segment] = []
    end, rounded_end = 0.0, 0.0
    for posture, activity, length in plan:
        # Boundaries on a 0.1 s grid, so that the durations add up to the planned total.
        end += length
        duration = round(round(end, 1) - rounded_end, 1)
        rounded_end = round(end, 1)
        transition = 0.0 if not segments else round(
            rng.uniform(*_transition_range_s(segments[-1].posture, posture)), 1)
        shifts = _place_shifts(rng, duration, transition) if activity == "shifts" else ()
        segments.append(Segment(posture=posture, activity=activity, duration_s=duration,
                                transition_s=transition, shifts=shifts))
    return Scenario(name=name, seed=seed, segments=tuple(segments))


def planned(name: str, seed: int, plan: list[tuple[str, str, float]]) -> Scenario:
    """A scenario of one's own: (posture, activity, duration_s) steps, with the transitions
    and shifts drawn from `seed` as a named scenario's are."""
    return _build(name, seed, _Rng(name, seed), plan)


def _upright_shifts(seed: int) -> Scenario:
    """30 min upright with a shift every few minutes and short fidgets: nobody goes numb."""
    rng = _Rng("upright_shifts", seed)
    plan: list[tuple[str, str, float]] = []
    left = 1800.0
    while left > 0:
        block = min(left, rng.uniform(240.0, 480.0))
        if left - block < 120:
            block = left
        plan.append(("upright", "shifts", block))
        left -= block
        if left > 150:
            fidget = rng.uniform(20.0, 60.0)
            plan.append(("upright", "fidget", fidget))
            left -= fidget
    return _build("upright_shifts", seed, rng, plan)


def _held(name: str, posture: str, seed: int) -> Scenario:
    """A few minutes upright, `posture` held still for about 20 min, then upright again."""
    rng = _Rng(name, seed)
    plan = [
        ("upright", "still", rng.uniform(180.0, 300.0)),
        (posture, "still", rng.uniform(1140.0, 1260.0)),
        ("upright", "still", rng.uniform(240.0, 360.0)),
    ]
    return _build(name, seed, rng, plan)


def _all_postures(seed: int) -> Scenario:
    """Every posture with every activity it allows, each for a minute or two."""
    rng = _Rng("all_postures", seed)
    seated: list[tuple[str, str, float]] = []
    for posture in rng.shuffled(list(SEATED_POSTURES)):
        for activity in rng.shuffled(["still", "fidget", "shifts"]):
            low, high = (75.0, 120.0) if activity == "shifts" else (60.0, 100.0)
            seated.append((posture, activity, rng.uniform(low, high)))
    away = [
        ("standing", "still", rng.uniform(60.0, 90.0)),
        ("standing", "walking", rng.uniform(60.0, 100.0)),
        ("empty", "walking", rng.uniform(60.0, 100.0)),
        ("empty", "still", rng.uniform(60.0, 100.0)),
        ("empty", "fidget", rng.uniform(60.0, 100.0)),
        ("empty", "walking", rng.uniform(40.0, 70.0)),
        ("standing", "fidget", rng.uniform(60.0, 90.0)),
    ]
    half = len(seated) // 2
    return _build("all_postures", seed, rng, seated[:half] + away + seated[half:])


def _walk_away(seed: int) -> Scenario:
    rng = _Rng("walk_away", seed)
    plan = [
        ("upright", "still", rng.uniform(180.0, 300.0)),
        ("standing", "still", rng.uniform(10.0, 30.0)),
        ("empty", "walking", rng.uniform(170.0, 190.0)),
        ("standing", "still", rng.uniform(5.0, 15.0)),
        ("upright", "fidget", rng.uniform(180.0, 300.0)),
    ]
    return _build("walk_away", seed, rng, plan)


_WORKDAY_POSTURES = ("upright", "slouched", "leaning_left", "leaning_right",
                     "crossed_left_over_right", "crossed_right_over_left",
                     "foot_under_left", "foot_under_right")
_WORKDAY_WEIGHTS = (0.30, 0.16, 0.07, 0.07, 0.13, 0.12, 0.08, 0.07)
_WORKDAY_MINUTES = {"upright": (4, 20), "slouched": (3, 15), "leaning_left": (2, 8),
                    "leaning_right": (2, 8), "crossed_left_over_right": (4, 20),
                    "crossed_right_over_left": (4, 20), "foot_under_left": (3, 14),
                    "foot_under_right": (3, 14)}


def _workday(seed: int, duration_s: float = 7200.0) -> Scenario:
    """Two hours at a desk: sitting bouts in varied postures, breaks every 25-55 minutes."""
    rng = _Rng("workday", seed)
    plan: list[tuple[str, str, float]] = [("empty", "walking", rng.uniform(20.0, 40.0))]
    seated_s, next_break_s = 0.0, rng.uniform(1500.0, 3300.0)
    previous = ""
    while sum(step[2] for step in plan) < duration_s:
        if seated_s >= next_break_s:
            plan.append(("standing", "still", rng.uniform(10.0, 40.0)))
            if rng.uniform(0, 1) < 0.4:
                plan.append(("standing", "walking", rng.uniform(60.0, 240.0)))
            else:
                plan.append(("empty", "walking", rng.uniform(60.0, 180.0)))
                if rng.uniform(0, 1) < 0.5:
                    plan.append(("empty", "still", rng.uniform(120.0, 600.0)))
                    plan.append(("empty", "walking", rng.uniform(60.0, 120.0)))
            plan.append(("standing", "still", rng.uniform(5.0, 15.0)))
            seated_s, next_break_s, previous = 0.0, rng.uniform(1500.0, 3300.0), ""
            continue
        options = [p for p in _WORKDAY_POSTURES if p != previous]
        weights = [w for p, w in zip(_WORKDAY_POSTURES, _WORKDAY_WEIGHTS) if p != previous]
        posture = rng.choice(options, weights)
        low, high = _WORKDAY_MINUTES[posture]
        bout = rng.uniform(low, high) * 60.0
        parts = 1 if bout < 300 else 1 + int(rng.uniform(0, 3))
        for _ in range(parts):
            activity = rng.choice(("still", "fidget", "shifts"), (0.4, 0.3, 0.3))
            plan.append((posture, activity, bout / parts))
        seated_s += bout
        previous = posture
    return _build("workday", seed, rng, _trim(plan, duration_s))


def _random(seed: int, duration_s: float = 3600.0) -> Scenario:
    """Any posture with any activity it allows, 30 s to 5 min each: for held-out evaluation."""
    rng = _Rng("random", seed)
    plan: list[tuple[str, str, float]] = []
    total, previous = 0.0, ("", "")
    while total < duration_s:
        posture = rng.choice(POSTURES)
        activity = rng.choice(ALLOWED_ACTIVITIES[posture])
        if (posture, activity) == previous:
            continue
        low = 60.0 if activity == "shifts" else 30.0
        length = math.exp(rng.uniform(math.log(low), math.log(300.0)))
        plan.append((posture, activity, length))
        total += length
        previous = (posture, activity)
    return _build("random", seed, rng, _trim(plan, duration_s))


def _demo(seed: int) -> Scenario:
    """The scripted sitting `legwake demo` plays (about 50 min), in the order an audience
    should see it:

    1. upright, still, about 2 min;
    2. the left leg crossed over the right, still, about 14 min: long enough for the
       left peroneal nerve to go numb if nobody reacts (the model's numbness comes after
       about 12.6 min of this crossing, so the numbness alert, `[policy] lead_time_s`
       = 3 min ahead of it, comes about 11.5 min into the scenario: after about 70 s at
       the demo's default speed of 10);
    3. the legs uncrossed, upright with a fidget, about 1 min;
    4. a stand-and-walk break: standing up, about 3 min of pottering about the desk,
       longer than the 2 min a natural break needs (`[policy] natural_break_min`);
    5. upright with weight shifts, about 5 min;
    6. the right leg crossed over the left, still, about 14 min (the mirror of 2);
    7. upright with a fidget, then slouched, then upright with shifts, about 11 min.
    """
    rng = _Rng("demo", seed)
    plan = [
        ("upright", "still", rng.uniform(110.0, 130.0)),
        ("crossed_left_over_right", "still", rng.uniform(830.0, 850.0)),
        ("upright", "fidget", rng.uniform(50.0, 70.0)),
        ("standing", "still", rng.uniform(15.0, 25.0)),
        ("standing", "walking", rng.uniform(160.0, 180.0)),
        ("standing", "still", rng.uniform(5.0, 10.0)),
        ("upright", "shifts", rng.uniform(270.0, 330.0)),
        ("crossed_right_over_left", "still", rng.uniform(830.0, 850.0)),
        ("upright", "fidget", rng.uniform(90.0, 150.0)),
        ("slouched", "still", rng.uniform(180.0, 240.0)),
        ("upright", "shifts", rng.uniform(270.0, 330.0)),
    ]
    return _build("demo", seed, rng, plan)


def _trim(plan: list[tuple[str, str, float]], duration_s: float) -> list[tuple[str, str, float]]:
    """Cut the plan to exactly `duration_s`, never leaving a last step under a minute."""
    plan = list(plan)
    while sum(step[2] for step in plan[:-1]) > duration_s - 60.0:
        plan.pop()
    posture, activity, _ = plan[-1]
    plan[-1] = (posture, activity, duration_s - sum(step[2] for step in plan[:-1]))
    return plan


SCENARIOS: Mapping[str, Callable[[int], Scenario]] = {
    "upright_shifts": _upright_shifts,
    "crossed_legs": lambda seed: _held("crossed_legs", "crossed_left_over_right", seed),
    "crossed_right": lambda seed: _held("crossed_right", "crossed_right_over_left", seed),
    "foot_under": lambda seed: _held("foot_under", "foot_under_left", seed),
    "foot_under_right": lambda seed: _held("foot_under_right", "foot_under_right", seed),
    "all_postures": _all_postures,
    "walk_away": _walk_away,
    "workday": _workday,
    "random": _random,
    "demo": _demo,
}
"""Named scenarios: name -> function(seed) -> Scenario."""


def get_scenario(name: str, seed: int = 1) -> Scenario:
    """The named scenario for this seed; ValueError names the valid names."""
    try:
        build = SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; valid names: "
                         f"{', '.join(SCENARIOS)}") from None
    return build(seed)
