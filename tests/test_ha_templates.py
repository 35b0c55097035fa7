"""The Home Assistant discovery's templates rendered as Home Assistant renders them (Jinja2,
sandboxed, `value_json` the payload), on states the agent publishes; and the choices
around them: the posture's words, the snooze lengths, expiry, the dashboard's link."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from edge.config import DashboardConfig, DeskConfig, MqttConfig
from edge.estimate.labels import POSTURES, SEATED, SITES
from edge.payloads import Commands, SnoozeCommand
from edge.publish import POSTURE_WORDS, Topics, dashboard_url, ha_discovery_config

ROOT = Path(__file__).resolve().parent.parent
# Home Assistant's template environment is a sandboxed Jinja2 one; `round`, `int`, `tojson`,
# `selectattr` and the `number` test are Jinja2's own there too. Strict: a key a template
# reads that the payload lacks is an error here (Home Assistant would render "").
JINJA = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
TOPICS = Topics.of(MqttConfig(), DeskConfig(site="lab", desk="d-1"))


def render(template: str, payload: Any = None, **variables: Any) -> str:
    """A template as Home Assistant renders it: a state or command template."""
    return JINJA.from_string(template).render(value_json=payload, **variables)


def live_components(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The components that read `state`."""
    return {key: c for key, c in config["components"].items()
            if c.get("state_topic") == TOPICS.state}


def a_state(**changes: Any) -> dict[str, Any]:
    state: dict[str, Any] = {
        "t": 61.0, "posture": "crossed_left_over_right", "confidence": 0.87,
        "sites": {site: {"pressure_mmhg": 20.4 + 10 * i, "time_to_numbness_s": None}
                  for i, site in enumerate(SITES)},
        "sensors": {"mat": "ok", "imu_left": "ok", "imu_right": "stale"},
        "seat": {"map_mmhg": [[0, 12], [30, 95]], "load_n": 512.3},
        "sitting_s": 754.2,
        "last_break": {"start": "2026-03-04T04:50:00.000Z", "end": "2026-03-04T04:55:10.000Z",
                       "length_s": 310.0},
        "battery_pct": {"imu_left": 87, "imu_right": None},
        "sensitivity": {"k": 1.3456, "low": 1.1, "high": 1.6, "reports": 4},
        "time": "2026-03-04T05:07:41.000Z",
    }
    state.update(changes)
    return state


def test_every_live_template_renders_a_state_home_assistant_takes() -> None:
    config = ha_discovery_config(TOPICS, DeskConfig(site="lab", desk="d-1"))
    states = [a_state(), a_state(posture="empty", sitting_s=None, last_break=None,
                                 confidence=0.5),
              a_state(battery_pct={"imu_left": None, "imu_right": 3})]
    states[2].pop("sensitivity")  # from an agent that did not learn it yet
    states[0]["sites"]["peroneal_left"]["time_to_numbness_s"] = 743.5
    states[0]["sites"]["peroneal_left"]["time_to_numbness_band_s"] = [421.0, 1290.2]
    states[1]["sites"]["thigh_right"]["time_to_numbness_s"] = 100.0  # from an older agent
    for key, component in live_components(config).items():
        for state in states:
            shown = render(component["value_template"], state)
            if component["p"] == "binary_sensor":
                assert shown in ("ON", "OFF", "None"), (key, shown)
            elif "options" in component:
                assert shown in component["options"], (key, shown)
            elif component.get("device_class") == "timestamp":
                assert shown == "None" or datetime.fromisoformat(shown).tzinfo, (key, shown)
            elif key.startswith("falls_asleep_"):
                assert shown in ("Not ahead", "None") or re.fullmatch(
                    r"in (about \d+|\d+ to \d+|\d+) min( or more)?", shown), (key, shown)
            elif key == "sensitivity":
                assert shown == "None" or re.fullmatch(r"\d\.\d+", shown), (key, shown)
            else:  # a number, or "None": unknown
                assert shown == "None" or re.fullmatch(r"\d+", shown), (key, shown)
    shown = {key: render(c["value_template"], states[0])
             for key, c in live_components(config).items()}
    assert shown["posture"] == "Legs crossed, left over right"
    assert (shown["posture_confidence"], shown["sitting"]) == ("85", "12")
    assert (shown["occupancy"], shown["last_break"]) == ("ON", "2026-03-04T04:55:10.000Z")
    assert (shown["imu_left_battery"], shown["imu_right_battery"]) == ("87", "None")
    assert [shown[f"{site}_pressure"] for site in SITES] == ["20", "30", "40", "50", "60",
                                                             "70"]
    assert shown["peroneal_left_time_to_numbness"] == "12"
    assert shown["sciatic_left_time_to_numbness"] == "None"  # none ahead: no number
    assert shown["sensitivity"] == "1.35"
    assert (shown["falls_asleep_left"], shown["falls_asleep_right"]) == ("in 7 to 22 min",
                                                                         "Not ahead")
    assert render(live_components(config)["sensitivity"]["value_template"], states[2]) == "None"
    away = {key: render(c["value_template"], states[1])
            for key, c in live_components(config).items()}
    assert (away["posture"], away["occupancy"], away["sitting"]) == ("Seat empty", "OFF", "0")
    assert away["last_break"] == "None"


