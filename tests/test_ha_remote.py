"""Home Assistant as a remote, against a real Mosquitto: the discovery config read back
from the broker, and what Home Assistant publishes for its Acknowledge button, snooze
select and "Pause nudges" switch reaching the agent as commands; the switch following the
retained `pause`; and the discovery removed when the desk is renamed or discovery is off."""

from __future__ import annotations

import dataclasses
import json
import re
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from edge.config import DashboardConfig, DeskConfig, MqttConfig
from edge.payloads import AckCommand, Command, PauseCommand, SnoozeCommand
from edge.publish import MqttPublisher, Topics, announced_path
from tests.mosquitto import Mosquitto, Subscriber
from tests.test_ha_templates import render
from tests.test_publish import validate, wait_until

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


@pytest.fixture
def desk(request: pytest.FixtureRequest) -> DeskConfig:
    """A desk of the test's own: its topics are nobody else's on the shared broker."""
    name = request.node.name.removeprefix("test_")
    short = re.sub(r"[^A-Za-z0-9_-]+", "-", name)[:24].strip("-_")
    return DeskConfig(site="ha", desk=f"{short}-{zlib.crc32(name.encode()):08x}")


def settings(broker: Mosquitto, tmp_path: Path, desk: DeskConfig,
             **overrides: Any) -> MqttConfig:
    # A discovery prefix of the test's own, so a retained config of another test is not seen.
    options: dict[str, Any] = {"host": broker.host, "port": broker.port,
                               "outbox_path": str(tmp_path / "outbox.db"),
                               "ha_prefix": f"ha-{desk.desk}",
                               "reconnect_initial_s": 0.1, "reconnect_max_s": 1.0}
    options.update(overrides)
    return MqttConfig(**options)


def retained(broker: Mosquitto, topic: str, wait_s: float = 0.5) -> bytes | None:
    """The broker's retained message on `topic` as a newcomer gets it, None when none."""
    with Subscriber(broker, [topic]) as newcomer:
        deadline = time.monotonic() + wait_s
        while not newcomer.on(topic) and time.monotonic() < deadline:
            time.sleep(0.02)
        messages = newcomer.on(topic)
    assert all(m.retain for m in messages)
    return messages[0].payload if messages else None


def discovery(broker: Mosquitto, topics: Topics) -> dict[str, Any]:
    """The discovery config, as Home Assistant reads it: retained, or published just now."""
    with Subscriber(broker, [topics.ha_config]) as home_assistant:
        [first, *_] = home_assistant.wait_count(topics.ha_config, 1, timeout=5.0)
    config: dict[str, Any] = validate("ha-discovery", first.payload)
    return config


def the(config: dict[str, Any], platform: str, command_topic: str) -> dict[str, Any]:
    """The one component of `platform` that commands `command_topic`."""
    [component] = [c for c in config["components"].values()
                   if c["p"] == platform and c.get("command_topic") == command_topic]
    return component


def without_time(commands: list[Command]) -> list[Command]:
    return [dataclasses.replace(c, received_at=NOW) for c in commands]


def test_home_assistants_button_select_and_switch_reach_the_agent_as_commands(
        broker: Mosquitto, tmp_path: Path, desk: DeskConfig) -> None:
    mqtt = settings(broker, tmp_path, desk)
    topics = Topics.of(mqtt, desk)
    with MqttPublisher(mqtt, desk) as publisher:
        wait_until(lambda: publisher.stats().connected, 5, "a connection")
        config = discovery(broker, topics)
        button = the(config, "button", topics.cmd_ack)
        select = the(config, "select", topics.cmd_snooze)
        switch = the(config, "switch", topics.cmd_pause)
        assert "30" in select["options"]
        with Subscriber(broker, []) as home_assistant:
            # What Home Assistant publishes: each with its component's qos, not retained.
            home_assistant.publish(button["command_topic"], button["payload_press"],
                                   qos=button["qos"])
            home_assistant.publish(select["command_topic"],
                                   render(select["command_template"], value="30"),
                                   qos=select["qos"])
            home_assistant.publish(switch["command_topic"], switch["payload_on"],
                                   qos=switch["qos"])
            home_assistant.publish(switch["command_topic"], switch["payload_off"],
                                   qos=switch["qos"])
            wait_until(lambda: publisher.stats().commands_received == 4, 5, "4 commands")
        commands = publisher.commands()
        assert publisher.stats().commands_invalid == 0
    assert without_time(commands) == [
        AckCommand(alert_id=None, received_at=NOW),
        SnoozeCommand(minutes=30, alert_id=None, received_at=NOW),
        PauseCommand(paused=True, minutes=None, received_at=NOW),
        PauseCommand(paused=False, minutes=None, received_at=NOW),
    ]


def test_the_pause_switch_shows_the_retained_pause(
        broker: Mosquitto, tmp_path: Path, desk: DeskConfig) -> None:
    mqtt = settings(broker, tmp_path, desk)
    topics = Topics.of(mqtt, desk)
    until = datetime(2026, 3, 4, 6, 0, tzinfo=UTC)
    with MqttPublisher(mqtt, desk, clock=lambda: NOW) as publisher:
        switch = the(discovery(broker, topics), "switch", topics.cmd_pause)
        assert (switch["state_topic"], switch["optimistic"]) == (topics.pause, False)
        with pytest.raises(ValueError, match="a resume has no end"):
            publisher.publish_pause(False, until)
        shown = []
        for paused, ends in ((True, None), (True, until), (False, None)):
            publisher.publish_pause(paused, ends)
            assert publisher.wait_until_sent(5)
            payload = retained(broker, topics.pause, wait_s=5.0)
            assert payload is not None
            pause = validate("pause", payload)
            assert pause == {"paused": paused, "until": ends and "2026-03-04T06:00:00.000Z",
                             "time": "2026-03-04T05:06:07.000Z"}
            shown.append(render(switch["value_template"], pause))
    assert shown == [switch["state_on"], switch["state_on"], switch["state_off"]]
    # It stays for whoever comes later, the agent gone too.
    last = retained(broker, topics.pause, wait_s=5.0)
    assert last is not None and json.loads(last)["paused"] is False


