"""The log end to end: a replayed trace's log agrees with its event stream, and an agent
killed mid-minute and restarted leaves a consistent log (real SQLite, real processes)."""

from __future__ import annotations

import itertools
import json
import math
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from edge.agent import replay_trace, trace_start
from edge.config import load_config
from edge.estimate.labels import POSTURES
from edge.sources.trace import TraceReader
from edge.timefmt import iso_utc
from firmware_sim.scenario import get_scenario
from firmware_sim.simulation import Sitter, write_simulated_trace
from tests.kept import Kept
from tests.mosquitto import Mosquitto

ROOT = Path(__file__).resolve().parents[1]
RECORDED = ROOT / "tests" / "data" / "crossing_left.jsonl.gz"
SCHEMAS = {name: Draft202012Validator(json.loads((ROOT / "schemas" / f"{name}.json").read_text()))
           for name in ("minute", "event", "alert")}


@pytest.fixture(scope="module")
def crossed_trace(tmp_path_factory) -> Path:
    """Twenty minutes with the legs crossed: a numbness alert, then the person uncrosses."""
    path = tmp_path_factory.mktemp("traces") / "crossed.jsonl.gz"
    write_simulated_trace(path, Sitter(get_scenario("crossed_legs", seed=7), weight_kg=82,
                                       seat="cushioned", seed=7))
    return path


def replay_into(db: Path, trace: Path, events: Path, cwd: Path) -> list[dict]:
    subprocess.run([sys.executable, "-m", "edge", "replay", str(trace), "--db", str(db),
                    "--events", str(events)], check=True, capture_output=True, text=True,
                   timeout=300, cwd=cwd)
    return [json.loads(line) for line in events.read_text().splitlines()]


def rows(db: Path, sql: str, *args) -> list[dict]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute(sql, args)]
    finally:
        conn.close()


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


def seconds_by_minute(events: list[dict], start: datetime, last_t: float) -> dict:
    """From the event stream alone: each second's posture (the newest posture event at or
    before it), counted per minute the second's window started in."""
    changes = [e for e in events if e["event"] == "posture"]
    counts: dict[str, Counter] = {}
    k = 0
    t = changes[0]["t"]
    while t <= last_t + 1e-9:
        while k + 1 < len(changes) and changes[k + 1]["t"] <= t + 1e-9:
            k += 1
        begun = start + timedelta(seconds=t - 1.0)
        minute = begun.replace(second=0, microsecond=0)
        key = iso_utc(minute)
        counts.setdefault(key, Counter())[changes[k]["posture"]] += 1
        t += 1.0
    return counts


@pytest.mark.parametrize("trace", ["recorded", "crossed"])
def test_a_replayed_trace_logs_what_its_event_stream_says(trace, tmp_path, crossed_trace):
    path = RECORDED if trace == "recorded" else crossed_trace
    db = tmp_path / "log.db"
    events = replay_into(db, path, tmp_path / "events.jsonl", tmp_path)

    [session] = rows(db, "SELECT * FROM sessions")
    assert session["origin"] == "replay" and session["end_reason"] == "trace end"
    start = parse(session["started_utc"])
    assert start == trace_start(TraceReader(path).header.started)  # the trace's, not now
    minutes = rows(db, "SELECT * FROM minutes ORDER BY minute_utc")
    last_t = max(m["t"] for m in minutes)

    # Minute rows: the seconds per posture are exactly those the event stream implies.
    expected = seconds_by_minute(events, start, last_t)
    assert [m["minute_utc"] for m in minutes] == sorted(expected)
    for m in minutes:
        got = {p: m[f"{p}_s"] for p in POSTURES if m[f"{p}_s"]}
        assert got == dict(expected[m["minute_utc"]]), m["minute_utc"]
        assert sum(m[f"{p}_s"] for p in POSTURES) == m["observed_s"] <= 60
        assert m["occupied_s"] == m["observed_s"] - m["empty_s"] - m["standing_s"]
    interior = minutes[1:-1]
    assert all(m["observed_s"] == 60 for m in interior)

    # Posture segments: one per posture event, each lasting until the next.
    segments = rows(db, "SELECT * FROM posture_segments ORDER BY start_utc")
    changes = [e for e in events if e["event"] == "posture"]
    assert [(s["posture"], s["start_utc"]) for s in segments] == [
        (e["posture"], e["time"]) for e in changes]
    for segment, this, after in zip(segments, changes, changes[1:]):
        assert segment["duration_s"] == pytest.approx(after["t"] - this["t"])

    # Alerts: the stream's, each once, with its outcome.
    alerts = [e for e in events if e["event"] == "alert"]
    logged = rows(db, "SELECT * FROM alerts ORDER BY t")
    assert [(a["id"], a["t"], a["time_utc"], a["kind"], a["nerve_site"], a["posture"],
             a["message"]) for a in logged] == [
        (a["id"], a["t"], a["time"], a["kind"], a["site"], a["posture"], a["message"])
        for a in alerts]
    assert sum(m["alerts"] for m in minutes) == len(alerts)
    outcomes = {e["alert_id"]: e for e in events if e["event"] == "outcome"}
    assert set(outcomes) == {a["id"] for a in alerts}
    for a in logged:
        outcome = outcomes[a["id"]]
        assert (bool(a["moved"]), a["responded"], a["response_s"]) == (
            outcome["moved"], outcome["responded"], outcome["response_s"])
    if trace == "crossed":
        assert alerts, "twenty minutes crossed brings a numbness alert"
        first = logged[0]
        lead = load_config(None).policy.lead_time_s
        uncrossed = next(e["t"] for e in changes if e["t"] > first["t"])
        # The scripted sitter keeps the legs crossed past the lead time: not a timely move.
        assert first["kind"] == "numbness" and uncrossed - first["t"] > lead
        assert (first["moved"], first["acknowledged"], first["responded"]) == (0, 0, None)

    # Replaying the same trace again changes nothing: every message is already there.
    before = {table: rows(db, f"SELECT count(*) AS n FROM {table}")[0]["n"]
              for table in ("minutes", "events", "alerts", "device_health", "sessions")}
    replay_into(db, path, tmp_path / "again.jsonl", tmp_path)
    after = {table: rows(db, f"SELECT count(*) AS n FROM {table}")[0]["n"] for table in before}
    assert after == before


