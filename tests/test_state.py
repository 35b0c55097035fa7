"""The agent's retained `state` on a replayed simulated sitting: the seat's pressure map, the
time seated since the last natural break and that break, checked against the scenario's
ground truth, schemas/state.json, the minutes' seat maps and a real Mosquitto."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from edge.agent import Agent, replay_trace, session_prefix, trace_start
from edge.config import DeskConfig, MqttConfig, load_config
from edge.estimate.labels import SEATED
from edge.publish import MqttPublisher, Topics, ha_discovery_config
from edge.sinks import MqttSink
from edge.sources.base import Received
from edge.sources.replay import batches
from edge.sources.trace import TraceReader
from edge.timefmt import iso_utc
from firmware_sim.scenario import Scenario, get_scenario
from firmware_sim.simulation import Sitter, write_simulated_trace
from tests.kept import Kept
from tests.mosquitto import Mosquitto, Subscriber

ROOT = Path(__file__).resolve().parents[1]
STATE = Draft202012Validator(json.loads((ROOT / "schemas" / "state.json").read_text()),
                             format_checker=Draft202012Validator.FORMAT_CHECKER)
BATCH = 256  # chunks per feed: a state about every 10 s of data
ROWS = COLS = 16  # the SeatMat


@dataclass(frozen=True, slots=True)
class Replayed:
    scenario: Scenario
    trace: Path
    started: datetime
    kept: Kept

    def seconds_of(self, moment: str) -> float:
        """Session seconds of an ISO time in a state."""
        return (datetime.fromisoformat(moment) - self.started).total_seconds()

    def segment(self, posture: str, nth: int = 0) -> tuple[float, float]:
        """Ground truth: the nth segment in `posture`, (start, end) in scenario seconds."""
        bounds = self.scenario.segment_bounds_s()
        found = [(float(bounds[i]), float(bounds[i + 1]))
                 for i, s in enumerate(self.scenario.segments) if s.posture == posture]
        return found[nth]


@pytest.fixture(scope="module")
def walk_away(tmp_path_factory: pytest.TempPathFactory) -> Replayed:
    """About 4 min upright, up and away for about 3.5 min, back for 4 min (11 min)."""
    scenario = get_scenario("walk_away", seed=3)
    trace = tmp_path_factory.mktemp("traces") / "walk_away.jsonl.gz"
    write_simulated_trace(trace, Sitter(scenario, weight_kg=70, seat="cushioned", seed=3))
    kept = Kept()
    replay_trace(TraceReader(trace), load_config(None), [kept], batch_size=BATCH)
    return Replayed(scenario, trace, trace_start(TraceReader(trace).header.started), kept)


def published(state: dict[str, Any], started: datetime) -> dict[str, Any]:
    """The state as the MQTT sink sends it: with the time it was queued (here: its own)."""
    return {**state, "time": iso_utc(started + timedelta(seconds=state["t"]))}


def inside(t: float, span: tuple[float, float], margin: float = 5.0) -> bool:
    return span[0] + margin <= t <= span[1] - margin


def test_every_state_is_what_the_schema_promises(walk_away):
    states = walk_away.kept.states
    assert len(states) >= 50
    for state in states:
        STATE.validate(published(state, walk_away.started))
        json.dumps(state, allow_nan=False)  # what the MQTT sink does: no NaN gets out
    assert [s["t"] for s in states] == sorted({s["t"] for s in states})


def test_the_seat_map_shows_the_sitter_and_is_empty_when_they_are_away(walk_away):
    first_upright = walk_away.segment("upright")
    away = walk_away.segment("empty")
    sitting = [s for s in walk_away.kept.states if inside(s["t"], first_upright)]
    empty = [s for s in walk_away.kept.states if inside(s["t"], away)]
    assert len(sitting) >= 15 and len(empty) >= 10
    for state in sitting:
        assert state["posture"] == "upright"
        grid = np.array(state["seat"]["map_mmhg"])
        assert grid.shape == (ROWS, COLS) and grid.dtype.kind == "i"
        assert 400 < state["seat"]["load_n"] < 800  # 70 kg: most of it on the seat
        assert (grid > 0).sum() >= 80  # buttocks and thighs in contact
        assert 50 <= grid.max() <= 250  # mmHg under the ischial tuberosities, not kPa
        # Row 0 is the front edge: upright, the peak is under the pelvis, at the back,
        # on both sides, well above anything under the thighs.
        row, _ = np.unravel_index(grid.argmax(), grid.shape)
        back, front = grid[ROWS // 2:], grid[:ROWS // 2]
        assert row >= ROWS // 2 and back.max() >= 2 * front.max()
        assert min(back[:, :COLS // 2].max(), back[:, COLS // 2:].max()) >= 0.7 * grid.max()
    for state in empty:
        assert state["posture"] in ("empty", "standing")
        assert state["seat"] == {"map_mmhg": [[0] * COLS] * ROWS, "load_n": 0.0}


def test_the_seat_map_agrees_with_the_minutes_map(walk_away):
    """The states of a whole seated minute average to that minute's map (edge/minutes.py)."""
    kept = walk_away.kept
    for minute in kept.minutes:
        if minute["observed_s"] == 60 and minute["postures"]["upright"] == 60:
            break
    else:
        raise AssertionError("no whole upright minute")
    end = minute["t"]
    maps = [np.array(s["seat"]["map_mmhg"]) for s in kept.states if end - 60 < s["t"] <= end]
    assert len(maps) >= 5
    assert np.abs(np.mean(maps, axis=0) - np.array(minute["seat"]["map_mmhg"])).max() <= 5


