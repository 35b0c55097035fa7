"""Where the agent's decisions go: a JSON Lines event stream, and MQTT.

Each sink takes events (dicts in the event-stream shape) and per-second states;
the MQTT one hands them to `edge.publish.MqttPublisher` (alerts and events
through the outbox, state throttled), the file one writes the stream that
`legwake replay --events` promises.
"""

from __future__ import annotations

import json
from typing import IO, Any

from edge.publish import MqttPublisher


class JsonLinesSink:
    """One JSON object per line, in the order the agent decided them."""

    def __init__(self, out: IO[str]):
        self.out = out

    def event(self, event: dict[str, Any]) -> None:
        self.out.write(json.dumps(event, separators=(",", ":")) + "\n")

    def state(self, state: dict[str, Any]) -> None:
        """The state is not part of the event stream."""


class MqttSink:
    """Alerts to `alert`, other events to `event` (both QoS 1, through the outbox), and the
    state to `state`. Events get an id from the agent's session prefix and a counter, so a
    replay publishes the same ids every time and subscribers can drop duplicates."""

    def __init__(self, publisher: MqttPublisher, id_prefix: str):
        self.publisher = publisher
        self.id_prefix = id_prefix
        self._count = 0

    def event(self, event: dict[str, Any]) -> None:
        if event["event"] == "alert":
            self.publisher.publish_alert(event)
            return
        self._count += 1
        self.publisher.publish_event({**event, "id": f"{self.id_prefix}-e{self._count}"})

    def state(self, state: dict[str, Any]) -> None:
        self.publisher.publish_state(state)