def test_minutes_and_events_are_what_the_schemas_promise(crossed_trace):
    kept = Kept()
    replay_trace(TraceReader(crossed_trace), load_config(None), [kept])
    assert len(kept.minutes) >= 20
    for minute in kept.minutes:
        SCHEMAS["minute"].validate(minute)
    for event in kept.events:
        SCHEMAS["alert" if event["event"] == "alert" else "event"].validate(event)
    seated = [m for m in kept.minutes if m["seat"]["seconds"]]
    assert seated and all(len(m["seat"]["map_mmhg"]) == 16 for m in seated)
    # Crossed legs load the peroneal nerve of the upper leg: it is what runs out of time.
    assert min(kept.minutes, key=lambda m: m["min_ttn_s"] if m["min_ttn_s"] is not None
               else math.inf)["min_ttn_site"] == "peroneal_left"


# --- killed mid-minute --------------------------------------------------------------------------

SPEED = 30.0  # data seconds per second: a minute of sitting every 2 s


def start_agent(config: Path, cwd: Path) -> subprocess.Popen:
    with open(cwd / "agent.log", "a") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "edge", "run", "--config", str(config),
                                 "--sim", "workday", "--speed", f"{SPEED:g}"], cwd=cwd,
                                stdout=subprocess.DEVNULL, stderr=log)