def test_the_last_break_while_it_goes_on_is_when_it_began() -> None:
    component = ha_discovery_config(TOPICS, DeskConfig())["components"]["last_break"]
    ongoing = {"start": "2026-03-04T04:50:00.000Z", "end": None, "length_s": 95.0}
    assert render(component["value_template"], a_state(last_break=ongoing)) == ongoing["start"]


def test_numbness_ahead_tells_none_ahead_from_unknown() -> None:
    components = ha_discovery_config(TOPICS, DeskConfig())["components"]
    left, right = components["numbness_ahead_left"], components["numbness_ahead_right"]
    state = a_state()
    assert render(left["value_template"], state) == "OFF"  # estimated, and none ahead
    state["sites"]["thigh_left"]["time_to_numbness_s"] = 1500.0
    assert (render(left["value_template"], state), render(right["value_template"], state)) == (
        "ON", "OFF")
    for site in SITES:
        state["sites"][site] = {"pressure_mmhg": None, "time_to_numbness_s": None}
    assert render(right["value_template"], state) == "None"  # no estimate: unknown
    assert all(c["device_class"] == "problem" for c in (left, right))


@pytest.mark.parametrize(("seconds", "shown"), [
    (0.0, "0"), (29.0, "0"), (31.0, "1"), (743.5, "12"), (1799.0, "30"),
    (1801.0, "30"), (1960.0, "35"), (2100.0, "35"), (7199.0, "120"),
    (7300.0, "120"), (8200.0, "135"), (14400.0, "240"), (None, "None"),
])
def test_the_time_to_numbness_is_minutes_and_coarser_when_far(seconds: float | None,
                                                               shown: str) -> None:
    component = ha_discovery_config(TOPICS, DeskConfig())["components"][
        "sciatic_left_time_to_numbness"]
    assert (component["unit_of_measurement"], component["device_class"]) == ("min", "duration")
    state = a_state()
    state["sites"]["sciatic_left"]["time_to_numbness_s"] = seconds
    assert render(component["value_template"], state) == shown


@pytest.mark.parametrize(("mmhg", "shown"), [
    (0.0, "0"), (3.4, "3"), (9.4, "9"), (12.4, "10"), (12.6, "15"), (136.8, "135"),
    (None, "None"),
])
def test_a_pressure_is_whole_mmhg_when_light_and_the_nearest_5_above(mmhg: float | None,
                                                                      shown: str) -> None:
    component = ha_discovery_config(TOPICS, DeskConfig())["components"]["thigh_right_pressure"]
    state = a_state()
    state["sites"]["thigh_right"]["pressure_mmhg"] = mmhg
    assert render(component["value_template"], state) == shown


def test_the_posture_words_are_the_dashboards() -> None:
    script = (ROOT / "dashboard" / "static" / "live.js").read_text(encoding="utf-8")
    block = re.search(r"const POSTURES = \{(.*?)\};", script, re.DOTALL)
    assert block is not None
    dashboard = dict(re.findall(r'(\w+): "([^"]+)"', block[1]))
    assert POSTURE_WORDS == dashboard
    assert set(POSTURE_WORDS) == set(POSTURES)
    assert len(set(POSTURE_WORDS.values())) == len(POSTURES)


