"""What Home Assistant's recorder keeps of a desk: a simulated sitting (the `demo` scenario,
~50 min: crossed legs with numbness ahead, a break, upright, slouched) replayed through the
agent a state a second, as the live agent publishes them, and each discovery template
rendered on each state. A recorder row is a change of an entity's state; the templates
round what a person reads, so a desk makes far fewer than the ~13,000 an hour that Home
Assistant recorded when the raw numbers were its states (12,800 on this replay).

`python -m pytest tests/test_ha_recorder.py -s` prints the figure.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from edge.agent import replay_trace
from edge.config import DeskConfig, load_config
from edge.publish import ha_discovery_config
from edge.sources.trace import TraceReader
from firmware_sim.scenario import get_scenario
from firmware_sim.simulation import Sitter, write_simulated_trace
from tests.kept import Kept
from tests.test_ha_templates import JINJA, TOPICS, live_components

# Chunks per feed: about one second of the simulated mat and thigh units, so the agent
# hands over a state a second, as it does live.
CHUNKS_A_SECOND = 25
MAX_CHANGES_AN_HOUR = 3000


@pytest.fixture(scope="module")
def states(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    trace = tmp_path_factory.mktemp("traces") / "demo.jsonl.gz"
    write_simulated_trace(trace, Sitter(get_scenario("demo", seed=3), weight_kg=70,
                                        seat="cushioned", seed=3))
    kept = Kept()
    replay_trace(TraceReader(trace), load_config(None), [kept], batch_size=CHUNKS_A_SECOND)
    return kept.states


def changes_an_hour(states: list[dict[str, Any]]) -> dict[str, float]:
    """For each entity read from `state`, how often its shown value changes, per hour."""
    config = ha_discovery_config(TOPICS, DeskConfig(site="lab", desk="d-1"))
    templates = {key: JINJA.from_string(c["value_template"])
                 for key, c in live_components(config).items()}
    changes: Counter[str] = Counter()
    shown: dict[str, str] = {}
    for state in states:
        for key, template in templates.items():
            value = template.render(value_json=state)
            if shown.get(key) != value:
                changes[key] += 1
                shown[key] = value
    hours = (states[-1]["t"] - states[0]["t"]) / 3600
    return {key: changes[key] / hours for key in templates}


def test_the_states_are_a_second_apart(states: list[dict[str, Any]]) -> None:
    span_s = states[-1]["t"] - states[0]["t"]
    assert span_s > 45 * 60
    assert len(states) > 0.9 * span_s  # about one a second, as live


def test_a_desk_changes_home_assistants_states_fewer_than_3000_times_an_hour(
        states: list[dict[str, Any]]) -> None:
    per_entity = changes_an_hour(states)
    total = sum(per_entity.values())
    print(f"\nHome Assistant state changes per desk per hour: {total:.0f}"
          f" ({len(states)} states over {(states[-1]['t'] - states[0]['t']) / 60:.0f} min)")
    for key, rate in sorted(per_entity.items(), key=lambda item: -item[1]):
        print(f"  {key:32} {rate:7.0f}")
    assert total < MAX_CHANGES_AN_HOUR
    # Nothing is close to a change a second on its own.
    assert max(per_entity.values()) < 600
    # And the entities do follow the sitting: the posture, the seat, the countdown.
    assert per_entity["posture"] >= 5 and per_entity["occupancy"] >= 2
    assert per_entity["peroneal_left_time_to_numbness"] >= 5
