"""Hostile payloads on every topic, with the whole system on one real Mosquitto: the agent on
the simulated desk, `legwake dashboard` and `legwake collect` as processes. Someone on the
broker publishes junk, deep nesting, bytes that are not UTF-8, a megabyte and wrong types on
every topic each of them subscribes to; afterwards each process still runs, and the agent's
next alert still reaches the collector's log and the dashboard."""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.request
from pathlib import Path

import pytest

from edge.processes import free_port
from tests.mosquitto import Mosquitto, Subscriber
from tests.running import start, stop, wait_http

PREFIX = "poison"
HA_PREFIX = "poisonha"
SPEED = 30  # crossed_legs: the first numbness alert about half a minute in

# Not one of them is a valid command: a real snooze would rightly hold the alert back.
HOSTILE = [
    b"[" * 3000,
    b"{" * 3000,
    b'{"id": ' + b"[" * 900 + b"]" * 900 + b"}",
    b'{"minutes": ' + b"[" * 900 + b"]" * 900 + b"}",
    b"\xff\xfe\x00garbage",
    b"x" * (1 << 20),
    b"null",
    b'{"id": 7, "minutes": 1e400}',
    b'{"minutes": NaN}',
    b'{"minutes": -5}',
    b'{"id": "a", "minutes": 15, "extra": true}',
    b'{"posture": "upright", "sites": {"sciatic_left": [[[[[]]]]]}}',
    b'{"id": "poison-1", "kind": "numbness", "t": "soon"}',
    b'{"id": "poison-2", "event": "outcome", "alert_id": {"a": 1}}',
    b'{"id": "poison-3", "minute": 12}',
    b"",
]
KINDS = ["status", "state", "alert", "event", "minute", "cmd/ack", "cmd/snooze"]


def write_config(directory: Path, broker: Mosquitto, port: int) -> Path:
    path = directory / "config.toml"
    path.write_text(f"""
[mqtt]
host = "{broker.host}"
port = {broker.port}
topic_prefix = "{PREFIX}"
ha_prefix = "{HA_PREFIX}"
outbox_path = "{directory / 'outbox.db'}"
[log]
path = "{directory / 'legwake.db'}"
[mat]
zero_file = ""
[collect]
db = "{directory / 'fleet.db'}"
client_id = "poison-collector"
group = "poison"
[dashboard]
port = {port}
""")
    return path


def alerts_logged(db: Path) -> list[tuple[str, str]]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT desk, id FROM alerts").fetchall()


def is_agents_alert(payload: bytes) -> bool:
    """Not one of ours on the same topic: the agent's alert has its session's id and a time."""
    try:
        alert = json.loads(payload)
    except (ValueError, RecursionError):
        return False
    return isinstance(alert, dict) and alert.get("kind") == "numbness" and "time" in alert


def snapshot(url: str) -> dict:
    with urllib.request.urlopen(url + "/api/snapshot", timeout=5) as answer:
        return json.load(answer)


@pytest.mark.slow
def test_hostile_payloads_on_every_topic_stop_nothing_and_lose_nothing(broker, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = write_config(tmp_path, broker, port)
    fleet_db = tmp_path / "fleet.db"
    running = {name: start([name, "--config", str(config)], tmp_path, name)
               for name in ("dashboard", "collect")}
    try:
        wait_http(url + "/healthz", running["dashboard"], tmp_path / "dashboard.log")
        with Subscriber(broker, [f"{PREFIX}/office/desk-1/alert",
                                 f"{PREFIX}/office/desk-1/status"]) as watcher:
            running["agent"] = start(["run", "--sim", "crossed_legs", "--speed", str(SPEED),
                                    "--config", str(config)], tmp_path, "agent")
            watcher.wait_for(lambda s: any(m.payload == b"online" for m in
                                           s.on(f"{PREFIX}/office/desk-1/status")), 30,
                             "the agent online")
            time.sleep(0.5)  # its subscriptions are in place
            topics = [f"{PREFIX}/office/{desk}/{kind}" for desk in ("desk-1", "desk-2", "..")
                      for kind in KINDS] + [f"{HA_PREFIX}/status"]
            for topic in topics:
                for payload in HOSTILE:
                    watcher.publish(topic, payload)
            assert not alerts_logged(fleet_db), "nothing hostile was recorded as an alert"
            watcher.wait_for(lambda s: any(is_agents_alert(m.payload) for m in
                                           s.on(f"{PREFIX}/office/desk-1/alert")), 90,
                             "the agent's alert")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not alerts_logged(fleet_db):
            time.sleep(0.2)
        assert [desk for desk, _ in alerts_logged(fleet_db)] == ["desk-1"]
        alert_id = alerts_logged(fleet_db)[0][1]
        live = snapshot(url)
        assert [(a["desk"], a["id"]) for a in live["alerts"]] == [("office/desk-1", alert_id)]
        assert {d["key"] for d in live["desks"]} >= {"office/desk-1"}
        for name, process in running.items():
            assert process.poll() is None, (name, (tmp_path / f"{name}.log").read_text())
    finally:
        for process in running.values():
            stop(process)
        with Subscriber(broker, []) as cleaner:  # the agent's retained status and state
            for kind in ("status", "state"):
                cleaner.publish(f"{PREFIX}/office/desk-1/{kind}", b"", retain=True)
    for name, process in running.items():
        assert process.returncode == 0, (name, (tmp_path / f"{name}.log").read_text())
    # What the collector could not record is kept, each with its reason.
    with sqlite3.connect(fleet_db) as conn:
        rejected = conn.execute("SELECT topic, reason FROM rejected").fetchall()
    collected = [t for t in topics if t.rsplit("/", 1)[-1] in ("alert", "event", "minute")]
    assert {topic for topic, _ in rejected} == set(collected)
    assert len(rejected) == len(collected) * len(HOSTILE)
    assert any("nested more than 32 deep" in reason for _, reason in rejected)
    agent_log = (tmp_path / "agent.log").read_text()
    assert "refused a command on poison/office/desk-1/cmd/ack" in agent_log
    assert "Traceback" not in agent_log
    assert "refused a message on" in (tmp_path / "dashboard.log").read_text()
