"""deploy/mosquitto-acl.conf on a real Mosquitto: a desk's credentials reach that desk's
topics only; the dashboard's, the collectors' and Home Assistant's what they need; the
agent's own MqttPublisher works under it, alerts out and commands in.

A refused message is shown by where it does not arrive, not by a reason code (MQTT 3.1.1
drops a refused publish without a word). Each check waits for a fence: a message sent
after the refused one's PUBACK (QoS 1: Mosquitto acknowledges a message once it has
routed or dropped it) to a subscriber that may receive it. Mosquitto queues each
subscriber's messages in the order it routes them, so once the fence is there, the
refused message would be there too.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edge.config import DeskConfig, MqttConfig
from edge.publish import MqttPublisher, Topics
from tests.mosquitto import Mosquitto, Subscriber

ACL_FILE = Path(__file__).resolve().parent.parent / "deploy" / "mosquitto-acl.conf"
USERS = {name: f"{name}-password" for name in
         ("desk-1", "desk-2", "legwake-dashboard", "legwake-collector", "homeassistant")}
DESK_1 = "legwake/office/desk-1"
DESK_2 = "legwake/office/desk-2"
KINDS = ("status", "state", "alert", "event", "minute", "last_alert", "pause")


class AclMosquitto(Mosquitto):
    """The tests' broker with password authentication and the ACL file of deploy/."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory, users=USERS)

    def config_lines(self) -> list[str]:
        return [*super().config_lines(), f"acl_file {ACL_FILE}"]


@pytest.fixture
def broker_with_acl(tmp_path: Path) -> Iterator[AclMosquitto]:
    with AclMosquitto(tmp_path / "mosquitto") as broker:
        yield broker


Connect = Callable[..., Subscriber]


@pytest.fixture
def connect(broker_with_acl: AclMosquitto) -> Iterator[Connect]:
    """connect(user, topics, protocol="5"): a client with that user's credentials,
    subscribed to `topics` (QoS 1); each publish's reason code goes to its `.reasons`."""
    clients: list[Subscriber] = []

    def make(user: str, topics: tuple[str, ...] = (), protocol: str = "5") -> Subscriber:
        client = Subscriber(broker_with_acl, topics, username=user, password=USERS[user],
                            protocol=protocol)
        reasons: list[str] = []
        client.client.on_publish = lambda c, u, mid, reason, p: reasons.append(str(reason))
        client.reasons = reasons  # type: ignore[attr-defined]
        clients.append(client.start())
        return client

    yield make
    for client in clients:
        client.close()


def payloads(subscriber: Subscriber) -> list[tuple[str, str]]:
    return [(m.topic, m.text) for m in subscriber.messages]


def fence(publisher: Subscriber, topic: str, *watchers: Subscriber) -> None:
    """Publish a fence on `topic` and wait until every watcher has it."""
    body = json.dumps({"id": f"fence-{time.monotonic_ns()}"})
    publisher.publish(topic, body)
    for watcher in watchers:
        watcher.wait_for(lambda s: (topic, body) in payloads(s), 5.0, f"the fence on {topic}")


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_a_desk_publishes_its_own_topics(connect: Connect, protocol: str) -> None:
    dashboard = connect("legwake-dashboard", ("legwake/#",))
    collector = connect("legwake-collector", tuple(
        f"$share/legwake-collectors/legwake/+/+/{kind}" for kind in ("alert", "event",
                                                                      "minute")))
    desk = connect("desk-1", protocol=protocol)
    for kind in KINDS:
        desk.publish(f"{DESK_1}/{kind}", json.dumps({"id": kind}))
    dashboard.wait_for(lambda s: len(s.messages) == len(KINDS), 5.0, "the desk's messages")
    collector.wait_for(lambda s: len(s.messages) == 3, 5.0, "alert, event and minute")
    assert payloads(dashboard) == [(f"{DESK_1}/{kind}", json.dumps({"id": kind}))
                                   for kind in KINDS]
    assert [topic for topic, _ in payloads(collector)] == [
        f"{DESK_1}/alert", f"{DESK_1}/event", f"{DESK_1}/minute"]
    if protocol == "5":
        assert desk.reasons == ["Success"] * len(KINDS)  # type: ignore[attr-defined]


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_a_desk_cannot_publish_as_another(connect: Connect, protocol: str) -> None:
    dashboard = connect("legwake-dashboard", ("legwake/#",))
    home_assistant = connect("homeassistant", ("homeassistant/#",))
    desk = connect("desk-1", protocol=protocol)
    refused = [f"{DESK_2}/{kind}" for kind in KINDS] + [
        f"{DESK_2}/cmd/ack", f"{DESK_2}/cmd/snooze",
        f"{DESK_1}/cmd/ack",  # its own commands come from others
        "legwake/hq/desk-1/alert",  # the same desk name at another site
        "legwake/office/desk-1",  "legwake/office/desk-1/alert/more", "legwake/office",
        "homeassistant/device/legwake_office_desk-2/config", "homeassistant/status",
        "$SYS/broker/uptime", "elsewhere",
    ]
    for topic in refused:
        desk.publish(topic, json.dumps({"id": "refused"}))
    fence(desk, f"{DESK_1}/event", dashboard)
    fence(desk, "homeassistant/device/legwake_office_desk-1/config", home_assistant)
    arrived = {topic for topic, _ in payloads(dashboard) + payloads(home_assistant)}
    assert arrived == {f"{DESK_1}/event", "homeassistant/device/legwake_office_desk-1/config"}
    if protocol == "5":
        assert desk.reasons == (["Not authorized"] * len(refused)  # type: ignore[attr-defined]
                                + ["Success"] * 2)


