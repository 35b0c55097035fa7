"""The nudge reaches the person, live: a crossed-legs sitting on the simulated desk, the real
agent, a real Mosquitto, Apprise posting to a local json:// endpoint and the thigh unit
buzzing over the simulated radio. The push follows its MQTT copy within seconds, comes
late but comes when the endpoint was down; the buzz taps, taps twice for the reminder and
insists when the leg is numb; and a pause from MQTT silences the reminder that would
have come next."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging

import paho.mqtt.publish as mqtt_publish

from edge import live
from edge.config import load_config
from firmware_sim.scenario import get_scenario
from firmware_sim.simulation import Sitter
from tests import running
from tests.kept import Kept
from tests.mosquitto import Subscriber
from tests.push_endpoint import PushEndpoint
from tests.test_agent import TOPIC, agent_config

SPEED = 30.0


def test_a_crossed_legs_alert_is_pushed_buzzed_retried_and_paused(tmp_path, broker, caplog):
    caplog.set_level(logging.INFO)
    endpoint = PushEndpoint().start()
    config = load_config(agent_config(tmp_path, broker, (
        f'[notify]\nurls = ["{endpoint.url()}"]\nqueue_path = "{tmp_path / "notify.db"}"\n'
        "retry_initial_s = 0.2\nretry_max_s = 1.0\n"
        "[policy]\nmax_reminders = 5\n")))  # so that only the pause stops the reminders
    sitter = Sitter(get_scenario("crossed_legs", seed=7), weight_kg=82, seat="cushioned", seed=7)
    events = Kept()
    mqtt = Subscriber(broker, [f"{TOPIC}/alert", f"{TOPIC}/pause"]).start()

    def alerts() -> list[dict]:
        return [json.loads(m.text) for m in mqtt.on(f"{TOPIC}/alert")]

    async def main() -> None:
        stop = asyncio.Event()
        agent = asyncio.create_task(live.run_simulated(config, stop, sitter, speed=SPEED,
                                                       extra_sinks=[events]))

        def until(predicate, timeout: float = 90.0):
            return running.until(predicate, agent, timeout)

        try:
            await until(lambda: len(endpoint.received) >= 1)
            endpoint.stop()  # the push service goes down after the first alert
            await until(lambda: len(alerts()) >= 2)  # the reminder: "it got worse"
            await asyncio.sleep(1.5)  # tried, failed, queued
            endpoint.start()  # and comes back
            await until(lambda: len(endpoint.received) >= 2, timeout=15)
            await until(lambda: len(alerts()) >= 3)  # the leg is numb now
            await until(lambda: len(endpoint.received) >= 3, timeout=15)
            mqtt_publish.single(f"{TOPIC}/cmd/pause", json.dumps({"paused": True}), qos=1,
                                hostname=broker.host, port=broker.port)
            await until(lambda: any(json.loads(m.text)["paused"]
                                    for m in mqtt.on(f"{TOPIC}/pause")), timeout=15)
            await asyncio.sleep(420 / SPEED)  # past the ignored-alert reminder's time
        finally:
            stop.set()
            await asyncio.gather(agent, return_exceptions=True)
            endpoint.stop()
            mqtt.client.loop_stop()
            mqtt.client.disconnect()
            for topic in ("pause", "last_alert"):  # the broker is shared with other tests
                mqtt_publish.single(f"{TOPIC}/{topic}", "", qos=1, retain=True,
                                    hostname=broker.host, port=broker.port)

    asyncio.run(main())
    said = alerts()
    assert len(said) == 3, "paused: the ignored-alert reminder never came"
    first, second, numb = said
    assert (first["site"], first["reminder"], second["reminder"]) == ("peroneal_left", 0, 1)
    assert (first["numb"], second["numb"], numb["numb"]) == (False, False, True)
    assert "numb now" in numb["message"] and "before you stand up" in numb["message"]
    # The push carries what the MQTT alert says, each within 5 s of its MQTT copy while the
    # endpoint was up, and the one sent while it was down comes after it is back.
    pushed = [body for _at, _path, body in endpoint.received]
    assert [p["message"] for p in pushed] == [a["message"] for a in said]
    first_mqtt_at = mqtt.on(f"{TOPIC}/alert")[0].at
    assert 0 <= endpoint.received[0][0] - first_mqtt_at < 5.0
    second_mqtt_at = mqtt.on(f"{TOPIC}/alert")[1].at
    print(f"push after its MQTT copy: {endpoint.received[0][0] - first_mqtt_at:.3f} s; the one"
          f" sent while the endpoint was down: {endpoint.received[1][0] - second_mqtt_at:.1f} s")
    # The left thigh buzzed: a tap, a double tap for the reminder, "insist" when numb; the
    # right one did not, and nothing buzzed while paused.
    buzzes = [r.getMessage() for r in caplog.records if ": buzz " in r.getMessage()]
    assert [b.split(": buzz ")[1].split(" at ")[0] for b in buzzes] == [
        "tap", "double tap", "insist"]
    assert all(b.startswith("LegIMU-L-") for b in buzzes)
    # Paused and published as such, retained; nothing afterwards.
    pauses = [json.loads(m.text) for m in mqtt.on(f"{TOPIC}/pause")]
    assert pauses[0] == {**pauses[0], "paused": False, "until": None}  # at start
    assert pauses[-1]["paused"] is True and pauses[-1]["until"] is None
    assert not [e for e in events.events if e["event"] == "alert"][3:]


def test_run_agent_config_has_the_notify_settings(tmp_path, broker):
    config = load_config(agent_config(tmp_path, broker, '[notify]\nurls = ["json://127.0.0.1:9/x"]\n'))
    assert dataclasses.asdict(config.notify)["urls"] == ("json://127.0.0.1:9/x",)


def test_a_pause_outlives_a_restart_of_the_agent(tmp_path, broker):
    """Paused from Home Assistant "until resumed", or for an hour: a reboot of the Pi
    must not bring the nudges back early, nor flip the switch to off (the retained
    `pause` a newcomer reads says what the agent holds)."""
    from datetime import UTC, datetime, timedelta

    from edge.agent import Agent
    from edge.publish import MqttPublisher
    from tests.test_ha_remote import retained

    # A desk of its own: no other test's agent shares its client id or its retained topics.
    config = load_config(agent_config(tmp_path, broker, '[desk]\ndesk = "desk-pause"\n'))
    topic = "legwake/office/desk-pause/pause"
    kept = tmp_path / "outbox.db.pause"

    def agent() -> Agent:
        return Agent(config, {"mat": {"transport": "serial"}}, id_prefix="p",
                     started_utc=datetime.now(UTC))

    def published(publisher: MqttPublisher) -> dict:
        assert publisher.wait_until_sent(10)
        payload = retained(broker, topic, wait_s=5.0)
        assert payload, "the pause is retained"
        return json.loads(payload)

    with MqttPublisher(config.mqtt, config.desk) as publisher:
        first = agent()
        live._PauseState(publisher, str(kept)).publish(first)
        assert published(publisher)["paused"] is False  # at start
        first.command("pause", minutes=60)
        live._PauseState(publisher, str(kept)).publish(first)
        until = first.paused_until_utc

        after_a_reboot = agent()
        state = live._PauseState(publisher, str(kept))
        state.restore(after_a_reboot)
        assert abs(after_a_reboot.paused_until_utc - until) < timedelta(seconds=2)
        state.publish(after_a_reboot)
        shown = published(publisher)
        assert shown["paused"] is True
        assert abs(datetime.fromisoformat(shown["until"]) - until) < timedelta(seconds=2)

        after_a_reboot.command("pause")  # until resumed
        state.publish(after_a_reboot)
        again = agent()
        live._PauseState(publisher, str(kept)).restore(again)
        assert again.paused_until_utc.year == datetime.max.year
        assert published(publisher) == {**published(publisher), "paused": True, "until": None}

        again.command("resume")
        state.publish(again)
        resumed = agent()
        live._PauseState(publisher, str(kept)).restore(resumed)
        assert resumed.paused_until_utc is None
        assert published(publisher)["paused"] is False

    kept.write_text("{not json")
    live._PauseState(publisher, str(kept)).restore(broken := agent())
    assert broken.paused_until_utc is None  # a damaged file is no pause, and no crash
