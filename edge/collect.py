"""The fleet collector (`legwake collect`): many desks' alerts, events and minutes into one log.

Owns the collector's MQTT subscription and its acknowledgements. It subscribes through
the shared subscription `$share/<group>/<topic_prefix>/<site>/+/<kind>` for each kind
(alert, event, minute), so the collectors of one group share the desks' messages, and
writes them to [collect] db with `Store.record`, whose dedupe by (site, desk, id) makes
a message delivered twice count once.

At least once, end to end: paho's automatic acknowledgement is off; a message is
acknowledged (PUBACK) only after the transaction that recorded it has committed. The
session is persistent under a stable client id (MQTT 5: clean_start=False and a session
expiry of SESSION_EXPIRY_S; 3.1.1: clean_session=False), so what the broker sent and
was not acknowledged, and what it queued for this collector while it was away, comes
again when it is back. Mosquitto 2.0 keeps handing a disconnected member of the group
its share, queued in its session: that share is lost if the session expires before the
collector returns, and beyond the broker's max_queued_messages. After its own restart
Mosquitto restores the sessions but not their shared subscriptions, so we subscribe
again on every connection (README, "Fleet collector").

Threads: paho's network thread only stamps each delivery with its connection and puts
it in a queue that never drops: it holds only unacknowledged messages, so the broker's
window (RECEIVE_MAXIMUM) bounds it, and a full one makes paho's thread wait. The writer
thread takes batches (up to BATCH_MAX, or what came within BATCH_LINGER_S, or until
the queue is quiet for BATCH_QUIET_S), records each batch in one transaction, then
acknowledges it in order of arrival. A payload that is not a JSON object with an id, or
that the log cannot take, or that makes anything else go wrong, is counted, logged with
its topic (at most once a minute per topic), kept in the log's `rejected` table (its
first bytes and the reason) and acknowledged, so it never comes back to stop the
collector again.

Must not touch: the log's schema and dedupe (edge/store.py) or the agents' topics
(edge/publish.py `Topics`).
"""

from __future__ import annotations

import collections
import logging
import queue
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

from paho.mqtt import client as paho
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.config import CollectConfig, MqttConfig
from edge.payloads import MAX_ID_CHARS, is_message_id, json_object
from edge.publish import PublisherError, make_client, session_options
from edge.refusals import Refusals, reason_of
from edge.store import Message, Rejected, Store

__all__ = ["KINDS", "BadMessage", "Collector", "CollectorError", "CollectorStats",
           "parse_message", "run_collector", "subscriptions"]

log = logging.getLogger(__name__)

KINDS = ("alert", "event", "minute")
# How long the broker keeps a stopped collector's session, and queues its share of the
# group's messages, waiting for it to come back (MQTT 5; 3.1.1 keeps it without a limit).
SESSION_EXPIRY_S = 7 * 24 * 3600
# QoS 1 messages the broker may send before the first acknowledgement (MQTT 5): room for
# a whole batch being written while the next one arrives. Mosquitto's default is 20.
RECEIVE_MAXIMUM = 1000
BATCH_MAX = 500
BATCH_LINGER_S = 0.15
# Paho hands over what one read brought at once; a pause this long means the burst ended.
BATCH_QUIET_S = 0.01
# A log that cannot be written (locked, disk full) is tried again this often; meanwhile
# nothing is acknowledged and the broker holds the rest.
STORE_RETRY_S = 1.0
# The longest a stop waits for the broker to take the DISCONNECT.
STOP_TIMEOUT_S = 2.0
STATS_EVERY_S = 60.0


class CollectorError(RuntimeError):
    """The collector cannot start: its log cannot be opened, or a TLS file is unusable."""


class BadMessage(ValueError):
    """A delivery that is not a desk's message; the text says why."""


def subscriptions(mqtt: MqttConfig, collect: CollectConfig) -> list[str]:
    """The shared subscriptions of the collectors of [collect] group, one per kind."""
    return [f"$share/{collect.group}/{mqtt.topic_prefix}/{collect.site}/+/{kind}"
            for kind in KINDS]


def parse_message(topic: str, payload: bytes, *, topic_prefix: str, site: str = "+") -> Message:
    """`<topic_prefix>/<site>/<desk>/<kind>` and its JSON payload -> a Message for the log,
    or BadMessage saying why not."""
    parts = topic.split("/")
    if (len(parts) != 4 or parts[0] != topic_prefix or parts[3] not in KINDS
            or not parts[1] or not parts[2] or site not in ("+", parts[1])):
        raise BadMessage(f"unknown topic: expected {topic_prefix}/{site}/<desk>/"
                         f"{'|'.join(KINDS)}")
    data = json_object(payload, BadMessage)
    if not is_message_id(data.get("id")):
        raise BadMessage(f'no "id" (a string of 1..{MAX_ID_CHARS} characters)')
    return Message(kind=parts[3], site=parts[1], desk=parts[2], payload=data)