def test_a_desk_cannot_read_another(connect: Connect) -> None:
    desk_1 = connect("desk-1", (f"{DESK_1}/cmd/#", f"{DESK_2}/#", "legwake/+/+/alert",
                                "legwake/#", "homeassistant/#", "#"))
    desk_2 = connect("desk-2")
    dashboard = connect("legwake-dashboard")
    for kind in KINDS:
        desk_2.publish(f"{DESK_2}/{kind}", json.dumps({"id": kind}), retain=kind == "state")
    desk_2.publish("homeassistant/device/legwake_office_desk-2/config", "{}")
    dashboard.publish(f"{DESK_2}/cmd/ack", json.dumps({"id": "alert-of-desk-2"}))
    fence(dashboard, f"{DESK_1}/cmd/ack", desk_1)
    # A set: Mosquitto sends one copy per matching subscription (cmd/#, legwake/#, #).
    assert {topic for topic, _ in payloads(desk_1)} == {f"{DESK_1}/cmd/ack"}
    late = connect("desk-1", (f"{DESK_2}/state", f"{DESK_1}/cmd/snooze"))  # retained, too
    fence(dashboard, f"{DESK_1}/cmd/snooze", late)
    assert {topic for topic, _ in payloads(late)} == {f"{DESK_1}/cmd/snooze"}


def test_the_dashboard_reads_every_desk_and_answers_their_alerts(connect: Connect) -> None:
    # As dashboard/bridge.py subscribes: <prefix>/<site>/+/<kind> for each kind.
    dashboard = connect("legwake-dashboard", tuple(f"legwake/+/+/{kind}" for kind in
                                                   (*KINDS, "cmd/+")))
    desks = {"desk-1": connect("desk-1", (f"{DESK_1}/cmd/#",)),
             "desk-2": connect("desk-2", (f"{DESK_2}/cmd/#",))}
    for name, desk in desks.items():
        for kind in KINDS:
            desk.publish(f"legwake/office/{name}/{kind}", json.dumps({"id": f"{name}-{kind}"}))
    dashboard.wait_for(lambda s: len(s.messages) == 2 * len(KINDS), 5.0, "both desks")
    assert {topic for topic, _ in payloads(dashboard)} == {
        f"legwake/office/{name}/{kind}" for name in desks for kind in KINDS}
    dashboard.publish(f"{DESK_1}/cmd/ack", json.dumps({"id": "desk-1-alert"}))
    dashboard.publish(f"{DESK_2}/cmd/snooze", json.dumps({"minutes": 15}))
    desks["desk-1"].wait_count(f"{DESK_1}/cmd/ack", 1)
    desks["desk-2"].wait_count(f"{DESK_2}/cmd/snooze", 1)
    # It answers alerts; it does not raise them, not even as a desk of its own name.
    for topic in (f"{DESK_1}/alert", f"{DESK_2}/state", "legwake/office/legwake-dashboard/alert",
                  "homeassistant/device/legwake_office_desk-1/config"):
        dashboard.publish(topic, json.dumps({"id": "refused"}))
    assert dashboard.reasons[-4:] == ["Not authorized"] * 4  # type: ignore[attr-defined]
    fence(desks["desk-1"], f"{DESK_1}/event", dashboard)
    assert len(dashboard.on(f"{DESK_1}/alert")) == 1
    assert len(dashboard.on(f"{DESK_2}/state")) == 1