def wait_minutes(db: Path, agent: subprocess.Popen, session_count: int, minutes: int,
                 timeout: float = 90.0) -> None:
    """Until the newest of `session_count` sessions has logged `minutes` minutes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert agent.poll() is None, (db.parent / "agent.log").read_text()
        if db.exists():
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
                try:
                    sessions = conn.execute(
                        "SELECT session_id FROM sessions ORDER BY started_utc").fetchall()
                    if len(sessions) >= session_count:
                        n = conn.execute("SELECT count(*) FROM minutes WHERE session_id = ?",
                                         sessions[session_count - 1]).fetchone()[0]
                        if n >= minutes:
                            return
                except sqlite3.OperationalError:
                    pass  # the schema is being created
        time.sleep(0.2)
    raise AssertionError(f"no {minutes} minutes logged within {timeout} s")


@pytest.mark.slow
def test_an_agent_killed_mid_minute_and_restarted_leaves_a_consistent_log(tmp_path):
    db = tmp_path / "log.db"
    with Mosquitto(tmp_path / "broker") as broker:
        config = tmp_path / "config.toml"
        config.write_text(f'[mat]\nzero_file = ""\n[mqtt]\nport = {broker.port}\n'
                          f'outbox_path = "{tmp_path / "outbox.db"}"\n'
                          f'[log]\npath = "{db}"\n')
        agent = start_agent(config, tmp_path)
        try:
            wait_minutes(db, agent, 1, 3)
            time.sleep(60 / SPEED / 2)  # half way into the next minute
            agent.send_signal(signal.SIGKILL)
            agent.wait(timeout=10)
        finally:
            if agent.poll() is None:
                agent.kill()
        killed_at = datetime.now(UTC)
        agent = start_agent(config, tmp_path)
        try:
            wait_minutes(db, agent, 2, 2)
            agent.send_signal(signal.SIGINT)
            assert agent.wait(timeout=30) == 0
        finally:
            if agent.poll() is None:
                agent.kill()

    assert rows(db, "PRAGMA integrity_check")[0]["integrity_check"] == "ok"
    first, second = rows(db, "SELECT * FROM sessions ORDER BY started_utc")
    assert first["end_reason"] == "crashed" and first["ended_utc"] == first["last_minute_utc"]
    assert second["end_reason"] == "stopped" and second["ended_utc"] is not None
    assert parse(second["started_utc"]) >= killed_at - timedelta(seconds=1)
    for session in (first, second):
        minutes = rows(db, "SELECT * FROM minutes WHERE session_id = ? ORDER BY minute_utc",
                       session["session_id"])
        # Whole minutes only: every second counted once, in one posture, with its health.
        for m in minutes:
            assert sum(m[f"{p}_s"] for p in POSTURES) == m["observed_s"]
            health = rows(db, "SELECT sensor FROM device_health WHERE session_id = ? AND "
                          "minute_utc = ?", session["session_id"], m["minute_utc"])
            assert sorted(h["sensor"] for h in health) == ["imu_left", "imu_right", "mat"]
        assert all(m["observed_s"] == 60 for m in minutes[1:-1])
        stamps = [parse(m["minute_utc"]) for m in minutes]
        assert stamps == sorted(set(stamps))
        assert all(b - a == timedelta(minutes=1) for a, b in itertools.pairwise(stamps))
    # No duplicates: every message once, every event id once.
    received = rows(db, "SELECT count(*) AS n, count(DISTINCT site || desk || id) AS d "
                        "FROM received")[0]
    assert received["n"] == received["d"]
    events = rows(db, "SELECT id, session_id FROM events")
    assert len({e["id"] for e in events}) == len(events)
    assert {e["session_id"] for e in events} <= {first["session_id"], second["session_id"]}


def test_the_report_of_a_replayed_trace_matches_its_log_and_renders(tmp_path, crossed_trace,
                                                                     browser):
    db = tmp_path / "log.db"
    replay_into(db, crossed_trace, tmp_path / "events.jsonl", tmp_path)
    out = tmp_path / "report.html"
    subprocess.run([sys.executable, "-m", "edge", "report", "--db", str(db), "--out", str(out),
                    "--csv", str(tmp_path / "csv")], check=True, capture_output=True,
                   text=True, timeout=300)
    from edge.report import load_report

    data = load_report(db)
    # The report's numbers are the log's.
    [total] = rows(db, "SELECT sum(occupied_s) AS occupied, sum(observed_s) AS observed, "
                       + ", ".join(f"sum({p}_s) AS {p}" for p in POSTURES) + " FROM minutes")
    assert data.occupied_s == total["occupied"]
    assert sum(d.observed_s for d in data.days) == total["observed"]
    assert {s.posture: s.seconds for s in data.postures if s.seconds} == {
        p: total[p] for p in POSTURES if total[p] and p not in ("empty", "standing")}
    alerts = rows(db, "SELECT kind, moved FROM alerts")
    assert data.all_alerts.count == len(alerts) > 0
    assert data.all_alerts.moved == sum(a["moved"] for a in alerts)
    [seat] = rows(db, "SELECT sum(seat_s) AS s FROM minutes")
    assert data.pressure is not None and data.pressure.seat_s == seat["s"]
    peroneal = next(s for s in data.site_loads if s.site == "peroneal_left")
    [low] = rows(db, "SELECT min(peroneal_left_min_ttn_s) AS ttn, "
                     "max(peroneal_left_peak_mmhg) AS peak FROM minutes")
    assert peroneal.lowest_ttn_s == pytest.approx(low["ttn"])
    assert peroneal.highest_peak_mmhg == pytest.approx(low["peak"])
    # It renders: every figure decodes, the summary line shows.
    from tests.browser import ARTIFACTS, broken_images, full_page_screenshot

    browser.get(out.as_uri())
    assert not broken_images(browser)
    assert data.summary in browser.find_element("tag name", "body").text.replace("\n", " ")
    assert full_page_screenshot(browser, ARTIFACTS / "report-replayed-trace.png").stat().st_size
