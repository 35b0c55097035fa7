"""edge/collect.py against a real Mosquitto, real agents' publishers and a real SQLite log.

The fleet: 50 desks (each an `MqttPublisher` with its own outbox) and two `legwake
collect` processes sharing the subscription, one killed with SIGKILL halfway and started
again; every alert, event and minute must be in the log exactly once. Then duplicates,
bad payloads, a stopped collector's queued share, the log locked while messages come
(nothing acknowledged before it is recorded), and configuration errors.
"""

from __future__ import annotations

import json
import logging
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from paho.mqtt import client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edge.collect import BadMessage, Collector, CollectorStats, parse_message, subscriptions
from edge.config import CollectConfig, DeskConfig, MqttConfig
from edge.publish import MqttPublisher
from tests.fleet import Published, desk_day
from tests.mosquitto import Mosquitto

LEGWAKE = Path(sys.executable).with_name("legwake")
LOGGER = "edge.collect"
# The broker settings the README asks for: a collector away for a while must find its
# whole share queued (Mosquitto's default keeps 1000 and drops the rest).
BROKER_SETTINGS = "max_queued_messages 100000\n"


def mqtt_settings(broker: Mosquitto, prefix: str, **overrides: Any) -> MqttConfig:
    options: dict[str, Any] = {"host": broker.host, "port": broker.port, "topic_prefix": prefix,
                               "reconnect_initial_s": 0.1, "reconnect_max_s": 1.0,
                               "ha_discovery": False}
    return MqttConfig(**(options | overrides))


def publisher(broker: Mosquitto, tmp_path: Path, prefix: str, site: str,
              desk: str) -> MqttPublisher:
    mqtt = mqtt_settings(broker, prefix, outbox_path=str(tmp_path / f"outbox-{site}-{desk}.db"))
    return MqttPublisher(mqtt, DeskConfig(site=site, desk=desk))


def send(desk: MqttPublisher, message: Published) -> None:
    {"alert": desk.publish_alert, "event": desk.publish_event,
     "minute": desk.publish_minute}[message.kind](message.payload)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {what}")
        time.sleep(0.02)


def rows(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(sql, args).fetchall()


def count(db: Path, table: str) -> int:
    if not db.exists():
        return 0
    try:
        return int(rows(db, f"SELECT count(*) FROM {table}")[0][0])
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path / "mosquitto")
    with broker.config_path.open("a") as config:
        config.write(BROKER_SETTINGS)
    with broker:
        yield broker


