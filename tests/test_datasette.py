"""The log described for Datasette (datasette/metadata.json) matches the log.

A small log of two desks over two days is written with `Store.record`, as the agent
and the collector write it; then every canned query of the metadata runs on it in
plain SQLite and gives the numbers worked out here from the messages; every table,
view and column the metadata names is in the schema, and every one of the schema is
described (so a migration cannot leave the metadata behind); and, when Datasette is
installed (the `datasette` extra), Datasette serves the log with the metadata.
"""

from __future__ import annotations

import asyncio
import json
import os
import runpy
import sqlite3
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from edge.estimate.labels import POSTURES, SEATED, SITES
from edge.store import SENSORS, Message, Store
from edge.timefmt import iso_utc

ROOT = Path(__file__).resolve().parent.parent
METADATA_PATH = ROOT / "datasette" / "metadata.json"
GENERATOR = ROOT / "scripts" / "make_datasette_metadata.py"
OFFICE = "office"
ZONE = "America/New_York"
"""The local time zone of these tests: UTC-5 in November, so desk-2's evening of the 20th
is the 21st in UTC, and only a query that counts local days puts it on the 20th."""
DAY1, DAY2 = "2026-11-20", "2026-11-21"


@pytest.fixture(scope="module", autouse=True)
def local_zone() -> Iterator[None]:
    """This process's local time zone (SQLite's 'localtime' and Python's) set to ZONE."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = ZONE
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def local_day(moment: datetime) -> str:
    """The day SQLite's date(x, 'localtime') gives: both read the process's time zone."""
    return moment.astimezone().date().isoformat()


# --- a small log ----------------------------------------------------------------------------


@dataclass
class Sitting:
    """One agent session at a desk, and the messages it sends."""

    desk: str
    person: str
    started: datetime
    messages: list[Message] = field(default_factory=list)
    minutes: list[dict[str, Any]] = field(default_factory=list)
    alerts: int = 0
    events: int = 0

    @property
    def session(self) -> str:
        return self.started.strftime("%Y%m%dT%H%M%S") + "000000Z"

    def _send(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.messages.append(Message(kind, OFFICE, self.desk, payload))
        return payload

    def _t(self, moment: datetime) -> float:
        return round((moment - self.started).total_seconds(), 3)

    def start(self) -> None:
        self._send("session", {"id": f"{self.session}-start", "session": self.session,
                               "phase": "start", "time": iso_utc(self.started),
                               "person": self.person, "origin": "live"})

    def stop(self, at: datetime) -> None:
        self._send("session", {"id": f"{self.session}-stop", "session": self.session,
                               "phase": "stop", "time": iso_utc(at), "reason": "stopped"})

    def minute(self, at: datetime, postures: dict[str, int], *, alerts: int = 0,
               health: dict[str, dict[str, Any]] | None = None) -> None:
        occupied = sum(seconds for posture, seconds in postures.items() if posture in SEATED)
        crossed = postures.get("crossed_left_over_right", 0)
        sites = {site: {"mean_mmhg": 38.5 if occupied else 0.0,
                        "peak_mmhg": 52.0 if occupied else 0.0,
                        "min_ttn_s": None} for site in SITES}
        if crossed:
            sites["peroneal_left"] = {"mean_mmhg": 61.2, "peak_mmhg": 74.8, "min_ttn_s": 420.0}
        seat = {"seconds": occupied, "load_n": 612.4 if occupied else None,
                "ppi_mmhg": 71.3 if occupied else None,
                "cop_x_mm": 221.5 if occupied else None, "cop_y_mm": 260.1 if occupied else None,
                "map_mmhg": [[round(0.1 * (i + j), 1) for j in range(16)] for i in range(16)]
                if occupied else None}
        sensors = {sensor: {"present_s": 60, "packets": 1200 if sensor == "mat" else 3000,
                            "bad_packets": 0, "gaps": 0, "lost": 0,
                            "reconnects": None if sensor == "mat" else 0,
                            "battery_pct": None if sensor == "mat" else 80}
                   for sensor in SENSORS}
        for sensor, changes in (health or {}).items():
            sensors[sensor].update(changes)
        payload = self._send("minute", {
            "id": f"{self.session}-m{at:%Y%m%dT%H%M}", "session": self.session,
            "person": self.person, "minute": iso_utc(at), "t": self._t(at + timedelta(seconds=60)),
            "time": iso_utc(at + timedelta(seconds=60)), "observed_s": sum(postures.values()),
            "occupied_s": occupied, "postures": postures, "confidence_mean": 0.91,
            "sites": sites, "min_ttn_s": 420.0 if crossed else None,
            "min_ttn_site": "peroneal_left" if crossed else None, "reliefs": 0,
            "fidget_s": 4 if occupied else 0, "walking_s": 0 if occupied else 12,
            "alerts": alerts, "seat": seat, "health": sensors})
        self.minutes.append(payload)

    def posture(self, at: datetime, posture: str) -> None:
        self.event(at, {"event": "posture", "posture": posture, "confidence": 0.88})

    def event(self, at: datetime, details: dict[str, Any]) -> dict[str, Any]:
        self.events += 1
        return self._send("event", {"t": self._t(at), **details,
                                    "id": f"{self.session}-e{self.events}", "time": iso_utc(at)})

    def alert(self, at: datetime, kind: str, *, site: str | None = None,
              posture: str = "upright", ttn: float | None = None) -> str:
        self.alerts += 1
        alert_id = f"{self.session}-{self.alerts}"
        self._send("alert", {"t": self._t(at), "event": "alert", "id": alert_id, "kind": kind,
                             "site": site, "posture": posture, "time_to_numbness_s": ttn,
                             "message": "Uncross your legs" if site else "Time for a break",
                             "time": iso_utc(at)})
        return alert_id

    def feedback(self, at: datetime, *, numb: bool, leg: str, k: tuple[float, float],
                 reports: int, alert_id: str | None = None) -> None:
        """What the person said; `k`: their sensitivity before and after (unchanged: it
        taught nothing)."""
        learned = k[0] != k[1]
        self.event(at, {"event": "feedback", "numb": numb, "leg": leg, "alert_id": alert_id,
                        "learned": learned, "reason": None if learned else
                        "no loaded nerve in that leg before the report",
                        "sensitivity_before": k[0], "sensitivity": k[1],
                        "sensitivity_low": round(0.8 * k[1], 3),
                        "sensitivity_high": round(1.25 * k[1], 3), "reports": reports})

    def outcome(self, at: datetime, alert_id: str, kind: str, *, responded: str | None,
                response_s: float | None = None) -> None:
        self.event(at, {"event": "outcome", "alert_id": alert_id, "kind": kind,
                        "acknowledged": responded == "ack", "snoozed": responded == "snooze",
                        "moved": responded == "moved", "response_s": response_s,
                        "responded": responded})


def every_minute(first: str, count: int) -> Iterator[datetime]:
    start = utc(first)
    for n in range(count):
        yield start + timedelta(minutes=n)


@dataclass
class Log:
    path: Path
    sittings: list[Sitting]
    unanswered: set[tuple[str, str]]  # (desk, alert id)


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Log:
    """desk-1 on two days (one stopped cleanly with a break, one killed), desk-2 on the
    evening of the first (ending on a break, with a flaky and a flat thigh sensor)."""
    # desk-1, day 1: 40 min sitting, away 10 min (a break from 10:42 to 10:50), 40 min more.
    a = Sitting("desk-1", "p-17", utc("2026-11-20T10:00:00"))
    a.start()
    a.posture(utc("2026-11-20T10:00:04"), "upright")
    for n, at in enumerate(every_minute("2026-11-20T10:00:00", 40)):
        a.minute(at, {"upright": 40, "crossed_left_over_right": 20},
                 alerts=int(n in (30, 35)),
                 health={"imu_right": {"reconnects": 1}} if n == 10 else None)
    a.posture(utc("2026-11-20T10:20:00"), "crossed_left_over_right")
    moved = a.alert(utc("2026-11-20T10:30:10"), "numbness", site="peroneal_left",
                    posture="crossed_left_over_right", ttn=180.0)
    a.outcome(utc("2026-11-20T10:33:10"), moved, "numbness", responded="moved", response_s=40.0)
    acked = a.alert(utc("2026-11-20T10:35:10"), "numbness", site="peroneal_left",
                    posture="crossed_left_over_right", ttn=175.0)
    a.outcome(utc("2026-11-20T10:38:10"), acked, "numbness", responded="ack", response_s=12.0)
    a.feedback(utc("2026-11-20T10:36:00"), numb=False, leg="left", alert_id=acked,
               k=(1.0, 0.9), reports=1)
    a.posture(utc("2026-11-20T10:40:00"), "empty")
    for at in every_minute("2026-11-20T10:40:00", 10):
        a.minute(at, {"empty": 60})
    a.event(utc("2026-11-20T10:42:00"), {"event": "break", "phase": "start"})
    a.event(utc("2026-11-20T10:50:00"), {"event": "break", "phase": "end"})
    a.posture(utc("2026-11-20T10:50:00"), "slouched")
    for n, at in enumerate(every_minute("2026-11-20T10:50:00", 40)):
        a.minute(at, {"slouched": 60}, alerts=int(n == 30))
    ignored = a.alert(utc("2026-11-20T11:20:00"), "break", posture="slouched")
    a.outcome(utc("2026-11-20T11:23:00"), ignored, "break", responded=None)
    a.stop(utc("2026-11-20T11:30:00"))

    # desk-1, day 2: half of each minute on the seat for 15 min, away 3 min (a break from
    # 09:17 to 09:18), 15 min more; the agent was killed, so no stop, and the last alert
    # never got its outcome.
    b = Sitting("desk-1", "p-17", utc("2026-11-21T09:00:00"))
    b.start()
    b.posture(utc("2026-11-21T09:00:02"), "upright")
    for at in every_minute("2026-11-21T09:00:00", 15):
        b.minute(at, {"upright": 30, "empty": 30})
    for at in every_minute("2026-11-21T09:15:00", 3):
        b.minute(at, {"empty": 60})
    b.event(utc("2026-11-21T09:17:00"), {"event": "break", "phase": "start"})
    b.event(utc("2026-11-21T09:18:00"), {"event": "break", "phase": "end"})
    for n, at in enumerate(every_minute("2026-11-21T09:18:00", 15)):
        b.minute(at, {"upright": 30, "empty": 30}, alerts=int(n == 2))
    pending = b.alert(utc("2026-11-21T09:20:30"), "numbness", site="sciatic_right", ttn=160.0)
    b.feedback(utc("2026-11-21T09:24:00"), numb=True, leg="right", k=(0.9, 1.12), reports=2)

    # desk-2, day 1 in the evening (local): a foot tucked under for 48 min, then away; the
    # break never ends.
    c = Sitting("desk-2", "p-22", utc("2026-11-21T02:00:00"))
    c.start()
    c.posture(utc("2026-11-21T02:00:03"), "foot_under_left")
    for n, at in enumerate(every_minute("2026-11-21T02:00:00", 48)):
        health: dict[str, dict[str, Any]] = {}
        if n == 10:
            health["imu_left"] = {"present_s": 50, "bad_packets": 3, "gaps": 1, "lost": 4}
        if n >= 30:
            health["imu_right"] = {"battery_pct": 15}
        c.minute(at, {"foot_under_left": 60}, alerts=int(n in (45, 46)), health=health)
    c.event(utc("2026-11-21T02:10:20"), {"event": "sensor", "sensor": "imu_left",
                                         "phase": "lost"})
    c.event(utc("2026-11-21T02:10:30"), {"event": "sensor", "sensor": "imu_left",
                                         "phase": "back"})
    snoozed = c.alert(utc("2026-11-21T02:45:00"), "break", posture="foot_under_left")
    c.outcome(utc("2026-11-21T02:48:00"), snoozed, "break", responded="snooze", response_s=30.0)
    unheeded = c.alert(utc("2026-11-21T02:46:00"), "numbness", site="thigh_left",
                       posture="foot_under_left", ttn=170.0)
    c.outcome(utc("2026-11-21T02:49:00"), unheeded, "numbness", responded=None)
    c.feedback(utc("2026-11-21T02:30:00"), numb=True, leg="right", k=(1.0, 1.0), reports=0)
    c.posture(utc("2026-11-21T02:48:00"), "empty")
    for at in every_minute("2026-11-21T02:48:00", 12):
        c.minute(at, {"empty": 60}, health={"imu_right": {"battery_pct": 15}})
    c.event(utc("2026-11-21T02:50:00"), {"event": "break", "phase": "start"})
    c.stop(utc("2026-11-21T03:00:00"))

    path = tmp_path_factory.mktemp("log") / "legwake.db"
    with Store(path) as store:
        for sitting in (a, b):
            store.record(sitting.messages, now=utc("2026-11-21T12:00:00"))
        # The collector's view of desk-2: the last outcome arrived before its alert,
        # and one minute was delivered twice.
        late_alert = next(m for m in c.messages if m.kind == "alert" and m.id == unheeded)
        early = [m for m in c.messages if m is not late_alert]
        again = next(m for m in c.messages if m.kind == "minute")
        store.record([*early, again], now=utc("2026-11-21T12:00:00"))
        store.record([late_alert], now=utc("2026-11-21T12:00:00"))
    return Log(path, [a, b, c], unanswered={("desk-1", ignored), ("desk-1", pending),
                                            ("desk-2", unheeded)})


def metadata() -> dict[str, Any]:
    return json.loads(METADATA_PATH.read_text())


def database_metadata() -> dict[str, Any]:
    return metadata()["databases"]["legwake"]


QUERY_NAMES = sorted(database_metadata()["queries"])


def run(path: Path, name: str, **params: str) -> list[dict[str, Any]]:
    query = database_metadata()["queries"][name]
    with closing(sqlite3.connect(path)) as conn:
        conn.row_factory = sqlite3.Row
        values = {param: params.get(param, "") for param in query["params"]}
        return [dict(row) for row in conn.execute(query["sql"], values)]


# --- the file -------------------------------------------------------------------------------


def test_the_metadata_file_is_what_the_script_writes():
    generated = runpy.run_path(str(GENERATOR))["render"]()
    assert METADATA_PATH.read_text() == generated, (
        "datasette/metadata.json is stale: run .venv/bin/python "
        "scripts/make_datasette_metadata.py")


def test_both_log_files_are_described_alike():
    databases = metadata()["databases"]
    assert set(databases) == {"legwake", "fleet"}
    assert databases["legwake"] == databases["fleet"]


# --- (b) the metadata and the schema --------------------------------------------------------


def schema(path: Path) -> dict[str, list[str]]:
    with closing(sqlite3.connect(path)) as conn:
        names = [name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
            " AND name NOT LIKE 'sqlite_%'")]
        return {name: [row[1] for row in conn.execute(f"PRAGMA table_xinfo([{name}])")]
                for name in names}


def test_every_table_and_column_described_is_in_the_schema(tmp_path):
    with Store(tmp_path / "legwake.db") as store:
        tables = schema(store.path)
    for name, table in database_metadata()["tables"].items():
        assert name in tables, f"metadata describes {name}, which the log does not have"
        for key in ("columns", "units"):
            stray = set(table.get(key, {})) - set(tables[name])
            assert not stray, f"metadata {key} of {name} name columns it lacks: {stray}"
        for key in ("sort", "sort_desc"):
            if key in table:
                assert table[key] in tables[name]
        assert set(table.get("facets", [])) <= set(tables[name])


def test_every_table_view_and_column_of_the_schema_is_described(tmp_path):
    with Store(tmp_path / "legwake.db") as store:
        tables = schema(store.path)
    described = database_metadata()["tables"]
    assert set(tables) == set(described), "describe new tables and views in the metadata"
    for name, columns in tables.items():
        assert described[name]["description"]
        missing = [c for c in columns if not described[name]["columns"].get(c)]
        assert not missing, f"{name}: describe {missing} in scripts/make_datasette_metadata.py"


def test_every_posture_and_nerve_site_has_its_columns_with_units():
    minutes = database_metadata()["tables"]["minutes"]
    for posture in POSTURES:
        assert minutes["columns"][f"{posture}_s"].endswith("(s)")
    for site in SITES:
        assert minutes["units"][f"{site}_mean_mmhg"] == "mmHg"
        assert minutes["units"][f"{site}_peak_mmhg"] == "mmHg"
        assert minutes["columns"][f"{site}_min_ttn_s"].endswith("(s)")
    assert minutes["units"]["load_n"] == "N"
    assert minutes["units"]["cop_x_mm"] == minutes["units"]["cop_y_mm"] == "mm"


def test_the_internal_table_is_hidden_and_the_rest_are_not():
    tables = database_metadata()["tables"]
    assert [name for name, table in tables.items() if table.get("hidden")] == ["received"]


# --- (a) the canned queries, in plain SQLite ------------------------------------------------


@pytest.mark.parametrize("name", QUERY_NAMES)
def test_every_canned_query_runs_with_its_parameters_blank(log, name):
    query = database_metadata()["queries"][name]
    assert query["title"] and query["description"]
    assert run(log.path, name), f"{name} found nothing in the log"


def minutes_by_day(log: Log) -> dict[tuple[str, str], list[dict[str, Any]]]:
    out: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for sitting in log.sittings:
        for minute in sitting.minutes:
            out[local_day(utc(minute["minute"][:-1])), sitting.desk].append(minute)
    return out


def test_sitting_per_day_is_the_sum_of_occupied_seconds(log):
    rows = run(log.path, "sitting_per_day")
    expected = {key: sum(m["occupied_s"] for m in minutes)
                for key, minutes in minutes_by_day(log).items()}
    assert {(r["day"], r["desk"]): r["hours_occupied"] for r in rows} == {
        key: round(seconds / 3600, 2) for key, seconds in expected.items()}
    assert sum(expected.values()) == 40 * 60 + 40 * 60 + 30 * 30 + 48 * 60
    observed = {(r["day"], r["desk"]): r["hours_observed"] for r in rows}
    assert observed[DAY1, "desk-1"] == 1.5
    breaks = {(r["day"], r["desk"]): (r["breaks"], r["break_minutes"]) for r in rows}
    assert breaks == {(DAY1, "desk-1"): (1, 8.0), (DAY2, "desk-1"): (1, 1.0),
                      (DAY1, "desk-2"): (1, None)}  # desk-2's break has not ended
    assert [r["day"] for r in rows] == [DAY2, DAY1, DAY1]


def test_sitting_per_day_for_one_desk_and_one_local_day(log):
    rows = run(log.path, "sitting_per_day", desk="desk-1", **{"from": DAY2, "to": DAY2})
    assert [(r["day"], r["desk"], r["hours_occupied"]) for r in rows] == [
        (DAY2, "desk-1", 0.25)]
    # desk-2's evening is on the 21st in UTC, and on the 20th here.
    rows = run(log.path, "sitting_per_day", **{"from": DAY1, "to": DAY1})
    assert [(r["desk"], r["hours_occupied"]) for r in rows] == [("desk-1", 1.33),
                                                                ("desk-2", 0.8)]
    assert run(log.path, "sitting_per_day", desk="desk-3") == []


def test_unanswered_alerts_are_exactly_those_neither_acknowledged_snoozed_nor_moved(log):
    rows = run(log.path, "unanswered_alerts")
    assert {(r["desk"], r["id"]) for r in rows} == log.unanswered
    assert sorted(r["status"] for r in rows) == [
        "no outcome logged", "no response", "no response"]
    pending = next(r for r in rows if r["status"] == "no outcome logged")
    assert pending["local_time"] == "2026-11-21 04:20:30"
    assert pending["nerve_site"] == "sciatic_right"
    # The outcome that came before its alert still has the alert's details.
    late = next(r for r in rows if r["desk"] == "desk-2")
    assert (late["kind"], late["nerve_site"], late["time_to_numbness_s"]) == (
        "numbness", "thigh_left", 170.0)
    assert [r["desk"] for r in run(log.path, "unanswered_alerts", desk="desk-2")] == ["desk-2"]


def test_sensitivity_per_desk_is_the_newest_k_with_the_feedback_counted(log):
    rows = run(log.path, "sensitivity_per_desk")
    assert [(r["desk"], r["legs_fell_asleep"], r["false_alarms"], r["taught_nothing"],
             r["sensitivity"], r["reports"]) for r in rows] == [
        ("desk-1", 1, 1, 0, 1.12, 2), ("desk-2", 1, 0, 1, 1.0, 0)]
    assert (rows[0]["sensitivity_low"], rows[0]["sensitivity_high"]) == (0.896, 1.4)
    assert rows[0]["last_feedback"] == "2026-11-21 04:24:00"
    first_day = run(log.path, "sensitivity_per_desk", desk="desk-1", **{"from": DAY1, "to": DAY1})
    assert [(r["sensitivity"], r["false_alarms"]) for r in first_day] == [(0.9, 1)]


def test_alerts_per_day_and_response_rate(log):
    rows = {(r["day"], r["desk"]): r for r in run(log.path, "alerts_per_day")}
    first = rows[DAY1, "desk-1"]
    assert (first["alerts"], first["numbness_alerts"], first["break_reminders"]) == (3, 2, 1)
    assert (first["answered"], first["moved"], first["acknowledged"], first["snoozed"]) == (
        2, 1, 1, 0)
    assert (first["response_rate_pct"], first["mean_response_s"]) == (66.7, 26.0)
    second = rows[DAY1, "desk-2"]
    assert (second["alerts"], second["answered"], second["snoozed"]) == (2, 1, 1)
    assert second["response_rate_pct"] == 50.0
    pending = rows[DAY2, "desk-1"]
    assert (pending["alerts"], pending["with_outcome"], pending["answered"]) == (1, 0, 0)
    assert pending["response_rate_pct"] is None


def test_posture_distribution_per_desk(log):
    rows = {(r["desk"], r["posture"]): r for r in run(log.path, "posture_distribution")}
    seconds: dict[tuple[str, str], int] = defaultdict(int)
    for sitting in log.sittings:
        for minute in sitting.minutes:
            for posture, value in minute["postures"].items():
                seconds[sitting.desk, posture] += value
    assert set(rows) == set(seconds)
    for (desk, posture), value in seconds.items():
        assert rows[desk, posture]["hours"] == round(value / 3600, 2)
    # desk-1: 7380 s observed, 5700 of them sitting; 800 s with the legs crossed.
    crossed = rows["desk-1", "crossed_left_over_right"]
    assert (crossed["pct_of_observed"], crossed["pct_of_sitting"]) == (10.8, 14.0)
    assert rows["desk-1", "empty"]["pct_of_sitting"] is None
    assert rows["desk-2", "foot_under_left"]["pct_of_sitting"] == 100.0


def test_device_health_problems(log):
    rows = {(r["desk"], r["sensor"]): r for r in run(log.path, "device_health_problems")}
    assert set(rows) == {("desk-1", "imu_right"), ("desk-2", "imu_left"),
                         ("desk-2", "imu_right")}
    flaky = rows["desk-2", "imu_left"]
    assert (flaky["day"], flaky["missing_while_seated_s"], flaky["bad_packets"],
            flaky["gaps"], flaky["lost_packets"]) == (DAY1, 10, 3, 1, 4)
    assert rows["desk-2", "imu_right"]["lowest_battery_pct"] == 15
    assert rows["desk-1", "imu_right"]["reconnects"] == 1
    lenient = run(log.path, "device_health_problems", battery_below_pct="10")
    assert {(r["desk"], r["sensor"]) for r in lenient} == {("desk-1", "imu_right"),
                                                          ("desk-2", "imu_left")}


def test_longest_sitting_stretches_run_between_breaks(log):
    rows = run(log.path, "longest_sitting_stretches")
    assert [(r["day"], r["desk"], r["local_start"], r["local_end"], r["duration_min"],
             r["seated_min"]) for r in rows] == [
        # 02:00 to 02:48 UTC, then away: the evening of the 20th here
        (DAY1, "desk-2", "2026-11-20 21:00:00", "2026-11-20 21:48:00", 48.0, 48.0),
        # 10:00 to 10:40 UTC, away 10 min (a break), then 10:50 to 11:30
        (DAY1, "desk-1", "2026-11-20 05:00:00", "2026-11-20 05:40:00", 40.0, 40.0),
        (DAY1, "desk-1", "2026-11-20 05:50:00", "2026-11-20 06:30:00", 40.0, 40.0),
        # half of each minute seated; away only 3 min, but a break began: two stretches
        (DAY2, "desk-1", "2026-11-21 04:00:00", "2026-11-21 04:15:00", 15.0, 7.5),
        (DAY2, "desk-1", "2026-11-21 04:18:00", "2026-11-21 04:33:00", 15.0, 7.5),
    ]
    assert [r["local_start"] for r in run(log.path, "longest_sitting_stretches",
                                          desk="desk-1", **{"from": DAY2})] == [
        "2026-11-21 04:00:00", "2026-11-21 04:18:00"]


def test_a_short_stand_up_stays_inside_a_sitting_stretch(tmp_path):
    """Away 3 min without a break event (the policy's natural break is longer): one stretch."""
    sitting = Sitting("desk-3", "p-30", utc("2026-11-20T15:00:00"))
    for at in every_minute("2026-11-20T15:00:00", 10):
        sitting.minute(at, {"upright": 60})
    for at in every_minute("2026-11-20T15:10:00", 3):
        sitting.minute(at, {"standing": 60})
    for at in every_minute("2026-11-20T15:13:00", 10):
        sitting.minute(at, {"upright": 60})
    with Store(tmp_path / "legwake.db") as store:
        store.record(sitting.messages, now=utc("2026-11-20T16:00:00"))
    rows = run(store.path, "longest_sitting_stretches")
    assert [(r["duration_min"], r["seated_min"]) for r in rows] == [(23.0, 20.0)]


def test_a_local_day_starts_at_local_midnight():
    """:from and :to are local days: the bounds in UTC are that day's local midnights."""
    with closing(sqlite3.connect(":memory:")) as conn:
        (bound,) = conn.execute("SELECT strftime('%Y-%m-%dT%H:%M:%fZ', :day, 'utc')",
                                {"day": DAY2}).fetchone()
    assert bound == "2026-11-21T05:00:00.000Z"


# --- (c) in Datasette -----------------------------------------------------------------------


def test_datasette_serves_the_log_with_the_metadata(log):
    app = pytest.importorskip(
        "datasette.app", reason="Datasette is an optional extra: pip install -e '.[datasette]'")
    expected = {name: run(log.path, name) for name in QUERY_NAMES}
    with closing(sqlite3.connect(log.path)) as conn:
        latest_minute = conn.execute("SELECT max(minute_utc) FROM minutes").fetchone()[0]

    async def browse() -> None:
        ds = app.Datasette([str(log.path)], metadata=metadata())
        await ds.invoke_startup()
        client = ds.client

        home = await client.get("/legwake.json")
        assert home.status_code == 200
        tables = {t["name"]: t for t in home.json()["tables"]}
        assert tables["received"]["hidden"] is True
        assert not tables["minutes"]["hidden"]
        assert {q["name"] for q in home.json()["queries"]} == set(QUERY_NAMES)
        page = await client.get("/legwake")
        assert page.status_code == 200
        assert "Sitting time per day" in page.text

        minutes = await client.get("/legwake/minutes.json?_shape=array&_size=5")
        assert minutes.status_code == 200
        assert minutes.json()[0]["minute_utc"] == latest_minute  # sorted newest first
        table = await client.get("/legwake/minutes")
        assert table.status_code == 200
        assert "Predicted time until the left common peroneal nerve" in table.text
        assert "38.5&nbsp;mmHg" in table.text  # a pressure, with its unit

        for name in QUERY_NAMES:
            html = await client.get(f"/legwake/{name}")
            assert html.status_code == 200, name
            answer = await client.get(f"/legwake/{name}.json?_shape=array")
            assert answer.status_code == 200, name
            assert answer.json() == expected[name], name

        one_desk = await client.get("/legwake/unanswered_alerts.json?_shape=array&desk=desk-2")
        assert [r["desk"] for r in one_desk.json()] == ["desk-2"]

    asyncio.run(browse())