@dataclass(frozen=True, slots=True)
class _Delivery:
    """One message as paho handed it over: enough to record it and to acknowledge it on
    the connection it came on (`connection`), never on a later one."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    connection: int


@dataclass(frozen=True, slots=True)
class CollectorStats:
    """Counters since start(). `received` counts deliveries, redeliveries included;
    each one recorded ends as `recorded` (new), `duplicates` (seen before) or `bad`."""

    connected: bool
    connections: int
    received: int
    recorded: int
    duplicates: int
    bad: int
    acknowledged: int
    batches: int
    waiting: int

    def summary(self) -> str:
        return (f"received {self.received}, recorded {self.recorded}, duplicates "
                f"{self.duplicates}, bad {self.bad}, acknowledged {self.acknowledged} in "
                f"{self.batches} batches")


class _StoreUnavailable(Exception):
    """The log could not be written (not the messages' fault); nothing was recorded."""


class Collector:
    """One member of the collectors' group: subscribes, records in batches, acknowledges.

    `start()` opens the log and connects in the background; `stop()` records and
    acknowledges what it holds, disconnects (the session stays on the broker) and closes
    the log. Usable as a context manager.
    """

    def __init__(self, mqtt: MqttConfig, collect: CollectConfig, *,
                 batch_max: int = BATCH_MAX, batch_linger_s: float = BATCH_LINGER_S) -> None:
        if batch_max < 1:
            raise ValueError(f"batch_max must be >= 1, got {batch_max}")
        self.mqtt = mqtt
        self.collect = collect
        self.client_id = collect.client_id or f"collector-{socket.gethostname()}"
        self.broker = f"{mqtt.host}:{mqtt.port}"
        self.topics = subscriptions(mqtt, collect)
        self._batch_max = batch_max
        self._batch_linger_s = batch_linger_s
        # Never drops: an unacknowledged message is only sent again on the next connection.
        self._queue: queue.Queue[_Delivery] = queue.Queue(maxsize=max(RECEIVE_MAXIMUM,
                                                                      batch_max) * 2)
        self._closing = threading.Event()
        self._subscribed = threading.Event()
        self._disconnected = threading.Event()
        self._store_opened = threading.Event()
        self._store_error: BaseException | None = None
        # Held while acknowledging, and by paho's thread when a connection ends or begins:
        # a message is acknowledged on the connection it came on or not at all.
        self._link = threading.Lock()
        self._connection = 0
        self._up = False  # paho's thread: connected, as far as its callbacks said
        self._counts_lock = threading.Lock()
        self._counts: collections.Counter[str] = collections.Counter()
        self._refused = Refusals(log, "message")  # the writer thread's
        self._client: paho.Client | None = None
        self._writer: threading.Thread | None = None

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> Self:
        if self._writer is not None:
            raise RuntimeError("Collector.start() called twice")
        try:
            client = make_client(self.mqtt, self.client_id)
        except PublisherError as error:
            raise CollectorError(str(error)) from None
        client.manual_ack_set(True)
        client.on_pre_connect = self._on_pre_connect
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client
        # The log's connection belongs to the writer thread (sqlite3 objects stay in theirs).
        self._writer = threading.Thread(target=self._write_loop, name="collector-writer",
                                        daemon=True)
        self._writer.start()
        self._store_opened.wait()
        if self._store_error is not None:
            self._writer.join()
            raise CollectorError(f"cannot open the log {self.collect.db}: "
                                 f"{self._store_error}") from None
        client.connect_async(self.mqtt.host, self.mqtt.port, self.mqtt.keepalive_s,
                             **session_options(self.mqtt, expiry_s=SESSION_EXPIRY_S,
                                               receive_maximum=RECEIVE_MAXIMUM))
        client.loop_start()
        log.info("collector %s: %s from MQTT broker %s into %s", self.client_id,
                 ", ".join(self.topics), self.broker, self.collect.db)
        return self

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> CollectorStats:
        """Record and acknowledge the messages in hand, disconnect, close the log."""
        if self._writer is None or self._closing.is_set():
            return self.stats()
        self._closing.set()  # deliveries from now on are left to the next connection
        self._writer.join()
        client = self._client
        assert client is not None
        try:
            if client.is_connected():
                client.disconnect()  # after the acknowledgements queued before it
                self._disconnected.wait(timeout)
        finally:
            client.loop_stop()
            client.on_pre_connect = client.on_connect = client.on_connect_fail = None
            client.on_subscribe = client.on_disconnect = client.on_message = None
        stats = self.stats()
        log.info("collector %s stopped: %s", self.client_id, stats.summary())
        return stats

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def writing(self) -> bool:
        """False once the writer has ended: stopped, or failed (the error is logged)."""
        return self._writer is not None and self._writer.is_alive()

    def wait_subscribed(self, timeout: float) -> bool:
        """True once the broker has granted the subscriptions on the current connection."""
        return self._subscribed.wait(timeout)

    def stats(self) -> CollectorStats:
        with self._counts_lock:
            counts = dict(self._counts)
        client = self._client
        return CollectorStats(
            connected=bool(client and client.is_connected()) and not self._closing.is_set(),
            connections=counts.get("connections", 0), received=counts.get("received", 0),
            recorded=counts.get("recorded", 0), duplicates=counts.get("duplicates", 0),
            bad=counts.get("bad", 0), acknowledged=counts.get("acknowledged", 0),
            batches=counts.get("batches", 0), waiting=self._queue.qsize())

    def _count(self, name: str, n: int = 1) -> int:
        with self._counts_lock:
            self._counts[name] += n
            return self._counts[name]

    # --- paho's thread ------------------------------------------------------------------

    def _on_pre_connect(self, client: paho.Client, userdata: object) -> None:
        with self._link:
            self._connection += 1
        self._subscribed.clear()
        self._disconnected.clear()

    def _on_connect(self, client: paho.Client, userdata: object, flags: paho.ConnectFlags,
                    reason: ReasonCode, properties: Properties | None) -> None:
        if reason.is_failure:
            log.error("MQTT broker %s refused the collector %s: %s (reason code %s); retrying",
                      self.broker, self.client_id, reason.getName(), reason.value)
            return
        self._up = True
        self._count("connections")
        log.info("connected to MQTT broker %s as %s (MQTT %s%s, session %s)", self.broker,
                 self.client_id, self.mqtt.protocol, ", TLS" if self.mqtt.tls else "",
                 "resumed" if flags.session_present else "new")
        # Again on a resumed session too: Mosquitto 2.0 restores a session after it restarts
        # but not its shared subscriptions.
        client.subscribe([(topic, 1) for topic in self.topics])

    def _on_connect_fail(self, client: paho.Client, userdata: object) -> None:
        # paho calls this inside its `except OSError`: the exception handled is the reason.
        error = sys.exc_info()[1]
        log.error("cannot connect to MQTT broker %s: %s; retrying (at most every %g s)",
                  self.broker, (str(error) or type(error).__name__) if error else "unknown",
                  self.mqtt.reconnect_max_s)

    def _on_subscribe(self, client: paho.Client, userdata: object, mid: int,
                      reasons: list[ReasonCode], properties: Properties | None) -> None:
        refused = [f"{topic}: {reason.getName()}" for topic, reason in zip(self.topics, reasons)
                   if reason.is_failure]
        if refused:
            log.error("MQTT broker %s refused the subscriptions %s (does it allow shared"
                      " subscriptions, and this user these topics?)", self.broker,
                      "; ".join(refused))
            return
        log.info("subscribed: %s", ", ".join(self.topics))
        self._subscribed.set()

    def _on_disconnect(self, client: paho.Client, userdata: object,
                       flags: paho.DisconnectFlags, reason: ReasonCode,
                       properties: Properties | None) -> None:
        with self._link:
            self._connection += 1  # nothing received before is acknowledged from now on
        self._subscribed.clear()
        self._disconnected.set()
        was_up, self._up = self._up, False
        if was_up and not self._closing.is_set():
            log.warning("lost the connection to MQTT broker %s: %s; reconnecting (what was"
                        " not acknowledged comes again)", self.broker, reason.getName())

    def _on_message(self, client: paho.Client, userdata: object,
                    message: paho.MQTTMessage) -> None:
        delivery = _Delivery(topic=message.topic, payload=bytes(message.payload),
                             mid=message.mid, qos=message.qos, connection=self._connection)
        while not self._closing.is_set():
            try:
                self._queue.put(delivery, timeout=0.5)
            except queue.Full:
                continue
            self._count("received")
            return

    # --- the writer thread --------------------------------------------------------------

    def _write_loop(self) -> None:
        try:
            store = Store(self.collect.db)
        except (OSError, sqlite3.Error, RuntimeError) as error:  # reported by start()
            self._store_error = error
            return
        finally:
            self._store_opened.set()
        try:
            while True:
                batch = self._take_batch()
                if batch:
                    if not self._write(store, batch):
                        break  # stopping while the log is unavailable
                elif self._closing.is_set():
                    break
        except Exception:  # unforeseen: stop taking messages, leave them unacknowledged
            log.exception("collector %s: the writer failed; messages in hand stay"
                          " unacknowledged", self.client_id)
        finally:
            store.close()

    def _take_batch(self) -> list[_Delivery]:
        try:
            first = (self._queue.get_nowait() if self._closing.is_set()
                     else self._queue.get(timeout=0.2))
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self._batch_linger_s
        while len(batch) < self._batch_max:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except queue.Empty:
                pass
            wait = min(BATCH_QUIET_S, deadline - time.monotonic())
            if wait <= 0 or self._closing.is_set():
                break
            try:
                batch.append(self._queue.get(timeout=wait))
            except queue.Empty:
                break
        return batch

    def _write(self, store: Store, batch: list[_Delivery]) -> bool:
        """Record the batch and keep what it could not record, then acknowledge it all;
        False when given up on (stopping)."""
        log.debug("recording a batch of %d messages", len(batch))
        parsed: list[tuple[_Delivery, Message]] = []
        unreadable: list[Rejected] = []
        for delivery in batch:
            try:
                parsed.append((delivery, parse_message(
                    delivery.topic, delivery.payload, topic_prefix=self.mqtt.topic_prefix,
                    site=self.collect.site)))
            except Exception as error:  # noqa: BLE001 - anyone on the broker can send anything
                unreadable.append(self._bad(delivery, reason_of(error, BadMessage)))
        recorded: tuple[int, int] | None = None
        rejected: list[Rejected] = []
        while True:
            try:
                if recorded is None:
                    refused: list[Rejected] = []
                    recorded = self._record(store, parsed, refused)
                    rejected = unreadable + refused
                try:
                    store.reject(rejected)
                except sqlite3.OperationalError as error:
                    raise _StoreUnavailable(str(error)) from error
                break
            except _StoreUnavailable as error:
                log.error("cannot write the log %s: %s; %d messages wait unacknowledged,"
                          " trying again in %g s", self.collect.db, error, len(batch),
                          STORE_RETRY_S)
                if self._closing.wait(STORE_RETRY_S):
                    log.warning("stopping: %d messages left unacknowledged; the broker sends"
                                " them again", len(batch))
                    return False
        new, duplicates = recorded
        self._count("recorded", new)
        self._count("duplicates", duplicates)
        self._count("bad", len(rejected))
        self._count("batches")
        self._acknowledge(batch)
        return True

    def _record(self, store: Store, parsed: Sequence[tuple[_Delivery, Message]],
                refused: list[Rejected]) -> tuple[int, int]:
        """(new, duplicates) after recording; a message the log refuses is bad (added to
        `refused`), found by halving the batch, and the others are recorded."""
        if not parsed:
            return 0, 0
        try:
            new = store.record(message for _, message in parsed)
            return new, len(parsed) - new
        except sqlite3.OperationalError as error:  # locked, disk full, I/O: the log's fault
            raise _StoreUnavailable(str(error)) from error
        # A payload missing what its kind needs, or mistyped: KeyError, TypeError,
        # AttributeError, ValueError, sqlite3's binding errors ... all the message's fault.
        except Exception as error:  # noqa: BLE001
            if len(parsed) == 1:
                refused.append(self._bad(parsed[0][0], f"the log cannot take it: "
                                                       f"{reason_of(error, BadMessage)}"))
                return 0, 0
        half = len(parsed) // 2
        first = self._record(store, parsed[:half], refused)
        second = self._record(store, parsed[half:], refused)
        return first[0] + second[0], first[1] + second[1]

    def _bad(self, delivery: _Delivery, reason: str) -> Rejected:
        self._refused.refuse(delivery.topic, reason)
        return Rejected(topic=delivery.topic, payload=delivery.payload, reason=reason)

    def _acknowledge(self, batch: list[_Delivery]) -> None:
        client = self._client
        assert client is not None
        acknowledged = 0
        with self._link:
            for delivery in batch:  # in the order they came, as MQTT asks
                if delivery.connection == self._connection and delivery.qos > 0:
                    client.ack(delivery.mid, delivery.qos)
                    acknowledged += 1
        self._count("acknowledged", acknowledged)


def run_collector(mqtt: MqttConfig, collect: CollectConfig, stop: threading.Event) -> \
        CollectorStats:
    """Collect until `stop` is set, logging the counters every STATS_EVERY_S. Raises
    CollectorError if the writer fails, so that the service manager restarts us."""
    collector = Collector(mqtt, collect).start()
    next_stats = time.monotonic() + STATS_EVERY_S
    try:
        while not stop.wait(1.0):
            if not collector.writing:
                raise CollectorError("the writer failed (see the log above); what it held"
                                     " stays with the broker")
            if time.monotonic() >= next_stats:
                next_stats += STATS_EVERY_S
                log.info("collector %s: %s", collector.client_id, collector.stats().summary())
    finally:
        stats = collector.stop()
    return stats
