"""The log's store: schema and migrations, dedupe by id, outcomes in any order, retention."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from edge.estimate.labels import POSTURES, SITES
from edge.store import MIGRATIONS, Message, Store
from edge.timefmt import iso_utc

SESSION = "20261121T090000000000Z"


def minute_payload(minute: str, *, upright: int = 60, session: str = SESSION) -> dict:
    return {"id": f"{session}-m{minute[:16].replace('-', '').replace(':', '')}",
            "session": session, "person": "p-1", "minute": minute, "t": 60.0,
            "time": minute, "observed_s": 60, "occupied_s": upright,
            "postures": {p: (upright if p == "upright" else 0) for p in POSTURES}
            | {"standing": 60 - upright},
            "confidence_mean": 0.9,
            "sites": {s: {"mean_mmhg": 30.0, "peak_mmhg": 40.0, "min_ttn_s": None}
                      for s in SITES},
            "min_ttn_s": None, "min_ttn_site": None, "reliefs": 1, "fidget_s": 0,
            "walking_s": 0, "alerts": 0,
            "seat": {"seconds": upright, "load_n": 500.0, "ppi_mmhg": 60.0, "cop_x_mm": 224.0,
                     "cop_y_mm": 250.0, "map_mmhg": [[10.0] * 16 for _ in range(16)]},
            "health": {"mat": {"present_s": 60, "packets": 1200, "bad_packets": 1, "gaps": 0,
                               "lost": 0, "reconnects": None, "battery_pct": None}}}


def alert(n: int, t: float = 100.0) -> dict:
    return {"t": t, "event": "alert", "id": f"{SESSION}-{n}", "kind": "numbness",
            "site": "peroneal_left", "posture": "crossed_left_over_right",
            "time_to_numbness_s": 170.0, "message": "Uncross your legs",
            "time": "2026-11-21T09:01:40.000Z"}


def outcome(n: int) -> dict:
    return {"t": 280.0, "event": "outcome", "id": f"{SESSION}-e{n}", "alert_id": f"{SESSION}-1",
            "kind": "numbness", "acknowledged": True, "snoozed": False, "moved": True,
            "response_s": 42.0, "responded": "moved", "time": "2026-11-21T09:04:40.000Z"}


def test_a_new_log_has_the_current_schema_and_reopens_unchanged(tmp_path):
    with Store(tmp_path / "log.db") as store:
        assert store.version == len(MIGRATIONS)
        assert {"sessions", "minutes", "device_health", "events", "alerts"} <= set(
            store.db.table_names())
        assert {"posture_segments", "breaks"} <= set(store.db.view_names())
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        indexes = {tuple(i.columns) for i in store.db["minutes"].indexes}
        assert ("desk", "minute_utc") in indexes
    with Store(tmp_path / "log.db") as store:
        assert store.version == len(MIGRATIONS)


def test_a_log_from_a_newer_legwake_is_refused_not_damaged(tmp_path):
    path = tmp_path / "log.db"
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(RuntimeError, match="newer than this legwake knows"):
        Store(path)


def test_every_message_counts_once_whoever_delivers_it(tmp_path):
    with Store(tmp_path / "log.db") as store:
        batch = [Message("minute", "office", "desk-1", minute_payload("2026-11-21T09:00:00.000Z")),
                 Message("alert", "office", "desk-1", alert(1))]
        assert store.record(batch) == 2
        assert store.record(batch) == 0
        # The same id from another desk is another message.
        assert store.record([Message("alert", "office", "desk-2", alert(1))]) == 1
        assert store.count("alerts") == 2 and store.count("minutes") == 1
        [minute] = store.db["minutes"].rows
        assert minute["upright_s"] == 60 and minute["reliefs"] == 1
        assert len(minute["seat_map"]) == 16 * 16 * 4
        [health] = store.db["device_health"].rows
        assert (health["sensor"], health["packets"], health["bad_packets"]) == ("mat", 1200, 1)


def test_an_outcome_before_its_alert_still_completes_the_row(tmp_path):
    with Store(tmp_path / "log.db") as store:
        store.record([Message("event", "office", "desk-1", outcome(5))])
        store.record([Message("alert", "office", "desk-1", alert(1))])
        [row] = store.db["alerts"].rows
        assert (row["kind"], row["moved"], row["acknowledged"], row["response_s"]) == (
            "numbness", 1, 1, 42.0)


def test_a_bad_batch_leaves_nothing_behind(tmp_path):
    with Store(tmp_path / "log.db") as store:
        good = Message("alert", "office", "desk-1", alert(1))
        broken = Message("minute", "office", "desk-1", {"id": "x-m1", "session": "x"})
        with pytest.raises(KeyError):
            store.record([good, broken])
        assert store.count("alerts") == 0 and store.count("received") == 0
        with pytest.raises(ValueError, match="unknown message kind 'state'"):
            store.record([Message("state", "office", "desk-1", {"id": "s1"})])


def test_a_session_killed_without_a_stop_is_closed_at_its_last_minute(tmp_path):
    with Store(tmp_path / "log.db") as store:
        store.record([
            Message("session", "office", "desk-1", {"id": f"{SESSION}-start", "session": SESSION,
                                                    "phase": "start", "person": "p-1",
                                                    "origin": "live",
                                                    "time": "2026-11-21T09:00:00.000Z"}),
            Message("minute", "office", "desk-1", minute_payload("2026-11-21T09:00:00.000Z")),
            Message("minute", "office", "desk-1", minute_payload("2026-11-21T09:01:00.000Z"))])
        assert store.close_dangling("office", "desk-2") == 0
        assert store.close_dangling("office", "desk-1") == 1
        [session] = store.db["sessions"].rows
        assert (session["ended_utc"], session["end_reason"]) == (
            "2026-11-21T09:01:00.000Z", "crashed")
        assert session["first_minute_utc"] == "2026-11-21T09:00:00.000Z"


def test_posture_segments_and_breaks_are_read_from_the_events(tmp_path):
    def event(n: int, t: float, **fields) -> Message:
        time = (datetime(2026, 11, 21, 9, tzinfo=UTC) + timedelta(seconds=t))
        return Message("event", "office", "desk-1", {
            "t": t, "id": f"{SESSION}-e{n}",
            "time": iso_utc(time), **fields})

    with Store(tmp_path / "log.db") as store:
        # Out of order, as two collectors may write them.
        store.record([event(3, 600.0, event="posture", posture="standing", confidence=0.9),
                      event(1, 1.0, event="posture", posture="upright", confidence=1.0),
                      event(4, 720.0, event="break", phase="start"),
                      event(2, 300.0, event="posture", posture="crossed_left_over_right",
                            confidence=0.8),
                      event(5, 1020.0, event="break", phase="end")])
        segments = list(store.db.query(
            "SELECT posture, duration_s FROM posture_segments ORDER BY start_utc"))
        assert segments == [{"posture": "upright", "duration_s": 299.0},
                            {"posture": "crossed_left_over_right", "duration_s": 300.0},
                            {"posture": "standing", "duration_s": None}]
        [pause] = store.db.query("SELECT duration_s FROM breaks")
        assert pause["duration_s"] == 300.0


def test_retention_drops_old_rows_once_a_day(tmp_path):
    now = datetime(2026, 11, 21, 12, tzinfo=UTC)
    with Store(tmp_path / "log.db", retention_days=30) as store:
        old = minute_payload("2026-10-01T09:00:00.000Z", session="old")
        new = minute_payload("2026-11-20T09:00:00.000Z", session="new")
        store.record([Message("minute", "office", "desk-1", new)], now=now)
        store.record([Message("minute", "office", "desk-1", old)], now=now)
        assert store.count("minutes") == 2  # pruned already today
        assert store.prune(now) == 1
        assert [m["session_id"] for m in store.db["minutes"].rows] == ["office/desk-1/new"]