def test_sitting_time_grows_with_the_data_and_resets_after_the_walk_away_break(walk_away):
    states = walk_away.kept.states
    before = walk_away.segment("upright", 0)
    after = walk_away.segment("upright", 1)
    away = (before[1], after[0])
    # Seated from the first second (a window ends at 1.0 s).
    first = [s for s in states if inside(s["t"], before)]
    assert all(s["sitting_s"] == pytest.approx(s["t"] - 1.0, abs=0.05) for s in first)
    # While seated, it grows by exactly the data's time between states.
    for one, two in itertools.pairwise(states):
        if one["sitting_s"] is not None and two["sitting_s"] is not None and (
                one["last_break"] == two["last_break"]):
            assert two["sitting_s"] - one["sitting_s"] == pytest.approx(
                two["t"] - one["t"], abs=0.11)
    # Up and away: no sitting time; back: it starts again from when the person sat down.
    assert all(s["sitting_s"] is None for s in states if inside(s["t"], away, 4.0))
    back = [s for s in states if inside(s["t"], after)]
    assert back and all(s["sitting_s"] is not None for s in back)
    assert back[0]["sitting_s"] < first[-1]["sitting_s"]
    for state in back:
        assert state["sitting_s"] == pytest.approx(state["t"] - after[0], abs=5.0)


def test_the_last_break_starts_when_the_person_got_up_and_ends_when_they_sat_down(walk_away):
    states = walk_away.kept.states
    events = walk_away.kept.events
    [start_event] = [e for e in events if e["event"] == "break" and e["phase"] == "start"]
    [end_event] = [e for e in events if e["event"] == "break" and e["phase"] == "end"]
    got_up = walk_away.segment("upright", 0)[1]
    sat_down = walk_away.segment("upright", 1)[0]
    natural_break_s = load_config(None).policy.natural_break_min * 60

    assert all(s["last_break"] is None for s in states if s["t"] < start_event["t"])
    ongoing = [s for s in states if start_event["t"] <= s["t"] < end_event["t"]]
    ended = [s for s in states if s["t"] >= end_event["t"]]
    assert ongoing and ended
    for state in ongoing:
        found = state["last_break"]
        start = walk_away.seconds_of(found["start"])
        # When the person stood up, not when the break was recognised (its event).
        assert start == pytest.approx(got_up, abs=4.0)
        assert start_event["t"] - start >= natural_break_s
        assert found["end"] is None
        assert found["length_s"] == pytest.approx(state["t"] - start, abs=0.05)
    lengths = [s["last_break"]["length_s"] for s in ended]
    assert len(set(lengths)) == 1 and len({json.dumps(s["last_break"]) for s in ended}) == 1
    found = ended[0]["last_break"]
    start, end = walk_away.seconds_of(found["start"]), walk_away.seconds_of(found["end"])
    assert end == pytest.approx(sat_down, abs=4.0)
    assert found["end"] == end_event["time"]
    assert found["length_s"] == pytest.approx(end - start, abs=0.05)
    assert found["length_s"] == pytest.approx(sat_down - got_up, abs=6.0)


