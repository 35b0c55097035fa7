"""What the dashboard knows of every desk: the agents' MQTT messages folded into views.

Owns the live picture: per desk its status (online, offline, stale), newest state and
when it came; the alert feed (newest first, each with what became of it: acknowledged,
snoozed, the outcome the agent reported). `Fleet.message` takes one MQTT message and
returns the views that changed, ready to send to browsers as JSON. Acknowledgements and
snoozes are taken from the `cmd/` topics themselves, so an alert shows as acknowledged
once the broker has delivered the command, whoever sent it (this dashboard, another one,
a phone).

Must not touch: the network (the MQTT bridge and the web app feed it) or the wall clock
(callers pass `now`, monotonic seconds).
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from edge.publish import is_message_id

log = logging.getLogger(__name__)

TOPIC_KINDS = ("status", "state", "alert", "event", "cmd/ack", "cmd/snooze")


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

    def view(self) -> dict[str, Any]:
        return {"key": self.key.text, "site": self.key.site, "desk": self.key.desk,
                "status": self.status, "stale": self.stale, "state": self.state}


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
    """Every desk under `prefix` and the newest `alerts_kept` alerts."""

    prefix: str
    alerts_kept: int = 200
    stale_after_s: float = 30.0
    ignored: int = 0  # messages that were not what their topic promises (logged)
    _desks: dict[DeskKey, _Desk] = field(default_factory=dict)
    _alerts: OrderedDict[tuple[DeskKey, str], _Alert] = field(default_factory=OrderedDict)

    # --- input -------------------------------------------------------------------------

    def message(self, topic: str, payload: bytes, now: float) -> list[dict[str, Any]]:
        """One MQTT message in; the changed views out ({"desk": ...} or {"alert": ...})."""
        parsed = self._parse_topic(topic)
        if parsed is None:
            return []
        key, kind = parsed
        try:
            if kind == "status":
                return self._status(key, payload.decode("utf-8").strip())
            body = json.loads(payload)
            if not isinstance(body, dict):
                raise TypeError("not a JSON object")
            handle = {"state": self._state, "alert": self._alert, "event": self._event,
                      "cmd/ack": self._cmd_ack, "cmd/snooze": self._cmd_snooze}[kind]
            return handle(key, body, now)
        except (ValueError, UnicodeDecodeError, KeyError, TypeError) as error:
            self.ignored += 1
            log.warning("ignored a message on %s: %s", topic, error)
            return []

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
        """Desks that went stale (no state for stale_after_s) or came back since last time."""
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

    # --- per topic ---------------------------------------------------------------------

    def _parse_topic(self, topic: str) -> tuple[DeskKey, str] | None:
        parts = topic.split("/")
        if len(parts) < 4 or parts[0] != self.prefix:
            return None
        kind = "/".join(parts[3:])
        if kind not in TOPIC_KINDS:
            return None
        return DeskKey(parts[1], parts[2]), kind

    def _desk(self, key: DeskKey) -> _Desk:
        desk = self._desks.get(key)
        if desk is None:
            desk = self._desks[key] = _Desk(key)
        return desk

    def _status(self, key: DeskKey, text: str) -> list[dict[str, Any]]:
        if text not in ("online", "offline"):
            raise ValueError(f"status {text[:40]!r}: expected online or offline")
        desk = self._desk(key)
        desk.status = text
        return [{"desk": desk.view()}]

    def _state(self, key: DeskKey, body: dict[str, Any], now: float) -> list[dict[str, Any]]:
        if not isinstance(body.get("sites"), dict) or not isinstance(body.get("posture"), str):
            raise TypeError("a state needs posture and sites")
        desk = self._desk(key)
        desk.state, desk.state_at, desk.stale = body, now, False
        return [{"desk": desk.view()}]

    def _alert(self, key: DeskKey, body: dict[str, Any], now: float) -> list[dict[str, Any]]:
        self._desk(key)
        alert = self._add_alert(key, body)
        return [] if alert is None else [{"alert": alert.view()}]

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

    def _cmd_ack(self, key: DeskKey, body: dict[str, Any], now: float) -> list[dict[str, Any]]:
        alert = self._alerts.get((key, str(body.get("id"))))
        if alert is None or alert.acknowledged:
            return []
        alert.acknowledged = True
        return [{"alert": alert.view()}]

    def _cmd_snooze(self, key: DeskKey, body: dict[str, Any], now: float
                    ) -> list[dict[str, Any]]:
        minutes = body.get("minutes")
        if isinstance(minutes, bool) or not isinstance(minutes, int):
            raise TypeError(f"snooze minutes {minutes!r}: expected an integer")
        # A snooze without an alert id quiets the desk: it answers its open alerts.
        targets = [a for (desk, _), a in self._alerts.items() if desk == key and (
            a.id == body.get("id") if "id" in body else not a.acknowledged and a.outcome is None)]
        for alert in targets:
            alert.snoozed_min = minutes
        return [{"alert": a.view()} for a in targets]

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
