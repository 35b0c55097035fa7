"""Where the agent's decisions go: a JSON Lines event stream, MQTT, and the SQLite log.

Each sink takes events (dicts in the event-stream shape, each with its id and time),
minute summaries and per-second states; the MQTT one hands them to
`edge.publish.MqttPublisher` (alerts, events and minutes through the outbox, state
throttled), the file one writes the stream that `legwake replay --events` promises,
the log one records them with `edge.store.Store`, a feed at a time.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import IO, Any

from edge.config import Config
from edge.publish import MqttPublisher
from edge.store import Message, Store
from edge.timefmt import iso_utc


class JsonLinesSink:
    """One JSON object per line, in the order the agent decided them."""

    def __init__(self, out: IO[str]):
        self.out = out

    def event(self, event: dict[str, Any]) -> None:
        self.out.write(json.dumps(event, separators=(",", ":")) + "\n")

    def minute(self, minute: dict[str, Any]) -> None:
        """Minutes are the log's and the collector's, not part of the event stream."""

    def state(self, state: dict[str, Any]) -> None:
        """The state is not part of the event stream."""

    def flush(self) -> None:
        self.out.flush()


class MqttSink:
    """Alerts to `alert`, other events to `event`, minutes to `minute` (all QoS 1, through
    the outbox), and the state to `state`. Ids come from the agent's session prefix and a
    counter, so a replay publishes the same ids every time and subscribers drop duplicates."""

    def __init__(self, publisher: MqttPublisher):
        self.publisher = publisher

    def event(self, event: dict[str, Any]) -> None:
        if event["event"] == "alert":
            self.publisher.publish_alert(event)
        else:
            self.publisher.publish_event(event)

    def minute(self, minute: dict[str, Any]) -> None:
        self.publisher.publish_minute(minute)

    def state(self, state: dict[str, Any]) -> None:
        self.publisher.publish_state(state)

    def flush(self) -> None:
        """Each message is in the outbox as soon as it is handed over."""


class StoreSink:
    """This desk's decisions into the log: each feed's events and minutes in one transaction,
    so a crash keeps whole minutes only. Opens the session (closing any this desk left
    open when it was killed) and, on `close`, ends it."""

    def __init__(self, store: Store, *, site: str, desk: str, session: str,
                 started_utc: datetime, person: str = "", origin: str = "live"):
        self.store = store
        self.site = site
        self.desk = desk
        self.session = session
        self._pending: list[Message] = []
        store.close_dangling(site, desk)
        self._record("session", {"id": f"{session}-start", "session": session, "phase": "start",
                                 "time": iso_utc(started_utc), "person": person,
                                 "origin": origin})
        self.flush()

    @classmethod
    def for_desk(cls, store: Store, config: Config, *, session: str, started_utc: datetime,
                 origin: str) -> StoreSink:
        """This desk's ([desk] site, desk, person) session in the log."""
        return cls(store, site=config.desk.site, desk=config.desk.desk, session=session,
                   started_utc=started_utc, person=config.desk.person, origin=origin)

    def _record(self, kind: str, payload: dict[str, Any]) -> None:
        self._pending.append(Message(kind, self.site, self.desk, payload))

    def event(self, event: dict[str, Any]) -> None:
        self._record("alert" if event["event"] == "alert" else "event", event)

    def minute(self, minute: dict[str, Any]) -> None:
        self._record("minute", minute)

    def state(self, state: dict[str, Any]) -> None:
        """The live state is the dashboard's, not the log's."""

    def flush(self) -> None:
        if self._pending:
            batch, self._pending = self._pending, []
            self.store.record(batch)

    def close(self, *, reason: str = "stopped", ended_utc: datetime | None = None) -> None:
        """End the session (what is pending first)."""
        self._record("session", {"id": f"{self.session}-stop", "session": self.session,
                                 "phase": "stop", "reason": reason,
                                 "time": iso_utc(ended_utc or datetime.now(UTC))})
        self.flush()
