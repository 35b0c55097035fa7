"""What the agent's state carries for Home Assistant: the thigh units' batteries from the live
links (none in a replay), valid as schemas/state.json says, and every value a discovery
template reads present in it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from edge.agent import Agent, replay_trace, session_prefix, trace_start
from edge.config import DeskConfig, load_config
from edge.publish import ha_discovery_config
from edge.sources.replay import batches
from edge.sources.trace import TraceReader
from tests.kept import Kept
from tests.test_ha_templates import TOPICS, live_components, render

ROOT = Path(__file__).resolve().parent.parent
TRACE = ROOT / "tests" / "data" / "crossing_left.jsonl.gz"
STATE = Draft202012Validator(json.loads((ROOT / "schemas" / "state.json").read_text()))


def live_run(links: dict[str, dict[str, Any]]) -> Kept:
    """The trace through an agent whose live links report `links` (as edge/live.py's do)."""
    reader = TraceReader(TRACE)
    started = trace_start(reader.header.started)
    kept = Kept()
    agent = Agent(load_config(None), reader.header.sources, id_prefix=session_prefix(started),
                  started_utc=started, sinks=[kept], links=lambda: links)
    for batch in batches(reader, 256):
        agent.process(batch)
    agent.finish()
    return kept


def test_the_state_carries_each_thigh_units_battery_from_its_link() -> None:
    kept = live_run({"mat": {"reconnects": 0, "battery_pct": None},
                     "imu_left": {"reconnects": 1, "battery_pct": 81},
                     "imu_right": {"reconnects": 0, "battery_pct": None}})
    assert kept.states
    for state in kept.states:
        STATE.validate({**state, "time": "2026-03-04T05:06:07.000Z"})  # as published
        assert state["battery_pct"] == {"imu_left": 81, "imu_right": None}


def test_a_replay_has_no_batteries() -> None:
    kept = Kept()
    replay_trace(TraceReader(TRACE), load_config(None), [kept], batch_size=256)
    assert kept.states
    assert {json.dumps(s["battery_pct"]) for s in kept.states} == {
        json.dumps({"imu_left": None, "imu_right": None})}


def test_every_value_a_template_reads_is_in_the_agents_state() -> None:
    kept = live_run({"imu_left": {"battery_pct": 64.6}, "imu_right": {"battery_pct": 100}})
    state = kept.states[-1]
    assert state["battery_pct"] == {"imu_left": 65, "imu_right": 100}
    config = ha_discovery_config(TOPICS, DeskConfig(site="lab", desk="d-1"))
    for key, component in live_components(config).items():
        [path] = re.findall(r"value_json\.([a-z_.]+)", component["value_template"])
        value: Any = state
        for part in path.split("."):
            assert isinstance(value, dict) and part in value, (key, path)
            value = value[part]
        render(component["value_template"], state)  # strict: nothing it reads is missing
