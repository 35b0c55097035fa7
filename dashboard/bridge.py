"""The dashboard's MQTT connection: the agents' topics in; acknowledgements, snoozes and
pauses out.

Owns one paho-mqtt client (paho's types stop here). It subscribes to every desk's
`status`, `state`, `alert`, `event`, `pause` and `cmd/` topics under
`<topic_prefix>/<site>/+/` with a clean session: the retained status, state and pause
rebuild the picture on every connect. paho's network thread only puts
`(topic, payload, arrival)` into a bounded asyncio queue on the app's loop (the oldest is
dropped, counted and logged, when the app falls behind); the app takes them from there. A
payload over MAX_MESSAGE_BYTES is refused before it is copied, so the queue holds at most
QUEUE_SIZE payloads of that size. Commands are published at QoS 1 and count as sent once
the broker has acknowledged them.

Must not touch: what the messages mean (dashboard/fleet.py) or HTTP (dashboard/app.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from paho.mqtt import client as paho
from paho.mqtt.enums import MQTTErrorCode

from edge.config import DashboardConfig, MqttConfig
from edge.payloads import MAX_MESSAGE_BYTES
from edge.publish import make_client
from edge.refusals import Refusals

log = logging.getLogger(__name__)

QUEUE_SIZE = 10_000
PUBLISH_TIMEOUT_S = 5.0
SUBSCRIBED = (("status", 1), ("state", 0), ("alert", 1), ("event", 1), ("pause", 1),
              ("cmd/+", 1))


class NotSent(RuntimeError):
    """A command the broker did not take: the message says why, for the person."""


@dataclass(frozen=True, slots=True)
class Arrival:
    topic: str
    payload: bytes
    at: float  # time.monotonic() when paho handed it over


class MqttBridge:
    """Connects in the background and keeps reconnecting (paho's capped backoff)."""

    def __init__(self, mqtt: MqttConfig, dashboard: DashboardConfig) -> None:
        self.mqtt = mqtt
        self.topics = [(f"{mqtt.topic_prefix}/{dashboard.site}/+/{kind}", qos)
                       for kind, qos in SUBSCRIBED]
        self.client_id = f"legwake-dashboard-{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self.client = make_client(mqtt, self.client_id, persistent=False)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.on_connection: Callable[[bool], None] | None = None  # told of each (dis)connect
        self.connected = False
        self.dropped = 0
        self.refused = Refusals(log, "message")  # the app's loop only
        self.arrivals: asyncio.Queue[Arrival] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False

    def start(self) -> None:
        """Connect in the background; call from the app's event loop."""
        self._loop = asyncio.get_running_loop()
        self.arrivals = asyncio.Queue(maxsize=QUEUE_SIZE)
        self.client.connect_async(self.mqtt.host, self.mqtt.port, self.mqtt.keepalive_s)
        self.client.loop_start()
        log.info("dashboard connecting to the broker", extra={
            "broker": f"{self.mqtt.host}:{self.mqtt.port}", "client_id": self.client_id})

    def stop(self) -> None:
        self._stopping = True
        self.client.disconnect()
        self.client.loop_stop()

    async def publish(self, topic: str, body: dict[str, Any]) -> None:
        """Publish at QoS 1 and wait for the broker's acknowledgement; NotSent otherwise.
        Nothing is queued for later: a stale acknowledgement would confuse the person."""
        if not self.connected:
            raise NotSent("not connected to the broker: try again when the dashboard "
                          "shows it connected")
        info = self.client.publish(topic, json.dumps(body, separators=(",", ":")), qos=1)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise NotSent(f"the broker connection refused it ({paho.error_string(info.rc)})")
        deadline = time.monotonic() + PUBLISH_TIMEOUT_S
        while not info.is_published():
            if time.monotonic() > deadline:
                raise NotSent(f"the broker did not confirm it within {PUBLISH_TIMEOUT_S:g} s")
            await asyncio.sleep(0.02)

    # --- paho's thread: enqueue only ---------------------------------------------------

    def _on_connect(self, client: paho.Client, userdata: object, flags: object,
                    reason: Any, properties: object = None) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("the broker refused the dashboard: %s", reason)
            return
        client.subscribe(self.topics)
        self._connection(True)
        log.info("dashboard connected to the broker", extra={"topics": [t for t, _ in
                                                                         self.topics]})

    def _on_disconnect(self, client: paho.Client, userdata: object, flags: object,
                       reason: Any, properties: object = None) -> None:
        if self.connected and not self._stopping:
            log.warning("dashboard lost the broker (%s); reconnecting", reason)
        self._connection(False)

    def _connection(self, up: bool) -> None:
        self.connected = up
        if self.on_connection is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self.on_connection, up)

    def _on_message(self, client: paho.Client, userdata: object,
                    message: paho.MQTTMessage) -> None:
        if self._loop is None:
            return
        size = len(message.payload)
        if size > MAX_MESSAGE_BYTES:  # refused before it is copied or queued
            self._loop.call_soon_threadsafe(
                self.refused.refuse, message.topic,
                f"payload of {size} bytes, more than {MAX_MESSAGE_BYTES}")
            return
        arrival = Arrival(message.topic, bytes(message.payload), time.monotonic())
        self._loop.call_soon_threadsafe(self._enqueue, arrival)

    def _enqueue(self, arrival: Arrival) -> None:
        queue = self.arrivals
        assert queue is not None
        if queue.full():
            queue.get_nowait()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("dashboard too slow: %d MQTT message(s) dropped so far",
                            self.dropped)
        queue.put_nowait(arrival)
