"""The agent: received chunks -> decode -> estimate -> model -> policy -> sinks.

Owns the order of the stages after the estimator and the shape of what leaves
them: the event stream (posture, sensor, break and alert events) and the
per-second state (posture, nerve sites, sensors, the seat's pressure map, the time
seated and the last break). Live (`legwake run`) and replay (`legwake replay`) drive the
same `Agent`; only the source of chunks and the pace differ. Time is the data's:
event `t` is seconds since the agent (or the trace) started, on the arrival
clock; the wall clock enters only as `started_utc`, for quiet hours and for
the ISO times the MQTT sink adds. Where the data jumps over a long gap (the
estimator windows only its first `edge.estimate.windows.GAP_S`), the nerve model
and the policy's sitting start afresh after it, as when the agent starts.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import numpy as np

from edge.calibration import MMHG_PER_KPA
from edge.config import Config
from edge.estimate.estimator import EstimateSeconds
from edge.estimate.labels import LEG_SITES, LEGS, POSTURES, SEATED, SITES
from edge.minutes import MinuteSummaries
from edge.model import Profile
from edge.model.band import BAND, CENTRE, NerveBand
from edge.model.sensitivity import Evidence, Learner, Posterior, PressureHistory
from edge.outcomes import AlertOutcomes
from edge.pipeline import Pipeline, sensors_present
from edge.policy import Command, Policy, Second
from edge.sources.base import Received
from edge.sources.replay import batches
from edge.sources.trace import TraceReader
from edge.timefmt import iso_utc

log = logging.getLogger(__name__)

SENSORS = ("mat", "imu_left", "imu_right")
MAT_LIES = {"normal": "the right way round", "rotated_180": "rotated by 180 degrees (the "
            "cable at the back)", "mirrored": "turned over (left and right swapped)",
            "rotated_180_mirrored": "with its front at the back (front and back swapped)"}
THIGH_UNITS = ("imu_left", "imu_right")  # the battery-powered sensors
HISTORY_S = 3600
"""The nerve pressures kept to judge a person's report against (seconds, one row each)."""
ALERTS_KEPT = 64
"""The newest numbness alerts remembered, for a false alarm naming one."""
MAX_FEED_S = 600.0
"""The longest stretch of a trace a replay hands the agent at once. A feed's seconds are
decided together, so a batch of sparse chunks spanning hours would hold all its windows."""


