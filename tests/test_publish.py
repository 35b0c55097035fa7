"""edge/publish.py against a real Mosquitto, real paho subscribers and a real SQLite outbox.

Faults are real too: the broker stopped for 30 s and restarted, the agent's process killed
with SIGKILL while the broker is frozen (SIGSTOP), a TLS broker with a CA made here, a
broker refusing a password.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import queue
import re
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from edge.config import DeskConfig, MqttConfig
from edge.estimate.labels import POSTURES, SITES
from edge.outbox import Outbox
from edge.payloads import (
    AckCommand,
    Commands,
    FeedbackCommand,
    InvalidCommand,
    PauseCommand,
    SnoozeCommand,
)
from edge.publish import (
    POSTURE_WORDS,
    MqttPublisher,
    PublisherError,
    Topics,
    ha_discovery_config,
)
from tests.mosquitto import Mosquitto, Subscriber, make_tls_files

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = {path.stem: json.loads(path.read_text()) for path in (ROOT / "schemas").glob("*.json")}
PUBLISHER_PROC = Path(__file__).resolve().parent / "publisher_proc.py"
LOGGER = "edge.publish"


def validate(schema: str, payload: bytes) -> Any:
    """The payload, decoded, after checking it against schemas/<schema>.json."""
    instance = payload.decode("utf-8") if schema == "status" else json.loads(payload)
    validator = Draft202012Validator(SCHEMAS[schema],
                                     format_checker=Draft202012Validator.FORMAT_CHECKER)
    validator.validate(instance)
    return instance


def schema_accepts(schema: str, instance: object) -> bool:
    return Draft202012Validator(SCHEMAS[schema]).is_valid(instance)


def settings(broker: Mosquitto, tmp_path: Path, **overrides: Any) -> MqttConfig:
    # Fast retries for the tests; everything else at its default.
    options: dict[str, Any] = {"host": broker.host, "port": broker.port,
                               "outbox_path": str(tmp_path / "outbox.db"),
                               "reconnect_initial_s": 0.1, "reconnect_max_s": 1.0}
    options.update(overrides)
    return MqttConfig(**options)


@pytest.fixture
def desk(request: pytest.FixtureRequest) -> DeskConfig:
    """A desk of the test's own: its topics are nobody else's on the shared broker."""
    name = request.node.name.removeprefix("test_")
    short = re.sub(r"[^A-Za-z0-9_-]+", "-", name)[:32].strip("-_")
    return DeskConfig(site="lab", desk=f"{short}-{zlib.crc32(name.encode()):08x}")


def an_alert(i: int, **fields: Any) -> dict[str, Any]:
    return {"t": 10.0 * i, "event": "alert", "kind": "numbness", "site": "sciatic_left",
            "posture": "crossed_left_over_right", "time_to_numbness_s": 300.0 - i,
            "message": "Uncross your legs and stand up for a minute.", **fields}


def a_state(t: float, posture: str = "upright") -> dict[str, Any]:
    return {"t": t, "posture": posture, "confidence": 0.9,
            "sites": {site: {"pressure_mmhg": 20.0 + i, "time_to_numbness_s": None if i else 900.0}
                      for i, site in enumerate(SITES)},
            "sensors": {"mat": "ok", "imu_left": "ok", "imu_right": "stale"},
            "seat": {"map_mmhg": [[0, 12, 40, 12], [0, 30, 95, 28]], "load_n": 512.3},
            "sitting_s": 600.0 + t,
            "last_break": {"start": "2026-03-04T04:50:00.000Z", "end": "2026-03-04T04:55:10.000Z",
                           "length_s": 310.0},
            "battery_pct": {"imu_left": 87, "imu_right": None}}


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {what}")
        time.sleep(0.02)


def ids_of(messages: list[Any]) -> list[str]:
    return [json.loads(m.payload)["id"] for m in messages]


def records(caplog: pytest.LogCaptureFixture, level: int, pattern: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == LOGGER and r.levelno == level and re.search(pattern, r.getMessage())]


# --- schemas and commands, no broker ------------------------------------------------------------


def test_schemas_are_draft_2020_12_and_use_the_estimators_vocabulary() -> None:
    assert set(SCHEMAS) == {"status", "state", "alert", "event", "minute", "cmd-ack",
                            "cmd-snooze", "cmd-pause", "cmd-feedback", "pause", "ha-discovery"}
    for schema in SCHEMAS.values():
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        Draft202012Validator.check_schema(schema)
    assert SCHEMAS["alert"]["properties"]["posture"]["enum"] == list(POSTURES)
    assert SCHEMAS["alert"]["properties"]["site"]["enum"] == [*SITES, None]
    assert SCHEMAS["state"]["properties"]["sites"]["required"] == list(SITES)
    assert SCHEMAS["event"]["oneOf"][1]["properties"]["posture"]["enum"] == list(POSTURES)
    assert SCHEMAS["minute"]["properties"]["postures"]["required"] == list(POSTURES)
    assert SCHEMAS["minute"]["properties"]["sites"]["required"] == list(SITES)


@pytest.mark.parametrize(("kind", "payload", "reason"), [
    ("ack", b'{"id": "a1"}', None),
    ("ack", b'{"id": ""}', "id: must be longer than or equal to 1 characters"),
    ("ack", b'{"id": "' + b"x" * 129 + b'"}', "id: must be shorter than or equal to 128"),
    ("ack", b'{"id": 7}', "id: must be string"),
    ("ack", b"{}", None),
    ("ack", b'{"id": "a1", "minutes": 5}', 'unknown key "minutes"; expected id'),
    ("ack", b"[" * 3000, "nested more than 32 deep"),
    ("ack", b'{"id": ' + b"[" * 30 + b"]" * 30 + b"}", "id: must be string"),
    ("ack", b'{"id": ' + b"[" * 900 + b"]" * 900 + b"}", "nested more than 32 deep"),
    ("ack", b'"a1"', "expected a JSON object"),
    ("ack", b"ack a1", "not JSON"),
    ("ack", b"\xff\xfe", "not UTF-8"),
    ("ack", b'{"id": "' + b"x" * 5000 + b'"}', "more than 4096"),
    ("snooze", b'{"minutes": 15}', None),
    ("snooze", b'{"minutes": 15.0}', None),
    ("snooze", b'{"minutes": 120, "id": "a1"}', None),
    ("snooze", b'{"minutes": 0}', "minutes: must be bigger than or equal to 1 (an integer 1..120)"),
    ("snooze", b'{"minutes": 121}', "minutes: must be smaller than or equal to 120"),
    ("snooze", b'{"minutes": 1.5}', "minutes: must be integer"),
    ("snooze", b'{"minutes": 1e400}', "minutes: must be integer"),
    ("snooze", b'{"minutes": true}', "minutes: must be integer"),
    ("snooze", b'{"minutes": "15"}', "minutes: must be integer"),
    ("snooze", b'{"minutes": NaN}', "not JSON"),
    ("snooze", b'{"id": "a1"}', 'missing "minutes"'),
    ("snooze", b'{"minutes": 5, "minuts": 5}', 'unknown key "minuts"; expected minutes, id'),
    ("snooze", b"[15]", "expected a JSON object"),
    ("pause", b'{"paused": true}', None),
    ("pause", b'{"paused": false}', None),
    ("pause", b'{"minutes": 30}', None),
    ("pause", b'{"paused": false, "minutes": 30}', 'minutes: not with "paused": false'),
    ("pause", b"{}", 'empty; expected "paused" or "minutes"'),
    ("feedback", b'{"leg": "left", "numb": true}', None),
    ("feedback", b'{"alert": "a1", "numb": false}', None),
    ("feedback", b'{"numb": false}', None),
    ("feedback", b'{"numb": true}', 'missing "leg": which leg fell asleep'),
    ("feedback", b'{"leg": "left", "numb": false}', 'leg: not with "numb": false'),
    ("feedback", b'{"leg": "left", "alert": "a1", "numb": true}', 'alert: not with "numb": true'),
    ("feedback", b'{"leg": "middle", "numb": true}', "leg: must be one of"),
    ("feedback", b'{"leg": "left"}', 'missing "numb"'),
    ("feedback", b'{"leg": "left", "numb": 1}', "numb: must be boolean"),
    ("feedback", b'{"alert": "", "numb": false}', "alert: must be longer than or equal to 1"),
    ("feedback", b'{"numb": true, "leg": "left", "note": "ow"}', 'unknown key "note"'),
])
def test_commands_are_checked_as_the_schemas_say(kind: str, payload: bytes,
                                                 reason: str | None) -> None:
    try:
        instance = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        instance = payload  # not JSON: no schema accepts bytes
    assert schema_accepts(f"cmd-{kind}", instance) == (reason is None)
    received_at = datetime(2026, 1, 1, tzinfo=UTC)
    commands = Commands()
    if reason is None:
        command = commands.parse(kind, payload, received_at=received_at)  # type: ignore[arg-type]
        expected_type = {"ack": AckCommand, "snooze": SnoozeCommand, "pause": PauseCommand,
                         "feedback": FeedbackCommand}[kind]
        assert isinstance(command, expected_type) and command.received_at == received_at
    else:
        with pytest.raises(InvalidCommand, match=re.escape(reason)):
            commands.parse(kind, payload, received_at=received_at)  # type: ignore[arg-type]


def test_ha_discovery_describes_every_site_and_validates() -> None:
    mqtt, desk = MqttConfig(), DeskConfig(site="floor3", desk="d-17")
    topics = Topics.of(mqtt, desk)
    assert topics.ha_config == "homeassistant/device/legwake_floor3_d-17/config"
    config = ha_discovery_config(topics, desk)
    validate("ha-discovery", json.dumps(config).encode())
    components = config["components"]
    for site in SITES:
        pressure = components[f"{site}_pressure"]
        # mmHg stays mmHg: a device_class pressure is converted to inHg on a US installation.
        assert (pressure["unit_of_measurement"], pressure["state_class"]) == ("mmHg",
                                                                              "measurement")
        assert "device_class" not in pressure
        assert components[f"{site}_time_to_numbness"]["device_class"] == "duration"
    assert components["posture"]["options"] == [POSTURE_WORDS[p] for p in POSTURES]
    assert components["alert"]["state_topic"] == "legwake/floor3/d-17/alert"
    assert config["availability_topic"] == "legwake/floor3/d-17/status"
    # Home Assistant ignores a root-level qos: each component has its own.
    assert "qos" not in config and "state_topic" not in config
    live = [c for c in components.values() if "unique_id" in c]
    assert all(c["qos"] == 1 for c in live)
    assert components["snooze_15"] == {"p": "button"}  # removed from Home Assistant
    unique_ids = [c["unique_id"] for c in live]
    assert len(set(unique_ids)) == len(unique_ids)


# --- against the shared broker --------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_a_subscriber_sees_exactly_the_alerts_published(
        broker: Mosquitto, tmp_path: Path, desk: DeskConfig, protocol: str) -> None:
    mqtt = settings(broker, tmp_path, protocol=protocol)
    topics = Topics.of(mqtt, desk)
    clock = lambda: datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
    with Subscriber(broker, [f"{topics.base}/#"], protocol=protocol) as watcher:
        with MqttPublisher(mqtt, desk, clock=clock) as publisher:
            watcher.wait_count(topics.status, 1)
            sent = [publisher.publish_alert(an_alert(i)) for i in range(20)]
            sent.append(publisher.publish_alert(an_alert(20, id="policy-chosen-id")))
            events = [publisher.publish_event({"t": 1.0, "event": "break", "phase": "start"}),
                      publisher.publish_event({"t": 2.0, "event": "posture",
                                               "posture": "standing", "confidence": 0.75})]
            publisher.publish_state(a_state(2.0))
            watcher.wait_count(topics.alert, 21)
            watcher.wait_count(topics.event, 2)
            watcher.wait_count(topics.state, 1)
            assert publisher.wait_until_sent(5)
            stats = publisher.stats()
            # Each alert twice: on alert, and retained on last_alert.
            assert (stats.enqueued, stats.acknowledged, stats.outbox_pending) == (44, 44, 0)
        watcher.wait_count(topics.status, 2)
        time.sleep(0.2)  # anything extra would arrive now
    assert sent[-1] == "policy-chosen-id" and len(set(sent)) == 21
    alerts = watcher.on(topics.alert)
    assert ids_of(alerts) == sent
    for i, message in enumerate(alerts):
        alert = validate("alert", message.payload)
        assert {k: v for k, v in alert.items() if k not in ("id", "time")} == an_alert(i)
        assert alert["time"] == "2026-03-04T05:06:07.890Z"
        assert message.qos == 1 and not message.retain
    assert ids_of(watcher.on(topics.event)) == events
    for message in watcher.on(topics.event):
        validate("event", message.payload)
    [state] = watcher.on(topics.state)
    assert validate("state", state.payload)["sites"]["sciatic_left"]["pressure_mmhg"] == 20.0
    assert [validate("status", m.payload) for m in watcher.on(topics.status)] == [
        "online", "offline"]
    last_alerts = watcher.on(topics.last_alert)
    assert [m.payload for m in last_alerts] == [m.payload for m in alerts]
    assert all(m.qos == 1 and not m.retain for m in last_alerts)  # live, not replayed
    with Subscriber(broker, [topics.last_alert]) as newcomer:
        [retained] = newcomer.wait_count(topics.last_alert, 1)
        assert retained.retain and json.loads(retained.payload)["id"] == "policy-chosen-id"
    assert not watcher.on(topics.cmd_ack) and len(watcher.messages) == 21 * 2 + 2 + 1 + 2


def test_payloads_that_are_not_alerts_or_json_are_refused(
        broker: Mosquitto, tmp_path: Path, desk: DeskConfig) -> None:
    publisher = MqttPublisher(settings(broker, tmp_path), desk)
    with pytest.raises(RuntimeError, match="start"):
        publisher.publish_alert(an_alert(0))
    with publisher:
        with pytest.raises(ValueError, match="NaN"):
            publisher.publish_alert(an_alert(0, time_to_numbness_s=float("nan")))
        with pytest.raises(ValueError, match='"event": "alert"'):
            publisher.publish_alert({"t": 0, "event": "break"})
        with pytest.raises(ValueError, match="other than"):
            publisher.publish_event(an_alert(0))
        with pytest.raises(ValueError, match="id: expected"):
            publisher.publish_alert(an_alert(0, id=""))
        assert publisher.stats().enqueued == 0


def test_state_is_published_at_most_once_a_second_and_the_newest_wins(
        broker: Mosquitto, tmp_path: Path, desk: DeskConfig,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    mqtt = settings(broker, tmp_path)
    topics = Topics.of(mqtt, desk)
    offered = 0
    with Subscriber(broker, [topics.state]) as watcher:
        with MqttPublisher(mqtt, desk, state_drop_log_every=10) as publisher:
            wait_until(lambda: publisher.stats().connected, 5, "a connection")
            start = time.monotonic()
            while time.monotonic() - start < 2.5:  # 20 states a second
                publisher.publish_state(a_state(float(offered)))
                offered += 1
                time.sleep(0.05)
            # The last one offered is published when its second has come.
            watcher.wait_for(lambda w: json.loads(w.on(topics.state)[-1].payload)["t"]
                             == offered - 1, 3, "the newest state")
            # The publisher counts a state just after handing it to the broker, so the
            # watcher may see it first.
            wait_until(lambda: publisher.stats().states_published
                       >= len(watcher.on(topics.state)), 2, "the newest state counted")
            stats = publisher.stats()
        received = watcher.on(topics.state)
        with Subscriber(broker, [topics.state]) as late:  # retained: a newcomer gets it
            [retained] = late.wait_count(topics.state, 1)
    assert 3 <= len(received) <= 4
    gaps = [b.at - a.at for a, b in itertools.pairwise(received)]
    assert min(gaps) > 0.9, gaps
    assert stats.states_published == len(received)
    assert stats.states_published + stats.states_dropped == offered
    assert retained.retain and retained.payload == received[-1].payload
    for message in received:
        validate("state", message.payload)
    drops = records(caplog, logging.INFO, r"older states dropped")
    assert len(drops) >= 4 and "10 older states dropped" in drops[1]


def test_commands_are_parsed_and_invalid_ones_dropped_with_the_reason(
        broker: Mosquitto, tmp_path: Path, desk: DeskConfig,
        caplog: pytest.LogCaptureFixture) -> None:
    mqtt = settings(broker, tmp_path)
    topics = Topics.of(mqtt, desk)
    with Subscriber(broker, []) as phone:
        # Left retained by some client: stale, and replayed on every subscription.
        phone.publish(topics.cmd_snooze, '{"minutes": 30}', retain=True)
        with MqttPublisher(mqtt, desk) as publisher:
            wait_until(lambda: publisher.stats().commands_received == 1, 5, "the retained one")
            phone.publish(topics.cmd_ack, '{"id": "alert-1"}')
            phone.publish(topics.cmd_snooze, '{"minutes": 0}')
            phone.publish(topics.cmd_snooze, "later")
            phone.publish(topics.cmd_ack, '{"id": "alert-2", "note": "x"}')
            phone.publish(topics.cmd_snooze, '{"minutes": 15, "id": "alert-1"}')
            wait_until(lambda: publisher.stats().commands_received == 6, 5, "the commands")
            commands = publisher.commands()
            assert publisher.commands() == []
            assert publisher.stats().commands_invalid == 4
        phone.publish(topics.cmd_snooze, "", retain=True)  # clear the retained message
    match commands:
        case [AckCommand() as ack, SnoozeCommand() as snooze]:
            assert ack.alert_id == "alert-1"
            assert (snooze.minutes, snooze.alert_id) == (15, "alert-1")
            assert ack.received_at.tzinfo is not None
        case _:
            pytest.fail(f"expected an ack then a snooze, got {commands}")
    # Counted each, logged once a minute per topic: the first on each topic.
    warnings = records(caplog, logging.WARNING, r"^refused a command on ")
    assert [w.split(": ", 1)[1].split(";")[0] for w in warnings] == [
        "a retained message (a stale command, not a new one)",
        'unknown key "note"',
    ]
    assert [w.split(" ")[4].rstrip(":") for w in warnings] == [topics.cmd_snooze,
                                                                 topics.cmd_ack]


def test_the_command_queue_is_bounded_and_keeps_the_newest(
        broker: Mosquitto, tmp_path: Path, desk: DeskConfig,
        caplog: pytest.LogCaptureFixture) -> None:
    mqtt = settings(broker, tmp_path, queue_size=3)
    topics = Topics.of(mqtt, desk)
    with Subscriber(broker, []) as phone, MqttPublisher(mqtt, desk) as publisher:
        wait_until(lambda: publisher.stats().connected, 5, "a connection")
        time.sleep(0.1)  # the subscription is in place
        for minutes in range(1, 6):
            phone.publish(topics.cmd_snooze, json.dumps({"minutes": minutes}))
        wait_until(lambda: publisher.stats().commands_received == 5, 5, "5 commands")
        commands = publisher.commands()
        assert all(isinstance(c, SnoozeCommand) for c in commands)
        assert [c.minutes for c in commands if isinstance(c, SnoozeCommand)] == [3, 4, 5]
        assert publisher.stats().commands_dropped == 2
    assert len(records(caplog, logging.WARNING, r"command queue full \(3\)")) == 2


def test_ha_discovery_is_retained_and_sent_again_when_home_assistant_comes_online(
        broker: Mosquitto, tmp_path: Path, desk: DeskConfig) -> None:
    ha_prefix = f"ha-{desk.desk}"[:40]
    mqtt = settings(broker, tmp_path, ha_prefix=ha_prefix)
    topics = Topics.of(mqtt, desk)
    with Subscriber(broker, [topics.status]) as watcher, MqttPublisher(mqtt, desk):
        watcher.wait_count(topics.status, 1)  # "online" follows the discovery config
        with Subscriber(broker, [f"{ha_prefix}/#"]) as home_assistant:
            [first] = home_assistant.wait_count(topics.ha_config, 1)
            assert first.retain  # it was there before Home Assistant subscribed
            config = validate("ha-discovery", first.payload)
            assert config == json.loads(json.dumps(ha_discovery_config(topics, desk)))
            home_assistant.publish(topics.ha_status, "offline")
            home_assistant.publish(topics.ha_status, "online")  # HA's birth message
            messages = home_assistant.wait_count(topics.ha_config, 2)
            assert messages[1].payload == first.payload
    # Discovery off: nothing is announced.
    other = dataclasses.replace(desk, desk=desk.desk + "-off")
    quiet = settings(broker, tmp_path / "off", ha_prefix=ha_prefix, ha_discovery=False)
    quiet_topics = Topics.of(quiet, other)
    with Subscriber(broker, [quiet_topics.ha_config, quiet_topics.status]) as watcher, \
            MqttPublisher(quiet, other):
        watcher.wait_count(quiet_topics.status, 1)
        time.sleep(0.2)
        assert [m.topic for m in watcher.messages] == [quiet_topics.status]


# --- faults ----------------------------------------------------------------------------------------


def test_alerts_published_during_a_30s_broker_outage_all_arrive_in_order_once(
        make_broker: Callable[..., Mosquitto], tmp_path: Path, desk: DeskConfig,
        caplog: pytest.LogCaptureFixture) -> None:
    own = make_broker()
    mqtt = settings(own, tmp_path)
    topics = Topics.of(mqtt, desk)
    sent: list[str] = []
    # A dashboard with a persistent session: the broker keeps what it missed.
    with Subscriber(own, [topics.alert], client_id="dashboard", persistent=True) as dashboard, \
            MqttPublisher(mqtt, desk) as publisher:
        wait_until(lambda: publisher.stats().connected, 5, "a connection")
        for i in range(10):
            sent.append(publisher.publish_alert(an_alert(i)))
            time.sleep(0.05)
        dashboard.wait_count(topics.alert, 10)
        assert publisher.wait_until_sent(5)
        own.stop()
        outage = time.monotonic()
        for i in range(10, 20):  # spread over the outage
            sent.append(publisher.publish_alert(an_alert(i)))
            time.sleep(2.5)
        stats = publisher.stats()
        assert not stats.connected and stats.outbox_pending == 2 * 10  # and on last_alert
        time.sleep(max(0.0, 30 - (time.monotonic() - outage)))
        own.start()
        for i in range(20, 30):  # queued behind the ten waiting
            sent.append(publisher.publish_alert(an_alert(i)))
        dashboard.wait_count(topics.alert, 30, timeout=15)
        assert publisher.wait_until_sent(5)
        time.sleep(0.2)
    received = ids_of(dashboard.on(topics.alert))
    assert received == sent  # every alert, in order, none twice
    assert records(caplog, logging.WARNING, rf"lost the connection to MQTT broker {own.host}")
    failures = records(caplog, logging.ERROR, rf"cannot connect to MQTT broker {own.host}:"
                                              rf"{own.port}: .*refused")
    assert len(failures) >= 20  # kept trying through the outage
    delays = [float(re.search(r"retrying in about ([0-9.]+) s", f)[1])  # type: ignore[index]
              for f in failures[:6]]
    assert delays == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]  # doubling, capped at reconnect_max_s


class AgentProcess:
    """tests/publisher_proc.py: the publisher in a process of its own."""

    def __init__(self, mqtt: MqttConfig, desk: DeskConfig, log_path: Path) -> None:
        self._log = log_path.open("ab")
        settings_json = json.dumps({"mqtt": dataclasses.asdict(mqtt),
                                    "desk": dataclasses.asdict(desk)})
        self.process = subprocess.Popen(
            [sys.executable, str(PUBLISHER_PROC), settings_json], cwd=ROOT, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log)
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        assert self.answer() == "started"

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.strip())

    def answer(self, timeout: float = 15.0) -> str:
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError("the agent process did not answer") from None

    def ask(self, command: str, timeout: float = 15.0) -> str:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.answer(timeout)

    def kill(self) -> None:
        self.process.kill()  # SIGKILL: no clean-up of any kind
        self.process.wait()

    def close(self) -> None:
        if self.process.poll() is None:
            self.kill()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()
        self._reader.join(5)
        self.process.wait()
        self._log.close()


@pytest.fixture
def agents() -> Iterator[list[AgentProcess]]:
    started: list[AgentProcess] = []
    yield started
    for agent in started:
        agent.close()


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_an_agent_killed_with_sigkill_fires_its_will_and_its_outbox_drains_on_restart(
        make_broker: Callable[..., Mosquitto], tmp_path: Path, desk: DeskConfig,
        agents: list[AgentProcess], protocol: str) -> None:
    own = make_broker()
    mqtt = settings(own, tmp_path, protocol=protocol)
    topics = Topics.of(mqtt, desk)
    with Subscriber(own, [topics.alert, topics.status], client_id="wall-display",
                    persistent=True) as display:
        agents.append(first := AgentProcess(mqtt, desk, tmp_path / "agent-1.log"))
        display.wait_count(topics.status, 1)
        for name in ("a1", "a2", "a3"):
            assert first.ask(f"alert {name}") == f"enqueued {name}"
        assert first.ask("drain 5") == "drained"
        own.pause()  # frozen broker: nothing is acknowledged from here on
        for name in ("a4", "a5", "a6"):
            assert first.ask(f"alert {name}") == f"enqueued {name}"
        first.kill()
        with Outbox(mqtt.outbox_path) as outbox:
            assert [m.id for m in outbox.pending() if m.topic == topics.alert] == [
                "a4", "a5", "a6"]
        own.resume()  # the broker reads what it was sent, then finds the connection gone
        display.wait_for(lambda d: [m.text for m in d.on(topics.status)] == ["online", "offline"],
                         10, "the last will")
        with Subscriber(own, [topics.status]) as newcomer:
            [will] = newcomer.wait_count(topics.status, 1)
            assert will.retain and validate("status", will.payload) == "offline"

        agents.append(second := AgentProcess(mqtt, desk, tmp_path / "agent-2.log"))
        assert second.ask("drain 10") == "drained"
        display.wait_for(lambda d: {"a1", "a2", "a3", "a4", "a5", "a6"} <= set(
            ids_of(d.on(topics.alert))), 10, "every alert")
        assert second.ask("stop") == "stopped"
        display.wait_count(topics.status, 4)
    with Outbox(mqtt.outbox_path) as outbox:
        assert len(outbox) == 0
    received = ids_of(display.on(topics.alert))
    first_seen = list(dict.fromkeys(received))
    assert first_seen == ["a1", "a2", "a3", "a4", "a5", "a6"]  # in order, dropping repeats
    repeats = [name for name in received if received.count(name) > 1]
    assert set(repeats) <= {"a4", "a5", "a6"}  # sent by the dead agent, and again: at least once
    assert [m.text for m in display.on(topics.status)] == ["online", "offline", "online",
                                                           "offline"]
    for message in display.on(topics.alert):
        validate("alert", message.payload)


def test_tls_with_a_generated_ca_and_client_certificates(
        make_broker: Callable[..., Mosquitto], tmp_path: Path, desk: DeskConfig,
        caplog: pytest.LogCaptureFixture) -> None:
    files = make_tls_files(tmp_path / "tls")
    own = make_broker(tls=files, require_client_cert=True)
    mqtt = settings(own, tmp_path, tls=True, ca_file=str(files.ca_cert),
                    cert_file=str(files.client_cert), key_file=str(files.client_key))
    topics = Topics.of(mqtt, desk)
    with Subscriber(own, [topics.alert], tls=files) as watcher, \
            MqttPublisher(mqtt, desk) as publisher:
        alert_id = publisher.publish_alert(an_alert(1))
        [message] = watcher.wait_count(topics.alert, 1)
        assert json.loads(message.payload)["id"] == alert_id

    # The client verifies the server: a broker certificate from another CA is refused.
    stranger = make_tls_files(tmp_path / "other-ca", name="other")
    wrong_ca = dataclasses.replace(mqtt, ca_file=str(stranger.ca_cert),
                                   outbox_path=str(tmp_path / "wrong-ca.db"))
    with MqttPublisher(wrong_ca, desk) as refused:
        wait_until(lambda: len(records(caplog, logging.ERROR, "CERTIFICATE_VERIFY_FAILED")) >= 2,
                   5, "two refused attempts")
        assert not refused.stats().connected
    [first, *_] = records(caplog, logging.ERROR, "CERTIFICATE_VERIFY_FAILED")
    assert first.startswith(f"cannot connect to MQTT broker {own.host}:{own.port}: ")


def test_missing_tls_files_stop_the_start_with_the_setting_named(
        tmp_path: Path, desk: DeskConfig) -> None:
    mqtt = MqttConfig(tls=True, ca_file=str(tmp_path / "nope.crt"),
                      outbox_path=str(tmp_path / "outbox.db"))
    with pytest.raises(PublisherError, match=r"\[mqtt\] ca_file: no such file: .*nope.crt"):
        MqttPublisher(mqtt, desk).start()
    assert not (tmp_path / "outbox.db").exists()  # nothing opened


def test_a_bad_password_is_a_clear_error_retried_with_backoff_until_it_is_fixed(
        make_broker: Callable[..., Mosquitto], tmp_path: Path, desk: DeskConfig,
        caplog: pytest.LogCaptureFixture) -> None:
    own = make_broker(users={"agent": "right", "probe": "probe"})
    mqtt = settings(own, tmp_path, username="agent", password="wrong")
    topics = Topics.of(mqtt, desk)
    with Subscriber(own, [topics.alert], username="probe", password="probe") as watcher, \
            MqttPublisher(mqtt, desk) as publisher:
        alert_id = publisher.publish_alert(an_alert(1))  # waits in the outbox meanwhile
        wait_until(lambda: len(records(caplog, logging.ERROR, "refused")) >= 4, 10,
                   "four refusals")
        assert not publisher.stats().connected
        refusals = records(caplog, logging.ERROR, "refused")
        assert refusals[0] == (
            # Mosquitto 2.0 answers a wrong password with "Not authorized" (0x87).
            f"MQTT broker {own.host}:{own.port} refused the connection: Not authorized"
            " (reason code 135). Check [mqtt] username and password. Attempt 1; retrying in"
            " about 0.1 s.")
        assert [re.search(r"Attempt (\d+); retrying in about ([0-9.]+) s", r).groups()  # type: ignore[union-attr]
                for r in refusals[:4]] == [("1", "0.1"), ("2", "0.2"), ("3", "0.4"),
                                           ("4", "0.8")]
        own.set_users({"agent": "wrong", "probe": "probe"})  # the password is fixed
        [message] = watcher.wait_count(topics.alert, 1, timeout=10)
        assert json.loads(message.payload)["id"] == alert_id
        assert publisher.stats().connected
