"""When to nudge: numbness alerts, break reminders, acknowledgements, snoozes, pauses,
quiet hours.

A pure state machine: one `Second` of estimates in, a list of decisions (alert
and break events, as the JSON objects of the event stream) out; what it knows of the
person's sitting (since when, the last natural break) can be read back. It does no I/O
and reads no clock: time is the data's, and the local time of day for quiet hours
comes in with each second. Alert ids are the caller's prefix plus a counter, so
a replay gives the same ids every time and a restarted agent (a new prefix)
never reuses one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

from edge.estimate.labels import SITES


class PolicySettings(Protocol):
    lead_time_s: float
    rearm_margin_s: float
    rearm_hold_s: float
    worse_s: float
    repeat_after_s: float
    cooldown_s: float
    break_after_min: float
    natural_break_min: float
    break_repeat_min: float
    quiet_start: str
    quiet_end: str
    snooze_max_min: float
    max_reminders: int


@dataclass(frozen=True, slots=True)
class Second:
    """What the policy needs to know about one second."""

    t_s: float
    posture: str
    seated: bool
    time_to_numbness_s: tuple[float, ...]  # per site, SITES order; inf when not coming
    trusted: bool = True  # False in a sensor gap: the second is skipped, nothing changes
    local_minute: float | None = None  # minutes since local midnight, for quiet hours


@dataclass(frozen=True, slots=True)
class Command:
    kind: str  # "ack", "snooze", "pause" or "resume"
    t_s: float
    alert_id: str | None = None
    minutes: float | None = None  # a pause without minutes lasts until resumed

COMMAND_KINDS = ("ack", "snooze", "pause", "resume")
NUMB_NOW_S = 0.5
"""A time to numbness this short means the leg is numb already (the model's 0)."""


def _minute_of_day(text: str) -> float | None:
    if not text:
        return None
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def numbness_message(site: str, posture: str, seconds: float) -> str:
    """What to tell the person: what to do first, then why, in plain words. A leg numb
    already has lost its position sense, so it is moved gently and not stood on until the
    tingling has passed (seed 002, Q3)."""
    side = site.rsplit("_", 1)[1]
    if seconds <= NUMB_NOW_S:
        return (f"Your {side} leg is probably numb now. Move it gently, and wait for the "
                "tingling to pass before you stand up.")
    when = "now" if seconds < 30 else f"in about {max(1, round(seconds / 60))} min"
    if posture.startswith("foot_under"):
        action = f"Untuck your {posture.rsplit('_', 1)[1]} foot"
    elif site.startswith("peroneal"):
        action = "Uncross your legs"
    else:
        action = "Shift your weight or stand up"
    return f"{action}: your {side} leg may fall asleep {when}."


def _leg_of(posture: str) -> str | None:
    """The leg a posture puts at risk first ("_left", "_right"), or None for none."""
    if posture.startswith("crossed_"):
        return "_" + posture.split("_")[1]
    if posture.startswith("foot_under_"):
        return "_" + posture.rsplit("_", 1)[1]
    return None


BREAK_MESSAGE = "Time for a break: stand up and move for a couple of minutes."


@dataclass(slots=True)
class _Episode:
    """One stretch of predicted numbness: started, alerted, maybe escalated."""

    alerted_id: str | None = None
    alerted_t: float = -math.inf
    reminders: int = 0  # alerts after the first
    told_numb: bool = False  # an alert said the leg is numb already
    escalated: bool = False
    acknowledged: bool = False
    clear_since: float | None = None


@dataclass(slots=True)
class Policy:
    settings: PolicySettings
    id_prefix: str
    _count: int = 0
    _episode: _Episode | None = None
    _cooldown_until: float = -math.inf
    _snoozed_until: float = -math.inf
    _paused_until: float = -math.inf  # math.inf: until resumed
    _sitting_since: float | None = None
    _away_since: float | None = None
    _on_break: bool = False
    _break: tuple[float, float | None] | None = None
    _next_break_reminder: float | None = None
    _break_alert_id: str | None = None
    _break_alert_t: float = -math.inf
    _break_acknowledged: bool = False
    _quiet: tuple[float | None, float | None] = field(default=(None, None))
    _last_t: float | None = None
    _last_seen: float | None = None  # the newest second stepped, trusted or not

    def __post_init__(self) -> None:
        self._quiet = (_minute_of_day(self.settings.quiet_start),
                       _minute_of_day(self.settings.quiet_end))

    # --- what the person is doing, for the state -------------------------------------------

    @property
    def sitting_since(self) -> float | None:
        """When the current stretch of sitting began (the data's seconds): the first seated
        second since the last natural break, so a stand-up shorter than `natural_break_min`
        does not reset it. None while not seated (standing, away, on a break) and before the
        first seated second."""
        return self._sitting_since if self._away_since is None else None

    @property
    def last_break(self) -> tuple[float, float | None] | None:
        """The newest natural break as (start, end): start is when the person got up (the
        first second not seated), not when the break was recognised `natural_break_min`
        later; end is the first seated second after it, None while the break goes on. None
        before any break."""
        return self._break

    @property
    def newest_open_alert_id(self) -> str | None:
        """The newest alert not yet answered (what an acknowledgement without an id is for):
        the numbness episode's latest alert, or the latest break reminder, whichever came
        last and is still open; None when neither is."""
        open_alerts = []
        episode = self._episode
        if episode is not None and episode.alerted_id is not None and not episode.acknowledged:
            open_alerts.append((episode.alerted_t, episode.alerted_id))
        if self._break_alert_id is not None and not self._break_acknowledged:
            open_alerts.append((self._break_alert_t, self._break_alert_id))
        return max(open_alerts)[1] if open_alerts else None

    @property
    def paused_until(self) -> float | None:
        """Until when nudges are paused (the data's seconds; math.inf until resumed), or None
        when they are not. A pause that ran out reads None from its end on."""
        now = -math.inf if self._last_seen is None else self._last_seen
        return self._paused_until if self._paused_until > now else None

    # --- commands ------------------------------------------------------------------------

    def command(self, command: Command) -> None:
        """An acknowledgement, a snooze, a pause or a resume from the person (over MQTT).
        An acknowledgement without an alert id is for the newest alert still open."""
        if command.kind == "pause":
            self._paused_until = (math.inf if command.minutes is None
                                  else command.t_s + command.minutes * 60)
        elif command.kind == "resume":
            self._paused_until = -math.inf
        elif command.kind == "ack":
            if command.alert_id is None:
                command = Command("ack", command.t_s, alert_id=self.newest_open_alert_id)
                if command.alert_id is None:
                    return
            episode = self._episode
            if episode is not None and command.alert_id in (None, episode.alerted_id):
                episode.acknowledged = True
            if command.alert_id is not None and command.alert_id == self._break_alert_id:
                self._break_acknowledged = True
                self._next_break_reminder = command.t_s + self.settings.break_after_min * 60
        elif command.kind == "snooze":
            minutes = min(command.minutes or 0.0, self.settings.snooze_max_min)
            self._snoozed_until = max(self._snoozed_until, command.t_s + minutes * 60)
            if self._episode is not None:
                self._episode.acknowledged = True
        else:
            raise ValueError(f"unknown command {command.kind!r}: expected"
                             f" {', '.join(COMMAND_KINDS)}")

    def restart(self) -> None:
        """The data resumes after a jump over a long gap in it (no data at all for longer
        than the estimator windows): the sitting and any numbness episode start afresh, as
        when the agent starts. Alert ids, snoozes and the last break are kept."""
        self._episode = None
        self._sitting_since = None
        self._away_since = None
        self._on_break = False
        self._next_break_reminder = None
        self._last_t = None

    # --- one second ----------------------------------------------------------------------

    def step(self, second: Second) -> list[dict[str, Any]]:
        """Decisions for this second: alert and break events, in the event stream's shape."""
        self._last_seen = second.t_s
        if not second.trusted:
            self._last_t = None
            return []
        out: list[dict[str, Any]] = []
        self._breaks(second, out)
        self._numbness(second, out)
        return out

    def _may_alert(self, second: Second) -> bool:
        if second.t_s < self._snoozed_until or second.t_s < self._paused_until:
            return False
        start, end = self._quiet
        if start is None or end is None or second.local_minute is None:
            return True
        minute = second.local_minute
        quiet = start <= minute < end if start <= end else (minute >= start or minute < end)
        return not quiet

    def _alert(self, second: Second, kind: str, site: str | None, seconds: float | None,
               message: str, reminder: int = 0) -> dict[str, Any]:
        self._count += 1
        alert = {"t": round(second.t_s, 3), "event": "alert",
                 "id": f"{self.id_prefix}-{self._count}", "kind": kind, "site": site,
                 "posture": second.posture,
                 "time_to_numbness_s": None if seconds is None else round(seconds, 1),
                 "message": message, "reminder": reminder}
        if seconds is not None:
            alert["numb"] = seconds <= NUMB_NOW_S
        return alert

    def _numbness(self, second: Second, out: list[dict[str, Any]]) -> None:
        settings = self.settings
        ttn = second.time_to_numbness_s
        # Ties (a crossing without the thigh units loads both legs alike) go to the leg the
        # posture names: the top leg of a crossing, the tucked foot's.
        named = _leg_of(second.posture)
        worst = min(range(len(SITES)),
                    key=lambda i: (ttn[i], named is None or not SITES[i].endswith(named)))
        soonest = ttn[worst] if second.seated else math.inf
        # Alert now if waiting for the next second would leave less than the lead time.
        step = 1.0 if self._last_t is None else max(second.t_s - self._last_t, 0.0)
        self._last_t = second.t_s
        lead = settings.lead_time_s + step
        episode = self._episode
        if episode is None:
            if soonest >= lead:
                return
            episode = self._episode = _Episode()
        elif soonest > settings.lead_time_s + settings.rearm_margin_s:
            # Hysteresis: the episode ends only once the danger has clearly passed for a while.
            if episode.clear_since is None:
                episode.clear_since = second.t_s
            if second.t_s - episode.clear_since >= settings.rearm_hold_s:
                if episode.alerted_id is not None:
                    self._cooldown_until = second.t_s + settings.cooldown_s
                self._episode = None
            return
        else:
            episode.clear_since = None
        if soonest >= lead or not self._may_alert(second):
            return
        first = episode.alerted_id is None
        if first and second.t_s < self._cooldown_until:
            return
        # A leg numb already is told once what is safe, even past the reminders.
        numb = not episode.told_numb and soonest <= NUMB_NOW_S
        if not first and not numb and episode.reminders >= settings.max_reminders:
            return  # said often enough: quiet for the rest of this episode
        worse = not episode.escalated and soonest <= settings.worse_s
        ignored = (not episode.acknowledged
                   and second.t_s - episode.alerted_t >= settings.repeat_after_s)
        if first or worse or ignored or numb:
            episode.told_numb = episode.told_numb or soonest <= NUMB_NOW_S
            site = SITES[worst]
            if not first:
                episode.reminders += 1
            alert = self._alert(second, "numbness", site, soonest,
                                numbness_message(site, second.posture, soonest),
                                reminder=episode.reminders)
            episode.alerted_id, episode.alerted_t = alert["id"], second.t_s
            episode.acknowledged = False
            episode.escalated = episode.escalated or soonest <= settings.worse_s
            out.append(alert)

    def _breaks(self, second: Second, out: list[dict[str, Any]]) -> None:
        settings = self.settings
        t = second.t_s
        if not second.seated:
            if self._away_since is None:
                self._away_since = t
            if not self._on_break and t - self._away_since >= settings.natural_break_min * 60:
                self._on_break = True
                self._break = (self._away_since, None)
                self._sitting_since = None
                self._next_break_reminder = None
                out.append({"t": round(t, 3), "event": "break", "phase": "start"})
            return
        self._away_since = None
        if self._on_break:
            self._on_break = False
            if self._break is not None:
                self._break = (self._break[0], t)
            out.append({"t": round(t, 3), "event": "break", "phase": "end"})
        if self._sitting_since is None:
            self._sitting_since = t
            self._next_break_reminder = t + settings.break_after_min * 60
        due = self._next_break_reminder
        if due is not None and t >= due and self._may_alert(second):
            alert = self._alert(second, "break", None, None, BREAK_MESSAGE)
            self._break_alert_id, self._break_alert_t = alert["id"], t
            self._break_acknowledged = False
            self._next_break_reminder = t + settings.break_repeat_min * 60
            out.append(alert)