class CollectorProcess:
    """`legwake collect --config PATH` in a process of its own; its log lines are kept."""

    def __init__(self, config: Path, *, log_level: str = "info") -> None:
        self.config = config
        self.log_level = log_level
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> CollectorProcess:
        self.process = subprocess.Popen(
            [str(LEGWAKE), "collect", "--config", str(self.config), "--log-level",
             self.log_level], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=self._read, args=(self.process,), daemon=True)
        self._reader.start()
        return self

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stderr is not None
        for line in process.stderr:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float = 15.0, after: int = 0) -> str:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines[after:]:
                    if re.search(pattern, line):
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no log line like {pattern!r} in {timeout} s:\n"
                                       + "\n".join(self.lines[-30:]))
                self._changed.wait(remaining)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def terminate(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(15)

    def close(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        if self._reader is not None:
            self._reader.join(5)
        if self.process.stderr is not None:
            self.process.stderr.close()

    def final_stats(self) -> dict[str, int]:
        line = self.wait_for(r"stopped: received", timeout=5)
        return {name: int(n) for name, n in re.findall(r"(\w+) (\d+)", line.split("stopped:")[1])}


def collector_config(path: Path, broker: Mosquitto, *, prefix: str, db: Path, client_id: str,
                     group: str = "fleet-collectors") -> Path:
    path.write_text(f"""
[mqtt]
host = "{broker.host}"
port = {broker.port}
topic_prefix = "{prefix}"
reconnect_initial_s = 0.1
reconnect_max_s = 1.0

[collect]
db = "{db}"
group = "{group}"
client_id = "{client_id}"
site = "+"
""")
    return path


# --- the fleet ----------------------------------------------------------------------------------


def test_fifty_desks_two_collectors_one_killed_every_message_recorded_once(
        own_broker: Mosquitto, tmp_path: Path) -> None:
    prefix, db = "fleet", tmp_path / "fleet.db"
    days = {f"desk-{n:02d}": desk_day(n, alerts=12, minutes=8) for n in range(50)}
    total = sum(len(day) for day in days.values())
    first = CollectorProcess(collector_config(tmp_path / "a.toml", own_broker, prefix=prefix,
                                              db=db, client_id="collector-a")).start()
    second_config = collector_config(tmp_path / "b.toml", own_broker, prefix=prefix, db=db,
                                     client_id="collector-b")
    second = CollectorProcess(second_config).start()
    restarted = CollectorProcess(second_config)
    desks = {name: publisher(own_broker, tmp_path, prefix, "hq" if n % 2 else "annex", name)
             for n, name in enumerate(days)}
    try:
        first.wait_for("subscribed")
        second.wait_for("subscribed")
        for desk in desks.values():
            desk.start()
        steps = max(len(day) for day in days.values())
        for step in range(steps):
            if step == steps // 2:
                # Mid-stream: messages in flight to it and not acknowledged, some recorded
                # and not acknowledged; its share keeps coming while it is away.
                second.kill()
                time.sleep(0.3)
                restarted.start()
            for name, day in days.items():
                if step < len(day):
                    send(desks[name], day[step])
        for desk in desks.values():
            assert desk.wait_until_sent(30), f"{desk.topics.base}: outbox not drained"
        wait_until(lambda: count(db, "received") >= total, 30,
                   f"{total} messages in the log (have {count(db, 'received')})")
        time.sleep(0.3)  # any straggler would show as a surplus below
    finally:
        for desk in desks.values():
            desk.stop()
        exits = [process.terminate() for process in (first, restarted)
                 if process.process is not None]
        for process in (first, second, restarted):
            process.close()
    assert exits == [0, 0]

    def published(kind: str) -> set[tuple[str, str]]:
        return {(name, m.id) for name, day in days.items() for m in day if m.kind == kind}

    for kind, table in (("alert", "alerts"), ("event", "events")):
        recorded = rows(db, f"SELECT desk, id FROM {table}")
        assert len(recorded) == len(published(kind)), f"{table}: rows != published"
        assert set(recorded) == published(kind)
    minutes = rows(db, "SELECT desk, minute_utc FROM minutes")
    assert sorted(minutes) == sorted((name, m.payload["minute"]) for name, day in days.items()
                                     for m in day if m.kind == "minute")
    assert count(db, "received") == total
    # Every alert's outcome reached it, whichever collector took which.
    assert rows(db, "SELECT count(*) FROM alerts WHERE outcome_time_utc IS NULL") == [(0,)]
    assert rows(db, "SELECT count(DISTINCT site) FROM alerts") == [(2,)]
    restarted.wait_for(r"session resumed")  # what was queued for it while it was away
    a, b = first.final_stats(), restarted.final_stats()
    assert a["recorded"] > 0 and b["recorded"] > 0, "both collectors took a share"
    assert a["bad"] == b["bad"] == 0


# --- one collector in this process ----------------------------------------------------------------


@pytest.fixture
def prefix(request: pytest.FixtureRequest) -> str:
    """A topic prefix of the test's own on the shared broker."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name)[:60]


def collector(broker: Mosquitto, prefix: str, db: Path, *, client_id: str = "collector-1",
              protocol: str = "5") -> Collector:
    return Collector(mqtt_settings(broker, prefix, protocol=protocol),
                     CollectConfig(db=str(db), group=f"{prefix}-group", client_id=client_id))


def subscribed(collector: Collector) -> Collector:
    assert collector.wait_subscribed(5), "no SUBACK"
    return collector


def raw_client(broker: Mosquitto) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    client.connect(broker.host, broker.port)
    client.loop_start()
    return client


def publish_raw(client: paho.Client, topic: str, payload: bytes | str) -> None:
    client.publish(topic, payload, qos=1).wait_for_publish(5)


def wait_stats(collector: Collector, done: Callable[[CollectorStats], bool],
               timeout: float = 10) -> CollectorStats:
    wait_until(lambda: done(collector.stats()), timeout, f"counters ({collector.stats()})")
    return collector.stats()


def test_the_same_message_twice_is_recorded_once(broker: Mosquitto, tmp_path: Path,
                                                 prefix: str) -> None:
    db = tmp_path / "fleet.db"
    alert = next(m for m in desk_day(1, alerts=2, minutes=1) if m.kind == "alert")
    with collector(broker, prefix, db) as taking:
        subscribed(taking)
        for desk_name in ("desk-1", "desk-1", "desk-2"):  # desk-2: same id, another desk
            with publisher(broker, tmp_path, prefix, "hq", desk_name) as desk:
                send(desk, alert)
                assert desk.wait_until_sent(5)
        stats = wait_stats(taking, lambda s: s.recorded + s.duplicates >= 3)
    assert (stats.received, stats.recorded, stats.duplicates, stats.bad) == (3, 2, 1, 0)
    assert stats.acknowledged == 3
    assert sorted(rows(db, "SELECT desk, id FROM alerts")) == [("desk-1", alert.id),
                                                               ("desk-2", alert.id)]


def test_bad_payloads_are_counted_logged_and_dropped_and_collecting_goes_on(
        broker: Mosquitto, tmp_path: Path, prefix: str,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    db = tmp_path / "fleet.db"
    day = desk_day(3, alerts=3, minutes=2)
    good = [m for m in day if m.kind == "alert"]
    no_t = {k: v for k, v in good[0].payload.items() if k != "t"} | {"id": "no-t"}
    bad = [("alert", b"alert!"), ("event", b'{"t": 1, "event": "posture"}'),
           ("minute", b"[1, 2]"), ("alert", json.dumps({"id": 7}).encode()),
           ("event", b"\xff\xfe"), ("alert", json.dumps(no_t).encode()),
           ("alert", b"[" * 3000), ("minute", b'{"id": "deep", "x": ' + b"[" * 900 + b"]" * 900
                                     + b"}")]
    client = raw_client(broker)
    try:
        with collector(broker, prefix, db) as taking:
            subscribed(taking)
            # One burst, so that the good and the unrecordable share a batch.
            infos = [client.publish(f"{prefix}/hq/desk-3/{kind}", payload, qos=1)
                     for kind, payload in bad[:3]]
            infos += [client.publish(f"{prefix}/hq/desk-3/alert", json.dumps(m.payload), qos=1)
                      for m in good]
            infos += [client.publish(f"{prefix}/hq/desk-3/{kind}", payload, qos=1)
                      for kind, payload in bad[3:]]
            for info in infos:
                info.wait_for_publish(5)
            # Acknowledged after the commit: wait for those too, not only the counts.
            stats = wait_stats(taking, lambda s: s.recorded + s.bad >= len(infos)
                               and s.acknowledged >= len(infos))
            assert taking.writing
    finally:
        client.disconnect()
        client.loop_stop()
    assert (stats.recorded, stats.bad, stats.acknowledged) == (len(good), len(bad), len(infos))
    assert {row[0] for row in rows(db, "SELECT id FROM alerts")} == {m.id for m in good}
    # Each kept with its reason, so nothing is lost from sight and nothing comes back.
    kept = rows(db, "SELECT topic, payload_bytes, payload_head, reason FROM rejected")
    assert sorted(row[:3] for row in kept) == sorted(
        (f"{prefix}/hq/desk-3/{kind}", len(payload), payload[:256]) for kind, payload in bad)
    reasons = [reason for *_, reason in kept]
    assert "not JSON: Expecting value (line 1, column 1)" in reasons
    assert "not UTF-8 text (byte 0)" in reasons
    assert sum('no "id"' in r for r in reasons) == 2
    assert sum("nested more than 32 deep" in r for r in reasons) == 2
    assert "the log cannot take it: KeyError: 't'" in reasons
    assert "expected a JSON object, got list" in reasons
    # Logged at most once a minute per topic: the first on each of the three.
    warnings = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    refused = [w for w in warnings if w.startswith(f"refused a message on {prefix}/hq/desk-3/")]
    assert len(refused) == 3


@pytest.mark.parametrize(("topic", "payload", "reason"), [
    ("p/hq/desk-1/alert", b'{"id": "a-1"}', None),
    ("p/hq/desk-1/state", b'{"id": "a-1"}', "unknown topic"),
    ("p/hq/desk-1/cmd/ack", b'{"id": "a-1"}', "unknown topic"),
    ("other/hq/desk-1/alert", b'{"id": "a-1"}', "unknown topic"),
    ("p/annex/desk-1/alert", b'{"id": "a-1"}', "unknown topic"),  # another site
    ("p/hq/desk-1/event", b'{"id": ""}', 'no "id"'),
    ("p/hq/desk-1/event", b'{"id": "' + b"x" * 129 + b'"}', 'no "id"'),
    ("p/hq/desk-1/minute", b"null", "expected a JSON object"),
    ("p/hq/desk-1/minute", b"{", "not JSON"),
])
def test_a_message_is_a_desks_topic_and_a_json_object_with_an_id(
        topic: str, payload: bytes, reason: str | None) -> None:
    if reason is None:
        message = parse_message(topic, payload, topic_prefix="p", site="hq")
        assert (message.kind, message.site, message.desk, message.id) == (
            "alert", "hq", "desk-1", "a-1")
    else:
        with pytest.raises(BadMessage, match=re.escape(reason)):
            parse_message(topic, payload, topic_prefix="p", site="hq")


def test_subscriptions_are_shared_by_the_group_for_each_kind() -> None:
    assert subscriptions(MqttConfig(topic_prefix="legwake"),
                         CollectConfig(group="central", site="hq")) == [
        "$share/central/legwake/hq/+/alert", "$share/central/legwake/hq/+/event",
        "$share/central/legwake/hq/+/minute"]


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_a_stopped_collector_gets_what_was_queued_for_it(broker: Mosquitto, tmp_path: Path,
                                                         prefix: str, protocol: str) -> None:
    db = tmp_path / "fleet.db"
    with collector(broker, prefix, db, protocol=protocol) as first:
        subscribed(first)
    day = desk_day(4, alerts=10, minutes=5)
    with publisher(broker, tmp_path, prefix, "hq", "desk-4") as desk:
        for message in day:
            send(desk, message)
        assert desk.wait_until_sent(10)
    with collector(broker, prefix, db, protocol=protocol) as back:
        stats = wait_stats(back, lambda s: s.recorded >= len(day))
    assert stats.recorded == count(db, "received") == len(day)


def test_nothing_is_acknowledged_before_it_is_recorded(own_broker: Mosquitto,
                                                      tmp_path: Path) -> None:
    """The log is locked while alerts arrive; the collector, stuck before its commit, is
    killed. Had it acknowledged them, the broker would not send them again."""
    db = tmp_path / "fleet.db"
    config = collector_config(tmp_path / "c.toml", own_broker, prefix="locked", db=db,
                              client_id="collector-locked")
    first = CollectorProcess(config, log_level="debug").start()
    again = CollectorProcess(config)
    alerts = [m for m in desk_day(5, alerts=5, minutes=1) if m.kind == "alert"]
    first.wait_for("subscribed")
    lock = sqlite3.connect(db, isolation_level=None)
    try:
        lock.execute("BEGIN IMMEDIATE")
        with publisher(own_broker, tmp_path, "locked", "hq", "desk-5") as desk:
            for alert in alerts:
                send(desk, alert)
            assert desk.wait_until_sent(5)  # the broker has them
        first.wait_for("recording a batch")
        time.sleep(0.2)  # the rest of the batch, if any, reaches the collector too
        first.kill()
        lock.execute("ROLLBACK")
        again.start()
        wait_until(lambda: count(db, "alerts") >= len(alerts), 10, "the alerts recorded")
        assert again.terminate() == 0
    finally:
        lock.close()
        first.close()
        again.close()
    assert {row[0] for row in rows(db, "SELECT id FROM alerts")} == {m.id for m in alerts}


# --- the command ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("config", "expected", "status"), [
    ('[collect]\ngroup = "a/b"\n', "[collect] group", 2),
    ('[collect]\nclientid = "x"\n', '[collect] clientid: unknown key. Did you mean "client_id"?',
     2),
    ('[collect]\nsite = "h#q"\n', "[collect] site", 2),
    ('[collect]\ndb = "{tmp}"\n', "cannot open the log", 1),
])
def test_a_configuration_error_names_the_key(tmp_path: Path, config: str, expected: str,
                                             status: int) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(config.replace("{tmp}", str(tmp_path)))
    result = subprocess.run([str(LEGWAKE), "collect", "--config", str(path)],
                            check=False, capture_output=True, text=True, timeout=30)
    assert result.returncode == status, result.stderr
    assert expected in result.stderr


def test_a_broker_restart_with_messages_in_hand_loses_nothing(
        own_broker: Mosquitto, tmp_path: Path, prefix: str) -> None:
    """The collector holds a batch it cannot commit (the log is locked) when the broker
    restarts. Committed later, the batch is not acknowledged on the new connection; the
    broker sends it again from the session it saved, and the log skips the repeats.

    Nothing is published while the collector is away: Mosquitto 2.0 restores sessions
    but not their shared subscriptions, so what comes before it subscribes again has no
    subscriber (README, "Fleet collector")."""
    db = tmp_path / "fleet.db"
    days = {f"desk-{n}": desk_day(n, alerts=10, minutes=5) for n in range(4)}
    halves = {name: (day[:len(day) // 2], day[len(day) // 2:]) for name, day in days.items()}
    first_half = sum(len(before) for before, _ in halves.values())
    desks = {name: publisher(own_broker, tmp_path, prefix, "hq", name) for name in days}
    with collector(own_broker, prefix, db) as taking:
        subscribed(taking)
        lock = sqlite3.connect(db, isolation_level=None)
        for desk in desks.values():
            desk.start()
        try:
            lock.execute("BEGIN IMMEDIATE")
            for name, (before, _) in halves.items():
                for message in before:
                    send(desks[name], message)
            for desk in desks.values():
                assert desk.wait_until_sent(10)
            wait_stats(taking, lambda s: s.received >= first_half)
            own_broker.restart()
            lock.execute("ROLLBACK")
            wait_stats(taking, lambda s: s.connections >= 2)
            subscribed(taking)
            for name, (_, after) in halves.items():
                for message in after:
                    send(desks[name], message)
            for desk in desks.values():
                assert desk.wait_until_sent(10)
            total = sum(len(day) for day in days.values())
            stats = wait_stats(taking, lambda s: s.recorded >= total, timeout=20)
        finally:
            lock.close()
            for desk in desks.values():
                desk.stop()
    assert stats.duplicates == first_half  # each delivered twice, recorded once
    assert count(db, "received") == stats.recorded == total
    assert set(rows(db, "SELECT desk, id FROM alerts")) == {
        (name, m.id) for name, day in days.items() for m in day if m.kind == "alert"}
