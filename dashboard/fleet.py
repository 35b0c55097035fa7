"""What the dashboard knows of every desk: the agents' MQTT messages folded into views.

Owns the live picture: per desk its status (online, offline, stale), newest state and
when it came, and whether its nudges are paused (the agent's retained `pause`); the alert
feed (newest first, each with what became of it: acknowledged, snoozed, the outcome the
agent reported). `Fleet.message` takes one MQTT message and returns the views that
changed, ready to send to browsers as JSON. Acknowledgements and snoozes are taken from
the `cmd/` topics themselves, so an alert shows as acknowledged once the broker has
delivered the command, whoever sent it (this dashboard, another one, a phone); a `cmd/ack`
without an id (`{}`) is for the desk's newest alert still open. A pause shows from the
agent's own `pause` topic, not from `cmd/pause` (only checked): the agent says whether it
took it.

It follows at most `max_desks` desks: a new desk beyond them evicts the desk silent the
longest (`_desks` is kept in the order desks were last heard from), with its alerts, and
`message` returns a `{"removed": ...}` view for it so browsers drop it too. Evictions are
counted (`evicted`) and logged by `tick`, at most once a minute with how many there were:
a flood of made-up desk topics is one line a minute, not one per desk.

Must not touch: the network (the MQTT bridge and the web app feed it) or the wall clock
(callers pass `now`, monotonic seconds).
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from edge.config import SEGMENT
from edge.payloads import Commands, PayloadSchema, is_message_id, json_object
from edge.refusals import Refusals, reason_of

log = logging.getLogger(__name__)

_SEGMENT = re.compile(SEGMENT)
TOPIC_KINDS = ("status", "state", "alert", "event", "pause", "cmd/ack", "cmd/snooze",
               "cmd/pause")
EVICTIONS_LOGGED_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class DeskKey:
    site: str
    desk: str

    @property
    def text(self) -> str:
        return f"{self.site}/{self.desk}"


@dataclass(slots=True)
class _Desk:
    key: DeskKey
    status: str = "unknown"  # the agent's retained status: online, offline; unknown before it
    state: dict[str, Any] | None = None
    state_at: float | None = None  # monotonic arrival of the newest state
    stale: bool = False
    pause: dict[str, Any] | None = None  # the agent's retained pause: paused, until (or None)

    def view(self) -> dict[str, Any]:
        return {"key": self.key.text, "site": self.key.site, "desk": self.key.desk,
                "status": self.status, "stale": self.stale, "state": self.state,
                "pause": self.pause}


@dataclass(slots=True)
class _Alert:
    desk: DeskKey
    payload: dict[str, Any]
    acknowledged: bool = False
    snoozed_min: int | None = None
    outcome: dict[str, Any] | None = None

    @property
    def id(self) -> str:
        return str(self.payload["id"])

    def view(self) -> dict[str, Any]:
        p = self.payload
        if self.acknowledged:
            status = "acknowledged"
        elif self.snoozed_min is not None:
            status = "snoozed"
        elif self.outcome is not None:
            status = "moved" if self.outcome.get("moved") else "unanswered"
        else:
            status = "open"
        return {"key": f"{self.desk.text}/{self.id}", "desk": self.desk.text,
                "id": self.id, "kind": p.get("kind"), "nerve_site": p.get("site"),
                "posture": p.get("posture"), "message": p.get("message"),
                "time": p.get("time"), "time_to_numbness_s": p.get("time_to_numbness_s"),
                "status": status, "snoozed_min": self.snoozed_min, "outcome": self.outcome}


@dataclass(slots=True)
class Fleet:
    """Every desk under `prefix` (the `max_desks` heard from last) and the newest
    `alerts_kept` alerts."""

    prefix: str
    alerts_kept: int = 200
    stale_after_s: float = 30.0
    max_desks: int = 500
    evicted: int = 0  # desks dropped for newer ones beyond max_desks (logged by tick)
    commands: Commands = field(default_factory=Commands)  # how the cmd/ topics read
    _alert_schema: PayloadSchema = field(default_factory=lambda: PayloadSchema("alert"))
    _pause_schema: PayloadSchema = field(default_factory=lambda: PayloadSchema("pause"))
    _refused: Refusals = field(default_factory=lambda: Refusals(log, "message"))
    # Least recently heard from first: the next to evict.
    _desks: OrderedDict[DeskKey, _Desk] = field(default_factory=OrderedDict)
    _alerts: OrderedDict[tuple[DeskKey, str], _Alert] = field(default_factory=OrderedDict)
    _evictions_unlogged: int = 0
    _evictions_logged_at: float | None = None

    # --- input -------------------------------------------------------------------------

    def message(self, topic: str, payload: bytes, now: float) -> list[dict[str, Any]]:
        """One MQTT message in; the changed views out ({"desk": ...} or {"alert": ...}).

        Anyone on the broker can publish anything here: a message that is not what its
        topic promises, whatever it makes go wrong, is counted and dropped (its reason
        logged at most once a minute per topic), and changes nothing."""
        try:
            parsed = self._parse_topic(topic)
            if parsed is None:
                return []
            key, kind = parsed
            if kind == "status":
                return self._status(key, payload.decode("utf-8").strip())
            body = json_object(payload, ValueError, constants=False)  # NaN is no JSON
            handle = {"state": self._state, "alert": self._alert, "event": self._event,
                      "pause": self._pause, "cmd/ack": self._cmd_ack,
                      "cmd/snooze": self._cmd_snooze, "cmd/pause": self._cmd_pause}[kind]
            return handle(key, body, now)
        except Exception as error:  # noqa: BLE001 - one bad message never stops the feed
            self._refused.refuse(topic, reason_of(error))
            return []

    @property
    def ignored(self) -> int:
        """Messages that were not what their topic promises (counted, logged, dropped)."""
        return self._refused.total

    def seed_alerts(self, rows: list[dict[str, Any]]) -> None:
        """Alerts from the log (oldest first), so a dashboard opened late shows today's."""
        for row in rows:
            key = DeskKey(row["site"], row["desk"])
            alert = self._add_alert(key, row["payload"])
            if alert is not None and row.get("outcome"):
                outcome = row["outcome"]
                alert.outcome = outcome
                alert.acknowledged = bool(outcome.get("acknowledged"))

    def tick(self, now: float) -> list[dict[str, Any]]:
        """Desks that went stale (no state for stale_after_s) or came back since last time.
        Also logs the evictions since the last such line, if that was a minute ago."""
        if self._evictions_unlogged and (self._evictions_logged_at is None or now
                                         - self._evictions_logged_at >= EVICTIONS_LOGGED_EVERY_S):
            log.warning("more desks than [dashboard] max_desks (%d): %d desk(s) silent the "
                        "longest no longer followed (%d since the start)", self.max_desks,
                        self._evictions_unlogged, self.evicted)
            self._evictions_unlogged, self._evictions_logged_at = 0, now
        changed = []
        for desk in self._desks.values():
            stale = desk.state_at is not None and now - desk.state_at > self.stale_after_s
            if stale != desk.stale:
                desk.stale = stale
                changed.append({"desk": desk.view()})
        return changed

    # --- output ------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything, for a browser that just connected."""
        return {"desks": [d.view() for d in sorted(self._desks.values(),
                                                    key=lambda d: d.key.text)],
                "alerts": [a.view() for a in reversed(self._alerts.values())]}

    def has_alert(self, desk: DeskKey, alert_id: str) -> bool:
        return (desk, alert_id) in self._alerts

    def has_desk(self, desk: DeskKey) -> bool:
        return desk in self._desks

    @property
    def desk_count(self) -> int:
        return len(self._desks)

    # --- per topic ---------------------------------------------------------------------

    def _parse_topic(self, topic: str) -> tuple[DeskKey, str] | None:
        parts = topic.split("/")
        if len(parts) < 4 or parts[0] != self.prefix:
            return None
        kind = "/".join(parts[3:])
        if kind not in TOPIC_KINDS:
            return None
        if not (_SEGMENT.fullmatch(parts[1]) and _SEGMENT.fullmatch(parts[2])):
            raise ValueError("not a desk's topic: site and desk are letters, digits, - and _")
        return DeskKey(parts[1], parts[2]), kind

    def _desk(self, key: DeskKey) -> tuple[_Desk, list[dict[str, Any]]]:
        """The desk, heard from just now; with the `{"removed": ...}` views of the desks it
        evicted when it is new and there are max_desks already."""
        desk = self._desks.get(key)
        if desk is not None:
            self._desks.move_to_end(key)
            return desk, []
        removed = []
        while len(self._desks) >= self.max_desks:
            _, silent = self._desks.popitem(last=False)
            removed.append(self._evict(silent.key))
        desk = self._desks[key] = _Desk(key)
        return desk, removed

    def _evict(self, key: DeskKey) -> dict[str, Any]:
        """Forget a desk and its alerts (their buttons would only answer "no desk")."""
        gone = [(alert_key, alert) for alert_key, alert in self._alerts.items()
                if alert_key[0] == key]
        for alert_key, _ in gone:
            del self._alerts[alert_key]
        self.evicted += 1
        self._evictions_unlogged += 1
        return {"removed": {"desk": key.text,
                            "alerts": [f"{key.text}/{alert.id}" for _, alert in gone]}}

    def _status(self, key: DeskKey, text: str) -> list[dict[str, Any]]:
        if text not in ("online", "offline"):
            raise ValueError(f"status {text[:40]!r}: expected online or offline")
        desk, removed = self._desk(key)
        desk.status = text
        return [*removed, {"desk": desk.view()}]

    def _state(self, key: DeskKey, body: dict[str, Any], now: float) -> list[dict[str, Any]]:
        if not isinstance(body.get("sites"), dict) or not isinstance(body.get("posture"), str):
            raise TypeError("a state needs posture and sites")
        desk, removed = self._desk(key)
        desk.state, desk.state_at, desk.stale = body, now, False
        return [*removed, {"desk": desk.view()}]

    def _alert(self, key: DeskKey, body: dict[str, Any], now: float) -> list[dict[str, Any]]:
        self._alert_schema.check(body)  # what the feed shows people is what an agent sends
        alert = self._add_alert(key, body)  # first: an alert it refuses makes no desk
        _, removed = self._desk(key)
        return [*removed, *([] if alert is None else [{"alert": alert.view()}])]

    def _event(self, key: DeskKey, body: dict[str, Any], now: float) -> list[dict[str, Any]]:
        if body.get("event") != "outcome":
            return []
        alert = self._alerts.get((key, str(body.get("alert_id"))))
        if alert is None:
            return []
        alert.outcome = {k: body.get(k) for k in ("acknowledged", "snoozed", "moved",
                                                  "response_s", "responded")}
        alert.acknowledged = alert.acknowledged or bool(body.get("acknowledged"))
        return [{"alert": alert.view()}]

    def _pause(self, key: DeskKey, body: dict[str, Any], now: float) -> list[dict[str, Any]]:
        self._pause_schema.check(body)  # schemas/pause.json, as the agent publishes it
        desk, removed = self._desk(key)
        desk.pause = {"paused": body["paused"], "until": body["until"] if body["paused"]
                      else None}
        return [*removed, {"desk": desk.view()}]

    def _cmd_ack(self, key: DeskKey, body: dict[str, Any], now: float) -> list[dict[str, Any]]:
        body = self.commands.check("ack", body)
        if "id" in body:
            alert = self._alerts.get((key, body["id"]))
        else:  # {}: the desk's newest alert still open
            alert = next((a for (desk, _), a in reversed(self._alerts.items()) if desk == key
                          and not a.acknowledged and a.outcome is None), None)
        if alert is None or alert.acknowledged:
            return []
        alert.acknowledged = True
        return [{"alert": alert.view()}]

    def _cmd_snooze(self, key: DeskKey, body: dict[str, Any], now: float
                    ) -> list[dict[str, Any]]:
        body = self.commands.check("snooze", body)  # as the agent reads it: 15.0 is 15
        minutes = body["minutes"]
        # A snooze without an alert id quiets the desk: it answers its open alerts.
        targets = [a for (desk, _), a in self._alerts.items() if desk == key and (
            a.id == body.get("id") if "id" in body else not a.acknowledged and a.outcome is None)]
        for alert in targets:
            alert.snoozed_min = minutes
        return [{"alert": a.view()} for a in targets]

    def _cmd_pause(self, key: DeskKey, body: dict[str, Any], now: float
                   ) -> list[dict[str, Any]]:
        self.commands.check("pause", body)  # shown once the agent publishes its pause
        return []

    def _add_alert(self, key: DeskKey, body: dict[str, Any]) -> _Alert | None:
        """A new alert into the feed (a repeat of one already there changes nothing)."""
        if not is_message_id(body.get("id")) or body.get("kind") not in ("numbness", "break"):
            raise ValueError("an alert needs an id and a kind (numbness or break)")
        if (key, body["id"]) in self._alerts:
            return None  # at-least-once delivery: seen already
        alert = self._alerts[(key, body["id"])] = _Alert(key, body)
        while len(self._alerts) > self.alerts_kept:
            self._alerts.popitem(last=False)
        return alert