def without_mat(chunks: Iterator[list[Received]], lost: tuple[float, float]
                ) -> Iterator[list[Received]]:
    """The trace's feeds with the mat's bytes gone for a while (its cable pulled)."""
    for batch in chunks:
        yield [r for r in batch if r.source != "mat" or not lost[0] <= r.arrival_s < lost[1]]


def test_a_window_without_mat_data_has_no_seat_map(walk_away):
    reader = TraceReader(walk_away.trace)
    config = load_config(None)
    kept = Kept()
    agent = Agent(config, reader.header.sources, id_prefix=session_prefix(walk_away.started),
                  started_utc=walk_away.started, sinks=[kept])
    lost = (60.0, 120.0)
    for batch in without_mat(batches(reader, BATCH), lost):
        agent.process(batch)
    agent.finish()
    gone = lost[0] + config.estimate.missing_after_s + 1.0
    unplugged = [s for s in kept.states if gone < s["t"] <= lost[1]]
    plugged = [s for s in kept.states if s["t"] <= lost[0] or s["t"] > lost[1] + 2.0]
    assert len(unplugged) >= 3
    for state in unplugged:
        STATE.validate(published(state, walk_away.started))
        assert state["sensors"]["mat"] == "stale"
        assert state["seat"] == {"map_mmhg": None, "load_n": None}
    assert all(s["seat"]["map_mmhg"] is not None for s in plugged)


# --- over MQTT, as a dashboard sees it ----------------------------------------------------------


def test_the_published_state_is_compact_valid_and_fits_home_assistant(
        walk_away, broker: Mosquitto, tmp_path):
    mqtt = MqttConfig(host=broker.host, port=broker.port,
                      outbox_path=str(tmp_path / "outbox.db"))
    desk = DeskConfig(site="lab", desk="state-seat-sitting")
    topics = Topics.of(mqtt, desk)
    kept = Kept()
    with Subscriber(broker, [topics.state]) as watcher, MqttPublisher(mqtt, desk) as publisher:
        replay_trace(TraceReader(walk_away.trace), load_config(None),
                     [kept, MqttSink(publisher)], batch_size=BATCH)
        newest = kept.states[-1]["t"]
        watcher.wait_for(lambda w: bool(w.on(topics.state)) and json.loads(
            w.on(topics.state)[-1].payload)["t"] == newest, 5, "the newest state")
    received = watcher.on(topics.state)
    by_t = {s["t"]: s for s in kept.states}
    for message in received:
        assert len(message.payload) < 1800  # a 16 x 16 map in whole mmHg (about 1 KB), bands
        state = json.loads(message.payload)
        STATE.validate(state)
        assert {k: v for k, v in state.items() if k != "time"} == by_t[state["t"]]
    # Every field Home Assistant's discovery reads from the state is there.
    state = json.loads(received[-1].payload)
    config = ha_discovery_config(topics, desk)
    paths = [re.findall(r"value_json\.([a-z_.]+)", c["value_template"])
             for c in config["components"].values()
             if "value_template" in c and c.get("state_topic", topics.state) == topics.state]
    assert len(paths) >= 1 + 2 * 6 + 3
    for [path] in paths:
        value: Any = state
        for key in path.split("."):
            assert isinstance(value, dict) and key in value, path
            value = value[key]
    assert state["posture"] in SEATED and state["sitting_s"] > 0