class Sink(Protocol):
    """Where decisions go: an event stream file, MQTT, the log. Each feed's events, minutes
    and state, then `flush`: a sink that writes in batches commits there."""

    def event(self, event: dict[str, Any]) -> None: ...

    def minute(self, minute: dict[str, Any]) -> None: ...

    def state(self, state: dict[str, Any]) -> None: ...

    def flush(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Decisions:
    """What one feed produced: the events in time order, and the newest state (or None)."""

    events: list[dict[str, Any]]
    state: dict[str, Any] | None


def profile_of(config: Config) -> Profile:
    return Profile(systolic_mmHg=config.model.systolic_mmHg,
                   diastolic_mmHg=config.model.diastolic_mmHg, diabetic=config.model.diabetic,
                   sensitivity=config.model.sensitivity)




class Agent:
    def __init__(self, config: Config, sources: Mapping[str, Mapping[str, Any]], *,
                 id_prefix: str, started_utc: datetime, origin_s: float = 0.0,
                 sinks: Sequence[Sink] = (), live: bool = False,
                 links: Callable[[], Mapping[str, Mapping[str, Any]]] | None = None,
                 evidence: Evidence | None = None):
        """`links`: each live source's link counters now (reconnects, battery_pct), for
        the minutes' device health; a replay has none. `evidence`: what the person has
        reported before (the live agent keeps it); their sensitivity starts there."""
        self.config = config
        self.pipeline = Pipeline.for_sources(sources, config, this_mat=live)
        self.fitted = sensors_present(sources)
        self.learner = Learner(profile_of(config))
        self.sensitivity = Posterior(config.model.sensitivity, evidence or Evidence())
        self.history = PressureHistory(len(SITES), HISTORY_S)
        self._numbness_alerts: dict[str, tuple[float, str, float]] = {}
        self._numb_stretches: dict[str, float] = {}  # leg -> the stretch reported numb
        self._newest_numbness_alert: str | None = None
        self.nerves = self._nerves()
        self.policy = Policy(config.policy, id_prefix=id_prefix)
        self.id_prefix = id_prefix
        self.started_utc = started_utc
        self.origin_s = origin_s
        self.sinks = list(sinks)
        self.links = links
        self.outcomes = AlertOutcomes(config.policy.lead_time_s)
        self.minutes = MinuteSummaries(session=id_prefix, started_utc=started_utc,
                                       person=config.desk.person,
                                       period_s=config.estimate.period_s,
                                       sources=tuple(sources), health=self._health)
        # None until a sensor is first heard from: waiting for it at start-up is not a gap.
        self._sensor_up: dict[str, bool | None] = dict.fromkeys(SENSORS)
        self._events = 0
        self._last_t = 0.0
        self._last_window_s: float | None = None  # the end of the newest second decided
        self._mat_lies: tuple[str, bool] = ("normal", False)
        self._mirror_said = False

    # --- input ---------------------------------------------------------------------------

    def process(self, chunks: Iterable[Received]) -> Decisions:
        seconds, posture_events = self.pipeline.feed(chunks)
        self._say_how_the_mat_lies()
        return self._decide(seconds, posture_events)

    def _say_how_the_mat_lies(self) -> None:
        """Once [mat] orientation = "auto" has found how the mat lies, say so (once for its
        front and back, once more when a crossing has shown its left and right)."""
        estimator = self.pipeline.estimator
        if estimator.mat_mirror_suspected and not self._mirror_said:
            self._mirror_said = True
            name = estimator.mat_orientation[0]
            log.warning("the mat seems to lie turned over (left and right swapped: the thigh"
                        " on top in crossed legs is the one the mat sees loaded); if so, set"
                        ' [mat] orientation = "%s"', "mirrored" if name == "normal"
                        else "rotated_180_mirrored")
        found = estimator.mat_orientation
        if found == self._mat_lies:
            return
        name, settled = found
        orientation = self.pipeline.estimator.features.orientation
        before, _ = self._mat_lies
        self._mat_lies = found
        if orientation.setting != "auto" or not orientation.decided:
            return
        if settled and name == before and name != "normal":
            log.info("the mat's left and right are as they should be (seen when the legs"
                     " crossed)")
        elif settled or name != "normal":
            log.info("the mat lies %s%s%s", MAT_LIES[name],
                     "" if name == "normal" else "; it is read the right way round",
                     "" if settled else " (its left and right not yet seen: the thigh units"
                     " show them when the legs cross)")

    def finish(self) -> Decisions:
        """The end of the data (a replay) or a clean stop: the last partial second, and the
        alerts still followed and the minute still open, as they stand."""
        seconds, posture_events = self.pipeline.finish()
        self._say_how_the_mat_lies()
        return self._decide(seconds, posture_events, final=True)

    def command(self, kind: str, *, alert_id: str | None = None,
                minutes: float | None = None) -> None:
        """An acknowledgement, snooze, pause or resume from the person, taking effect now (the
        data's now). An acknowledgement without an id is for the newest alert."""
        if kind == "feedback":
            raise ValueError("feedback is Agent.feedback(numb=, leg=, alert_id=)")
        if kind == "ack" and alert_id is None:
            alert_id = self.policy.newest_open_alert_id
            if alert_id is None:
                return
        self.policy.command(Command(kind, self._last_t, alert_id=alert_id, minutes=minutes))
        if kind in ("ack", "snooze"):
            self.outcomes.command(kind, self._last_t, alert_id)

    def feedback(self, *, numb: bool, leg: str | None = None,
                 alert_id: str | None = None) -> dict[str, Any]:
        """The person says a leg fell asleep (`numb`, its `leg`), or that the alert `alert_id`
        was a false alarm: their sensitivity learns from it (`edge.model.sensitivity`), the
        nerves are followed on under the new one, and a `feedback` event goes to the sinks
        (returned too). Each alert and each stretch of loading teaches once: a report sent
        again (QoS 1 may deliver it twice; two screens may send it) is logged, not learned."""
        before = self.sensitivity
        alert_id = alert_id or None
        if numb and leg not in LEGS:
            raise ValueError(f"leg must be one of {', '.join(LEGS)}, got {leg!r}")
        alert = None if numb or alert_id is None else self._numbness_alerts.get(alert_id)
        if not numb:
            leg = None if alert is None else alert[1].rsplit("_", 1)[1]
        verdict = self._learn(numb, str(leg), alert)
        if not numb and alert_id in self._numbness_alerts:
            del self._numbness_alerts[alert_id]  # answered: a second "false alarm" of it is none
        low, high = self.sensitivity.band()
        event = {"t": round(self._last_t, 3), "event": "feedback", "numb": numb,
                 "leg": leg, "alert_id": alert_id, "learned": verdict is None,
                 "reason": verdict, "sensitivity_before": round(before.k, 3),
                 "sensitivity": round(self.sensitivity.k, 3),
                 "sensitivity_low": round(low, 3), "sensitivity_high": round(high, 3),
                 "reports": self.sensitivity.evidence.reports}
        event = self._stamp(event)
        self._emit([event], [], None, final=False)
        return event

    def _learn(self, numb: bool, leg: str, alert: tuple[float, str, float] | None
               ) -> str | None:
        """Teach the sensitivity one report; None, or why it taught nothing (in words)."""
        if not numb and alert is None:
            return "not a numbness alert of this run of the agent, or answered already"
        pressures, times = self.history.pressures(), self.history.times()
        if not len(pressures):
            return "no nerve pressures seen yet"
        leg_mmHg = pressures[:, list(LEG_SITES[leg])]
        before = self.sensitivity.evidence
        if numb:
            found = self.learner.stretch(leg_mmHg)
            if not isinstance(found, str):
                stretch = float(times[found[0]])
                if self._numb_stretches.get(leg) == stretch:
                    return "that leg was reported asleep already in this stretch of loading"
                self._numb_stretches[leg] = stretch
            evidence, said = self.learner.numb(before, leg_mmHg)
        else:
            assert alert is not None
            row = int(np.searchsorted(times, alert[0] + self.origin_s - 1e-6))
            if row >= len(times) or abs(times[row] - self.origin_s - alert[0]) > 1.0:
                return "the alert is older than the pressures kept"
            evidence, said = self.learner.fine(before, leg_mmHg, row, alert[2])
        if not said.used:
            return said.reason
        self.sensitivity = Posterior(self.sensitivity.start, evidence)
        self.nerves = self._nerves(pressures)
        return None

    def _nerves(self, history: np.ndarray | None = None) -> NerveBand:
        """The nerves at the centre, the band's edges and the alerts' quantile, under the
        person's sensitivity as learned: rested, or after `history` (the pressures kept,
        from rested nerves at their start: an hour back, or the start of the data)."""
        return NerveBand(len(SITES), profile_of(self.config), self.sensitivity,
                         (*BAND, self.config.policy.quantile),
                         horizon_s=self.config.model.horizon_s, history=history)

    @property
    def newest_numbness_alert_id(self) -> str | None:
        """The newest numbness alert of this run, answered or not (what a false alarm
        without an id is of)."""
        return self._newest_numbness_alert

    @property
    def paused_until_utc(self) -> datetime | None:
        """Until when nudges are paused (wall clock); None when they are not, and
        `datetime.max` (UTC) while paused until resumed."""
        until = self.policy.paused_until
        if until is None:
            return None
        if math.isinf(until):
            return datetime.max.replace(tzinfo=UTC)
        return self.started_utc + timedelta(seconds=until)

    @property
    def now_utc(self) -> datetime:
        """The wall-clock moment of the newest second decided."""
        return self.started_utc + timedelta(seconds=self._last_t)

    def time_of(self, t: float) -> str:
        """The wall-clock moment of session second `t`."""
        return iso_utc(self.started_utc + timedelta(seconds=t))

    # --- the decision ------------------------------------------------------------------

    def _decide(self, seconds: EstimateSeconds, posture_events: list[dict[str, Any]], *,
                final: bool = False) -> Decisions:
        if not len(seconds):
            return self._emit([], [], None, final=final)
        resumed = self._after_jump(seconds.t_s)
        ahead = self._time_to_numbness(seconds.t_s, seconds.site_mmHg, resumed)
        numbness = ahead[CENTRE]
        alerting = ahead[self.config.policy.quantile]
        t = seconds.t_s - self.origin_s
        postures = seconds.posture_names
        by_second: list[list[dict[str, Any]]] = [[] for _ in range(len(t))]
        for event in posture_events:  # each belongs to the second (window) that ends at its t
            index = int(np.searchsorted(seconds.t_s, event["t"] - 1e-3))
            by_second[min(index, len(t) - 1)].append(
                {**event, "t": round(event["t"] - self.origin_s, 3)})
        events: list[dict[str, Any]] = []
        for i in range(len(t)):
            events += self._sensor_events(seconds, i, float(t[i]))
            events += by_second[i]
            if resumed[i]:
                self.policy.restart()
            trusted = all(bool(getattr(seconds, s)[i]) for s in SENSORS if self.fitted.get(s))
            seated = postures[i] in SEATED
            if self.outcomes:
                events += self.outcomes.second(float(t[i]), str(postures[i]), seated)
            decided = self.policy.step(Second(
                t_s=float(t[i]), posture=str(postures[i]), seated=seated,
                time_to_numbness_s=tuple(alerting[i].tolist()), trusted=trusted,
                local_minute=self._local_minute(float(t[i]))))
            for alert in decided:
                if alert["event"] == "alert":
                    self.outcomes.alert(alert)
                    self._remember(alert)
            events += decided
        self._last_t = float(t[-1])
        events = [self._stamp(event) for event in events]
        origin = self.origin_s
        minutes = self.minutes.add(
            seconds, t, numbness,
            relief_times=[when - origin for when, kind in seconds.events if kind == "relief"],
            alert_times=[e["t"] for e in events if e["event"] == "alert"])
        return self._emit(events, minutes, self._state(seconds, ahead, float(t[-1])),
                          final=final)

    def _remember(self, alert: Mapping[str, Any]) -> None:
        """A numbness alert's time, site and foretold time, for a false alarm naming it."""
        if alert["kind"] != "numbness" or alert.get("site") is None:
            return
        ahead = alert.get("time_to_numbness_s")
        self._newest_numbness_alert = alert["id"]
        self._numbness_alerts[alert["id"]] = (
            float(alert["t"]), str(alert["site"]), math.inf if ahead is None else float(ahead))
        while len(self._numbness_alerts) > ALERTS_KEPT:
            del self._numbness_alerts[next(iter(self._numbness_alerts))]

    def _after_jump(self, t_s: np.ndarray) -> np.ndarray:
        """Which seconds come right after a jump over a long gap in all the data (the
        estimator's windower windows only the first `GAP_S` of a gap, then jumps)."""
        step = self.config.estimate.period_s
        before = np.r_[t_s[0] - step if self._last_window_s is None else self._last_window_s,
                       t_s[:-1]]
        self._last_window_s = float(t_s[-1])
        return t_s - before > 1.5 * step

    def _time_to_numbness(self, t_s: np.ndarray, site_mmHg: np.ndarray, resumed: np.ndarray
                          ) -> dict[float, np.ndarray]:
        """The nerve model one step a second, at each quantile; after a jump over a gap it
        starts again from rested nerves, as when the agent starts: the model steps one
        second a row, and the time jumped over is not known to have loaded them."""
        if not resumed.any():
            self.history.extend(t_s, site_mmHg)
            return self.nerves.advance(site_mmHg)
        edges = np.unique(np.r_[0, np.flatnonzero(resumed), len(site_mmHg)])
        parts = []
        for lo, hi in itertools.pairwise(edges.tolist()):
            if resumed[lo]:
                self.nerves = self._nerves()
                self.history.clear()
            self.history.extend(t_s[lo:hi], site_mmHg[lo:hi])
            parts.append(self.nerves.advance(site_mmHg[lo:hi]))
        return {q: np.concatenate([part[q] for part in parts]) for q in parts[0]}

    def _emit(self, events: list[dict[str, Any]], minutes: list[dict[str, Any]],
              state: dict[str, Any] | None, *, final: bool) -> Decisions:
        if final:
            events += [self._stamp(e) for e in self.outcomes.finish(self._last_t)]
            minutes += self.minutes.finish()
        for sink in self.sinks:
            for event in events:
                sink.event(event)
            for minute in minutes:
                sink.minute(minute)
            if state is not None:
                sink.state(state)
            if state is not None or events or minutes:
                sink.flush()
        return Decisions(events, state)

    def _stamp(self, event: dict[str, Any]) -> dict[str, Any]:
        """Every event gets an id (alerts have theirs) and its wall-clock time, so the MQTT
        copy, the log's row and the event stream name the same thing the same way."""
        if "id" not in event:
            self._events += 1
            event = {**event, "id": f"{self.id_prefix}-e{self._events}"}
        event["time"] = self.time_of(event["t"])
        return event

    def _health(self) -> dict[str, dict[str, Any]]:
        links = self.links() if self.links else {}
        out = {}
        for name, decoder in self.pipeline.decoders.by_source.items():
            c = decoder.counters
            out[name] = {"packets": c.packets, "bad_packets": c.bad_packets,
                         "gaps": c.seq_gaps, "lost": c.lost_packets, **links.get(name, {})}
        return out

    def _sensor_events(self, seconds: EstimateSeconds, i: int, t: float
                       ) -> list[dict[str, Any]]:
        """A fitted sensor going quiet after it was heard, or coming back: the gap is marked
        in the stream (a sensor not yet heard from at start-up is waited for, not lost)."""
        out = []
        for sensor in SENSORS:
            if not self.fitted.get(sensor):
                continue
            up = bool(getattr(seconds, sensor)[i])
            was = self._sensor_up[sensor]
            if was is None and not up:
                continue
            self._sensor_up[sensor] = up
            if was is not None and up != was:
                out.append({"t": round(t, 3), "event": "sensor", "sensor": sensor,
                            "phase": "back" if up else "lost"})
        return out

    def _local_minute(self, t: float) -> float:
        local = (self.started_utc + timedelta(seconds=t)).astimezone()
        return local.hour * 60 + local.minute + local.second / 60

    def _state(self, seconds: EstimateSeconds, ahead: Mapping[float, np.ndarray], t: float
               ) -> dict[str, Any]:
        i = len(seconds) - 1
        sites = {}
        for k, site in enumerate(SITES):
            pressure = float(seconds.site_mmHg[i, k])
            sites[site] = {"pressure_mmhg": round(pressure, 1) if math.isfinite(pressure)
                           else None,
                           "time_to_numbness_s": _seconds(ahead[CENTRE][i, k]),
                           "time_to_numbness_band_s": [_seconds(ahead[q][i, k])
                                                       for q in BAND]}
        sensors = {s: ("ok" if bool(getattr(seconds, s)[i]) else "stale")
                   if self.fitted.get(s) else "missing" for s in SENSORS}
        since = self.policy.sitting_since
        return {"t": round(t, 3), "posture": POSTURES[int(seconds.posture[i])],
                "confidence": round(float(seconds.confidence[i]), 3), "sites": sites,
                "sensors": sensors, "seat": _seat(seconds, i),
                "sitting_s": None if since is None else round(t - since, 1),
                "last_break": self._last_break(t), "battery_pct": self._battery_pct(),
                "sensitivity": self.sensitivity_summary()}

    def sensitivity_summary(self) -> dict[str, Any]:
        """The person's sensitivity as learned so far: its centre, its 10-90 % band and how
        many reports it rests on."""
        low, high = self.sensitivity.band()
        return {"k": round(self.sensitivity.k, 3), "low": round(low, 3),
                "high": round(high, 3), "reports": self.sensitivity.evidence.reports}

    def _battery_pct(self) -> dict[str, int | None]:
        """Each thigh unit's battery level as its live link last read it (%); None when it
        has not been read, and in a replay (no links)."""
        links = self.links() if self.links else {}
        levels: dict[str, int | None] = {}
        for unit in THIGH_UNITS:
            level = links.get(unit, {}).get("battery_pct")
            known = (isinstance(level, int | float) and not isinstance(level, bool)
                     and math.isfinite(level))
            levels[unit] = min(100, max(0, round(level))) if known else None
        return levels

    def _last_break(self, t: float) -> dict[str, Any] | None:
        """The policy's newest natural break, from when the person got up; `length_s` runs
        up to `t` while the break goes on."""
        found = self.policy.last_break
        if found is None:
            return None
        start, end = found
        return {"start": self.time_of(start), "end": None if end is None else self.time_of(end),
                "length_s": round((t if end is None else end) - start, 1)}


def _seconds(value: float) -> float | None:
    """A time to numbness for the state: to 0.1 s, None when none is ahead."""
    return round(float(value), 1) if math.isfinite(value) else None


def _seat(seconds: EstimateSeconds, i: int) -> dict[str, Any]:
    """Window `i`'s seat for the state: its mean pressure map in whole mmHg (rows x cols as
    the mat has them; a non-finite cell is 0) and the seat load (N), both None when the window
    had no mat data."""
    kpa = None if seconds.seat_kpa is None or not seconds.mat[i] else seconds.seat_kpa[i]
    if kpa is None or not np.isfinite(kpa).any():
        return {"map_mmhg": None, "load_n": None}
    mmhg = np.rint(np.where(np.isfinite(kpa), kpa, 0.0) * MMHG_PER_KPA).astype(np.int64)
    load = float(seconds.seat.load_n[i])
    return {"map_mmhg": mmhg.tolist(),
            "load_n": round(load, 1) if math.isfinite(load) else None}


def session_prefix(started_utc: datetime) -> str:
    """An alert-id prefix unique to this run of the agent (or to this trace, in a replay)."""
    return started_utc.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def trace_start(started: str) -> datetime:
    """The trace header's `started` as a UTC datetime (now, if it cannot be read)."""
    try:
        return datetime.fromisoformat(started).astimezone(UTC)
    except ValueError:
        return datetime.now(UTC)


def replay_trace(reader: TraceReader, config: Config, sinks: Sequence[Sink] = (), *,
                 batch_size: int = 4096) -> Agent:
    """Run a whole trace through the agent as fast as possible; returns the agent (its
    decoders' counters, its estimator) for whoever wants more than the sinks got."""
    started = trace_start(reader.header.started)
    agent = Agent(config, reader.header.sources, id_prefix=session_prefix(started),
                  started_utc=started, sinks=sinks)
    for batch in batches(reader, batch_size, span_s=MAX_FEED_S):
        agent.process(batch)
    agent.finish()
    return agent