def test_the_collector_reads_alerts_events_and_minutes_only(connect: Connect) -> None:
    collector = connect("legwake-collector", (
        "$share/legwake-collectors/legwake/+/+/alert", "legwake/+/+/event",
        "legwake/+/+/minute", "legwake/+/+/state", "legwake/+/+/status", "legwake/+/+/cmd/#"))
    dashboard = connect("legwake-dashboard", ("legwake/#",))
    desk = connect("desk-1")
    for kind in KINDS:
        desk.publish(f"{DESK_1}/{kind}", json.dumps({"id": kind}))
    dashboard.publish(f"{DESK_1}/cmd/ack", json.dumps({"id": "alert"}))
    for topic in (f"{DESK_1}/alert", f"{DESK_1}/cmd/ack", "legwake/office/legwake-collector/alert"):
        collector.publish(topic, json.dumps({"id": "refused"}))
    assert collector.reasons == ["Not authorized"] * 3  # type: ignore[attr-defined]
    fence(desk, f"{DESK_1}/event", collector, dashboard)
    assert [topic for topic, _ in payloads(collector)] == [
        f"{DESK_1}/alert", f"{DESK_1}/event", f"{DESK_1}/minute", f"{DESK_1}/event"]
    assert json.dumps({"id": "refused"}) not in {body for _, body in payloads(dashboard)}


def test_the_agent_works_end_to_end_under_the_acl(
        broker_with_acl: AclMosquitto, connect: Connect, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    desk = DeskConfig(site="office", desk="desk-1")
    mqtt = MqttConfig(host=broker_with_acl.host, port=broker_with_acl.port, username="desk-1",
                      password=USERS["desk-1"], outbox_path=str(tmp_path / "outbox.db"),
                      reconnect_initial_s=0.1, reconnect_max_s=1.0)
    topics = Topics.of(mqtt, desk)
    collector = connect("legwake-collector", ("$share/legwake-collectors/legwake/+/+/alert",))
    dashboard = connect("legwake-dashboard", ("legwake/#",))
    home_assistant = connect("homeassistant", ("homeassistant/#",))
    caplog.set_level(logging.INFO, logger="edge.publish")
    with MqttPublisher(mqtt, desk) as publisher:
        dashboard.wait_for(lambda s: (topics.status, "online") in payloads(s), 10.0,
                           "the desk online")
        home_assistant.wait_count(topics.ha_config, 1)
        alert_id = publisher.publish_alert({
            "t": 780.0, "event": "alert", "kind": "numbness", "site": "peroneal_left",
            "posture": "crossed_left_over_right", "time_to_numbness_s": 180.0,
            "message": "Uncross your legs."})
        assert publisher.wait_until_sent(10.0)
        [received] = collector.wait_count(topics.alert, 1)
        assert json.loads(received.payload)["id"] == alert_id
        dashboard.publish(topics.cmd_ack, json.dumps({"id": alert_id}))
        commands: list[object] = []
        deadline = time.monotonic() + 10.0
        while not commands and time.monotonic() < deadline:
            commands += publisher.commands()
            time.sleep(0.02)
        assert [getattr(c, "alert_id", None) for c in commands] == [alert_id]
        # Home Assistant is a remote: its Acknowledge button, snooze select and pause switch.
        for kind, body in (("ack", {}), ("snooze", {"minutes": 30}), ("pause", {"paused": True})):
            home_assistant.publish(f"{topics.base}/cmd/{kind}", json.dumps(body))
        deadline = time.monotonic() + 10.0
        commands = []
        while len(commands) < 3 and time.monotonic() < deadline:
            commands += publisher.commands()
            time.sleep(0.02)
        assert [type(c).__name__ for c in commands] == ["AckCommand", "SnoozeCommand",
                                                         "PauseCommand"]
        publisher.publish_pause(True, None)
        assert publisher.wait_until_sent(10.0)
        # Home Assistant comes back: the desk hears it and sends its discovery again.
        home_assistant.publish(topics.ha_status, "online")
        home_assistant.wait_count(topics.ha_config, 2)
    dashboard.wait_for(lambda s: (topics.status, "offline") in payloads(s), 5.0,
                       "the desk offline")
    trouble = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert trouble == []