def test_the_device_links_to_the_dashboard(
        broker: Mosquitto, tmp_path: Path, desk: DeskConfig) -> None:
    mqtt = settings(broker, tmp_path, desk)
    dashboard = DashboardConfig(host="0.0.0.0", token="t" * 16,
                                url="https://legwake.example.org/")
    with MqttPublisher(mqtt, desk, dashboard=dashboard):
        config = discovery(broker, Topics.of(mqtt, desk))
    assert config["device"]["configuration_url"] == "https://legwake.example.org/"


def test_a_renamed_desk_removes_its_old_discovery_config(
        broker: Mosquitto, tmp_path: Path, desk: DeskConfig) -> None:
    mqtt = settings(broker, tmp_path, desk)
    old = Topics.of(mqtt, desk)
    renamed = dataclasses.replace(desk, desk=desk.desk + "-b")
    new = Topics.of(mqtt, renamed)
    with Subscriber(broker, [f"{mqtt.ha_prefix}/#"]) as home_assistant:
        with MqttPublisher(mqtt, desk):
            home_assistant.wait_count(old.ha_config, 1)
        assert announced_path(mqtt.outbox_path).read_text().strip() == old.ha_config
        with MqttPublisher(mqtt, desk):  # the same name again: nothing is removed
            home_assistant.wait_count(old.ha_config, 2)
        assert all(m.payload for m in home_assistant.on(old.ha_config))

        with MqttPublisher(mqtt, renamed) as publisher:  # the same outbox, another name
            home_assistant.wait_count(new.ha_config, 1)
            [*_, removal] = home_assistant.wait_count(old.ha_config, 3)
            assert removal.payload == b"" and removal.qos == 1
            assert publisher.wait_until_sent(5)
        assert announced_path(mqtt.outbox_path).read_text().strip() == new.ha_config
    assert retained(broker, old.ha_config) is None  # gone from the broker
    assert retained(broker, new.ha_config)


def test_discovery_turned_off_removes_the_config(
        broker: Mosquitto, tmp_path: Path, desk: DeskConfig) -> None:
    mqtt = settings(broker, tmp_path, desk)
    topics = Topics.of(mqtt, desk)
    with MqttPublisher(mqtt, desk):
        assert discovery(broker, topics)
    off = dataclasses.replace(mqtt, ha_discovery=False)
    with Subscriber(broker, [topics.ha_config]) as home_assistant:
        with MqttPublisher(off, desk) as publisher:
            home_assistant.wait_for(lambda h: any(m.payload == b"" for m in h.messages), 5,
                                    "the removal")
            assert publisher.wait_until_sent(5)
    assert retained(broker, topics.ha_config) is None
    assert not announced_path(mqtt.outbox_path).exists()
    with Subscriber(broker, [topics.ha_config]) as home_assistant:
        with MqttPublisher(off, desk):  # off again: nothing more is sent
            time.sleep(0.5)
        assert home_assistant.messages == []


def test_the_removal_waits_in_the_outbox_while_the_broker_is_away(
        tmp_path: Path, desk: DeskConfig, make_broker: Any) -> None:
    own: Mosquitto = make_broker()
    mqtt = settings(own, tmp_path, desk)
    old = Topics.of(mqtt, desk)
    with MqttPublisher(mqtt, desk):
        assert discovery(own, old)
    own.stop()
    renamed = dataclasses.replace(desk, desk=desk.desk + "-b")
    with MqttPublisher(mqtt, renamed) as publisher:  # started without a broker
        assert publisher.stats().outbox_pending == 1
    own.start()
    with MqttPublisher(mqtt, renamed) as publisher:  # the next start sends it
        assert publisher.wait_until_sent(10)
    assert retained(own, old.ha_config) is None
    assert retained(own, Topics.of(mqtt, renamed).ha_config)


def test_renamed_back_before_the_removal_was_sent_keeps_the_config(
        tmp_path: Path, desk: DeskConfig, make_broker: Any) -> None:
    """A -> B -> A while the broker is away: the removal of A, still waiting, is withdrawn;
    sent after A's fresh config, it would take the desk out of Home Assistant."""
    own: Mosquitto = make_broker()
    mqtt = settings(own, tmp_path, desk)
    first = Topics.of(mqtt, desk)
    with MqttPublisher(mqtt, desk):
        assert discovery(own, first)
    own.stop()
    renamed = dataclasses.replace(desk, desk=desk.desk + "-b")
    with MqttPublisher(mqtt, renamed) as publisher:  # A's removal waits
        assert publisher.stats().outbox_pending == 1
    with MqttPublisher(mqtt, desk) as publisher:  # back to A: B's removal waits, not A's
        assert publisher.stats().outbox_pending == 1
    own.start()
    with MqttPublisher(mqtt, desk) as publisher:
        assert publisher.wait_until_sent(10)
        assert discovery(own, first)
    assert retained(own, first.ha_config)