def test_occupancy_is_the_products_seated() -> None:
    component = ha_discovery_config(TOPICS, DeskConfig())["components"]["occupancy"]
    assert component["device_class"] == "occupancy"
    for posture in POSTURES:
        expected = "ON" if posture in SEATED else "OFF"
        assert render(component["value_template"], a_state(posture=posture)) == expected


@pytest.mark.parametrize(("snooze_max_min", "options"), [
    (None, ["15", "30", "60", "120"]), (120, ["15", "30", "60", "120"]),
    (45, ["15", "30"]), (10, ["10"]), (600, ["15", "30", "60", "120"]),
])
def test_the_snooze_select_offers_what_the_policy_allows(snooze_max_min: float | None,
                                                         options: list[str]) -> None:
    commands = Commands(snooze_max_min)
    select = ha_discovery_config(TOPICS, DeskConfig(), snooze_minutes=commands.snooze_minutes
                                 )["components"]["snooze"]
    assert select["options"] == options
    for option in options:  # what Home Assistant sends for each is a valid cmd/snooze
        payload = render(select["command_template"], value=option).encode()
        command = commands.parse("snooze", payload, received_at=datetime.now().astimezone())
        assert isinstance(command, SnoozeCommand) and command.minutes == int(option)


@pytest.mark.parametrize(("state_interval_s", "expire_after"), [(1.0, 30), (2.5, 30),
                                                                 (5.0, 50), (60.0, 600)])
def test_live_entities_expire_after_ten_state_intervals(state_interval_s: float,
                                                        expire_after: int) -> None:
    config = ha_discovery_config(TOPICS, DeskConfig(), state_interval_s=state_interval_s)
    live = live_components(config)
    assert len(live) == 1 + 1 + 1 + 1 + 1 + 2 + 2 + 2 * len(SITES) + 2 + 1 + 3
    assert {c["expire_after"] for c in live.values()} == {expire_after}
    others = [c for key, c in config["components"].items() if key not in live]
    assert not any("expire_after" in c for c in others)


def test_the_switch_button_and_select_say_what_the_commands_take() -> None:
    components = ha_discovery_config(TOPICS, DeskConfig())["components"]
    button, switch = components["acknowledge"], components["pause"]
    assert (button["p"], button["command_topic"], button["payload_press"]) == (
        "button", TOPICS.cmd_ack, "{}")
    assert (switch["p"], switch["command_topic"], switch["state_topic"]) == (
        "switch", TOPICS.cmd_pause, TOPICS.pause)
    assert json.loads(switch["payload_on"]) == {"paused": True}
    assert json.loads(switch["payload_off"]) == {"paused": False}
    assert switch["optimistic"] is False
    assert render(switch["value_template"], {"paused": True, "until": None}) == switch["state_on"]
    assert render(switch["value_template"], {"paused": False, "until": None}) == switch[
        "state_off"]
    assert "state_topic" not in components["snooze"]  # optimistic: nothing says the snooze


@pytest.mark.parametrize(("dashboard", "url"), [
    (DashboardConfig(), None),  # 127.0.0.1: only the desk's own machine
    (DashboardConfig(host="0.0.0.0", token="t" * 16), None),
    (DashboardConfig(host="::", token="t" * 16), None),
    (DashboardConfig(host="localhost"), None),
    (DashboardConfig(host="192.0.2.10", port=8443, token="t" * 16), "http://192.0.2.10:8443/"),
    (DashboardConfig(host="2001:db8::5", token="t" * 16), "http://[2001:db8::5]:8080/"),
    (DashboardConfig(host="desk-pi.lan", token="t" * 16), "http://desk-pi.lan:8080/"),
    (DashboardConfig(host="0.0.0.0", token="t" * 16, url="https://legwake.example.org/"),
     "https://legwake.example.org/"),
])
def test_the_device_links_to_the_dashboard_people_browse_to(dashboard: DashboardConfig,
                                                            url: str | None) -> None:
    assert dashboard_url(dashboard) == url
    device = ha_discovery_config(TOPICS, DeskConfig(), configuration_url=dashboard_url(
        dashboard))["device"]
    assert device.get("configuration_url") == url
