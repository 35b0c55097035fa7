"""The ergonomists' log: one SQLite file of sessions, minutes, events, alerts and health.

Owns the schema (created and migrated here, WAL) and the only way rows get in:
`Store.record`, which applies a batch of messages (the agent's own, or many desks'
arriving over MQTT at the fleet collector) in one transaction. Each message carries
an id; one already recorded for that desk is skipped, so a message delivered twice,
or replayed, or taken by two collectors, is counted once. A crash leaves the file
as it was after the last whole batch: never half a minute.

Messages (their JSON is the MQTT payload, schemas/*.json):

- `minute`: one desk's minute (occupied seconds, seconds per posture, nerve-site
  pressures and time to numbness, reliefs, the mean seat-pressure map and centre of
  pressure, device health), id `<session>-m<YYYYmmddTHHMM>`;
- `alert`: a nudge, id `<session>-<n>`; its outcome arrives later as an event;
- `event`: posture, break, sensor, outcome and feedback events, id `<session>-e<n>` (a
  feedback is a row of `feedback` too);
- `session`: this agent's start or stop (the local log only).

What the fleet collector cannot record goes to `rejected` (`Store.reject`): its topic, the
payload's first bytes and the reason, so that it can be acknowledged and not come back.

Posture segments and breaks are views over the events, so they are right whatever
order the events came in. Times are ISO 8601 UTC text ("...Z"); `date(x, 'localtime')`
gives the local day.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self

import numpy as np
from sqlite_utils import Database

from edge.estimate.labels import POSTURES, SITES
from edge.estimate.windows import STREAMS as SENSORS
from edge.timefmt import iso_utc

__all__ = ["KINDS", "SENSORS", "Message", "Rejected", "Store", "newer_schema", "session_of"]

KINDS = ("session", "minute", "alert", "event")
HEALTH = ("present_s", "packets", "bad_packets", "gaps", "lost", "reconnects", "battery_pct")


def session_of(message_id: str) -> str:
    """The agent session an alert or event id belongs to: its prefix before the last "-"."""
    return message_id.rsplit("-", 1)[0]


@dataclass(frozen=True, slots=True)
class Message:
    """One message for the log: what kind, from which desk, and its payload."""

    kind: str
    site: str
    desk: str
    payload: Mapping[str, Any]

    @property
    def id(self) -> str:
        return str(self.payload["id"])

    @property
    def session_id(self) -> str:
        session = self.payload.get("session") or session_of(self.id)
        return f"{self.site}/{self.desk}/{session}"


@dataclass(frozen=True, slots=True)
class Rejected:
    """A delivery that could not be recorded: its topic, its payload, and why."""

    topic: str
    payload: bytes
    reason: str


REJECTED_HEAD_BYTES = 256  # of a rejected payload, kept to look at
REJECTED_TEXT_CHARS = 1000  # of its topic and its reason


# --- schema ----------------------------------------------------------------------------------


def posture_column(posture: str) -> str:
    return f"{posture}_s"


def site_columns(site: str) -> tuple[str, str, str]:
    return f"{site}_mean_mmhg", f"{site}_peak_mmhg", f"{site}_min_ttn_s"


MINUTE_COLUMNS: dict[str, type] = {
    "session_id": str, "minute_utc": str, "site": str, "desk": str, "person": str,
    "t": float, "observed_s": int, "occupied_s": int,
    **{posture_column(p): int for p in POSTURES},
    "confidence_mean": float,
    **{column: float for site in SITES for column in site_columns(site)},
    "min_ttn_s": float, "min_ttn_site": str, "reliefs": int, "fidget_s": int,
    "walking_s": int, "alerts": int, "seat_s": int, "load_n": float, "ppi_mmhg": float,
    "cop_x_mm": float, "cop_y_mm": float, "seat_map_rows": int, "seat_map_cols": int,
    "seat_map": bytes,
}

_POSTURE_SEGMENTS = """
SELECT e.session_id, e.site, e.desk, e.posture, e.confidence, e.time_utc AS start_utc,
       coalesce(lead(e.time_utc) OVER w, s.ended_utc, s.last_minute_utc) AS end_utc,
       round(coalesce(lead(e.t) OVER w,
                      (julianday(coalesce(s.ended_utc, s.last_minute_utc))
                       - julianday(e.time_utc)) * 86400 + e.t) - e.t, 3) AS duration_s
FROM events e LEFT JOIN sessions s ON s.session_id = e.session_id
WHERE e.event = 'posture'
WINDOW w AS (PARTITION BY e.session_id ORDER BY e.t)
"""

_BREAKS = """
SELECT b.session_id, b.site, b.desk, b.time_utc AS start_utc, e.time_utc AS end_utc,
       round(e.t - b.t, 3) AS duration_s
FROM events b
LEFT JOIN events e ON e.rowid = (
    SELECT x.rowid FROM events x
    WHERE x.session_id = b.session_id AND x.event = 'break' AND x.phase = 'end'
      AND x.t >= b.t ORDER BY x.t LIMIT 1)
WHERE b.event = 'break' AND b.phase = 'start'
"""


def _v1(db: Database) -> None:
    db["sessions"].create({
        "session_id": str, "site": str, "desk": str, "person": str, "origin": str,
        "started_utc": str, "ended_utc": str, "end_reason": str,
        "first_minute_utc": str, "last_minute_utc": str,
    }, pk="session_id")
    db["minutes"].create(MINUTE_COLUMNS, pk=("session_id", "minute_utc"))
    db["device_health"].create({
        "session_id": str, "minute_utc": str, "sensor": str, "site": str, "desk": str,
        **{name: int for name in HEALTH},
    }, pk=("session_id", "minute_utc", "sensor"))
    db["events"].create({
        "site": str, "desk": str, "id": str, "session_id": str, "t": float, "time_utc": str,
        "event": str, "posture": str, "confidence": float, "sensor": str, "phase": str,
        "payload": str,
    }, pk=("site", "desk", "id"))
    db["alerts"].create({
        "site": str, "desk": str, "id": str, "session_id": str, "t": float, "time_utc": str,
        "kind": str, "nerve_site": str, "posture": str, "time_to_numbness_s": float,
        "message": str, "acknowledged": int, "snoozed": int, "moved": int,
        "response_s": float, "responded": str, "outcome_time_utc": str,
    }, pk=("site", "desk", "id"))
    db["received"].create({"site": str, "desk": str, "id": str, "kind": str,
                           "received_utc": str}, pk=("site", "desk", "id"))
    db["minutes"].create_index(["desk", "minute_utc"])
    db["minutes"].create_index(["minute_utc"])
    db["device_health"].create_index(["desk", "minute_utc"])
    db["device_health"].create_index(["minute_utc"])
    db["events"].create_index(["session_id", "event", "t"])
    db["events"].create_index(["desk", "time_utc"])
    db["events"].create_index(["time_utc"])
    db["alerts"].create_index(["desk", "time_utc"])
    db["alerts"].create_index(["time_utc"])
    db["sessions"].create_index(["desk", "started_utc"])
    db["received"].create_index(["received_utc"])
    db.create_view("posture_segments", _POSTURE_SEGMENTS)
    db.create_view("breaks", _BREAKS)


def _v2(db: Database) -> None:
    """What the fleet collector could not record, kept so that it is acknowledged (and not
    sent again for ever) without being lost from sight."""
    db["rejected"].create({"received_utc": str, "topic": str, "payload_bytes": int,
                           "payload_head": bytes, "reason": str})
    db["rejected"].create_index(["received_utc"])


FEEDBACK_COLUMNS: dict[str, type] = {
    "site": str, "desk": str, "id": str, "session_id": str, "t": float, "time_utc": str,
    "numb": int, "leg": str, "alert_id": str, "learned": int, "reason": str,
    "sensitivity_before": float, "sensitivity": float, "sensitivity_low": float,
    "sensitivity_high": float, "reports": int,
}


def _v3(db: Database) -> None:
    """What people said they felt (cmd/feedback) and the sensitivity it taught: a table of
    its own, so that the report and Datasette read it without parsing event payloads."""
    db["feedback"].create(FEEDBACK_COLUMNS, pk=("site", "desk", "id"))
    db["feedback"].create_index(["desk", "time_utc"])
    db["feedback"].create_index(["time_utc"])
    db.execute("""INSERT OR IGNORE INTO feedback SELECT site, desk, id, session_id, t, time_utc,
        json_extract(payload, '$.numb'), json_extract(payload, '$.leg'),
        json_extract(payload, '$.alert_id'), json_extract(payload, '$.learned'),
        json_extract(payload, '$.reason'), json_extract(payload, '$.sensitivity_before'),
        json_extract(payload, '$.sensitivity'), json_extract(payload, '$.sensitivity_low'),
        json_extract(payload, '$.sensitivity_high'), json_extract(payload, '$.reports')
        FROM events WHERE event = 'feedback'""")


MIGRATIONS: tuple[Callable[[Database], None], ...] = (_v1, _v2, _v3)
"""Schema versions in order; PRAGMA user_version is how many have been applied."""


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction, taking the write lock at once (so two writers queue instead
    of failing half way): committed whole, or rolled back whole."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def newer_schema(version: int) -> str | None:
    """What is wrong with a log of this schema version, when this legwake cannot read it."""
    if version > len(MIGRATIONS):
        return (f"the log has schema version {version}, newer than this legwake knows "
                f"({len(MIGRATIONS)}): upgrade legwake")
    return None


def migrate(db: Database) -> int:
    """Bring the schema up to date in one transaction; returns the version. Two processes
    opening a new log at once: the second waits, then finds the schema made."""
    with transaction(db.conn):
        version = db.execute("PRAGMA user_version").fetchone()[0]
        problem = newer_schema(version)
        if problem:
            raise RuntimeError(problem)
        for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
            step(db)
            db.execute(f"PRAGMA user_version = {number}")
    return len(MIGRATIONS)


def _use_wal(conn: sqlite3.Connection, attempts: int = 100) -> None:
    """WAL, so that readers (reports, Datasette) never block the writer. Switching a new
    file may find another process doing the same, and SQLite then says "locked" at once
    rather than waiting: try again for a while."""
    for attempt in range(attempts):
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(0.05)


# --- the store -------------------------------------------------------------------------------


class Store:
    """The log in one SQLite file; one writer at a time (WAL lets readers work alongside)."""

    def __init__(self, path: str | Path, *, retention_days: int = 0):
        self.path = Path(path)
        if self.path.parent != Path():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        self.db = Database(conn)
        _use_wal(conn)
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.version = migrate(self.db)
        self.retention_days = retention_days
        self._pruned_day: str | None = None

    def close(self) -> None:
        self.db.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing ------------------------------------------------------------------------

    def record(self, messages: Iterable[Message], *, now: datetime | None = None) -> int:
        """Apply the messages in one transaction; returns how many were new (not seen)."""
        now = now or datetime.now(UTC)
        received = iso_utc(now)
        new = 0
        with transaction(self.db.conn) as conn:
            for message in messages:
                if message.kind not in _APPLY:
                    raise ValueError(f"unknown message kind {message.kind!r}: expected one of "
                                     f"{', '.join(KINDS)}")
                seen = conn.execute(
                    "INSERT OR IGNORE INTO received (site, desk, id, kind, received_utc) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (message.site, message.desk, message.id, message.kind, received))
                if seen.rowcount == 0:
                    continue
                _APPLY[message.kind](conn, message)
                new += 1
        self._maybe_prune(now)
        return new

    def reject(self, rejected: Iterable[Rejected], *, now: datetime | None = None) -> int:
        """Keep what could not be recorded (the payload's first bytes), in one transaction;
        returns how many."""
        at = iso_utc(now or datetime.now(UTC))
        rows = [(at, r.topic[:REJECTED_TEXT_CHARS], len(r.payload),
                 r.payload[:REJECTED_HEAD_BYTES], r.reason[:REJECTED_TEXT_CHARS])
                for r in rejected]
        if rows:
            with transaction(self.db.conn) as conn:
                conn.executemany("INSERT INTO rejected (received_utc, topic, payload_bytes,"
                                 " payload_head, reason) VALUES (?, ?, ?, ?, ?)", rows)
        return len(rows)

    def close_dangling(self, site: str, desk: str, *, reason: str = "crashed") -> int:
        """Sessions of this desk that never said they ended (the agent was killed): ended
        at their last recorded minute. Returns how many."""
        with transaction(self.db.conn):
            cursor = self.db.conn.execute(
                "UPDATE sessions SET ended_utc = coalesce(last_minute_utc, started_utc),"
                " end_reason = ? WHERE site = ? AND desk = ? AND ended_utc IS NULL",
                (reason, site, desk))
        return cursor.rowcount

    def prune(self, now: datetime | None = None) -> int:
        """Delete rows older than the retention period; returns how many minutes went."""
        if self.retention_days <= 0:
            return 0
        cutoff = iso_utc((now or datetime.now(UTC)) - timedelta(days=self.retention_days))
        with transaction(self.db.conn) as conn:
            gone = conn.execute("DELETE FROM minutes WHERE minute_utc < ?", (cutoff,)).rowcount
            conn.execute("DELETE FROM device_health WHERE minute_utc < ?", (cutoff,))
            conn.execute("DELETE FROM events WHERE time_utc < ?", (cutoff,))
            conn.execute("DELETE FROM alerts WHERE time_utc < ?", (cutoff,))
            conn.execute("DELETE FROM feedback WHERE time_utc < ?", (cutoff,))
            conn.execute("DELETE FROM received WHERE received_utc < ?", (cutoff,))
            conn.execute("DELETE FROM rejected WHERE received_utc < ?", (cutoff,))
            conn.execute("DELETE FROM sessions WHERE coalesce(ended_utc, last_minute_utc,"
                         " started_utc) < ?", (cutoff,))
        return gone

    def _maybe_prune(self, now: datetime) -> None:
        day = now.date().isoformat()
        if self._pruned_day != day:
            self._pruned_day = day
            self.prune(now)

    # --- reading ------------------------------------------------------------------------

    def count(self, table: str) -> int:
        return self.db[table].count


# --- applying messages -----------------------------------------------------------------------


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _upsert(conn: sqlite3.Connection, table: str, key: Mapping[str, Any],
            values: Mapping[str, Any]) -> None:
    """Insert the row, or update its non-key columns: one statement, whatever came first."""
    row = {**key, **values}
    columns = ", ".join(f"[{c}]" for c in row)
    marks = ", ".join("?" for _ in row)
    updates = ", ".join(f"[{c}] = excluded.[{c}]" for c in values) or None
    conflict = ", ".join(f"[{c}]" for c in key)
    action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
    conn.execute(f"INSERT INTO [{table}] ({columns}) VALUES ({marks}) "
                 f"ON CONFLICT ({conflict}) {action}", tuple(row.values()))


def _apply_session(conn: sqlite3.Connection, m: Message) -> None:
    p = m.payload
    key = {"session_id": m.session_id}
    if p["phase"] == "start":
        _upsert(conn, "sessions", key, {
            "site": m.site, "desk": m.desk, "person": p.get("person") or None,
            "origin": p.get("origin"), "started_utc": p["time"]})
    else:
        _upsert(conn, "sessions", key, {
            "site": m.site, "desk": m.desk, "ended_utc": p["time"],
            "end_reason": p.get("reason", "stopped")})


def _apply_minute(conn: sqlite3.Connection, m: Message) -> None:
    p = m.payload
    minute = p["minute"]
    row: dict[str, Any] = {
        "session_id": m.session_id, "minute_utc": minute, "site": m.site, "desk": m.desk,
        "person": p.get("person") or None, "t": p.get("t"),
        "observed_s": p["observed_s"], "occupied_s": p["occupied_s"],
        "confidence_mean": _finite(p.get("confidence_mean")),
        "reliefs": p.get("reliefs", 0), "fidget_s": p.get("fidget_s", 0),
        "walking_s": p.get("walking_s", 0), "alerts": p.get("alerts", 0),
        "min_ttn_s": _finite(p.get("min_ttn_s")), "min_ttn_site": p.get("min_ttn_site"),
    }
    postures = p.get("postures", {})
    for posture in POSTURES:
        row[posture_column(posture)] = int(postures.get(posture, 0))
    sites = p.get("sites", {})
    for site in SITES:
        values = sites.get(site, {})
        mean, peak, ttn = site_columns(site)
        row[mean] = _finite(values.get("mean_mmhg"))
        row[peak] = _finite(values.get("peak_mmhg"))
        row[ttn] = _finite(values.get("min_ttn_s"))
    seat = p.get("seat") or {}
    row["seat_s"] = int(seat.get("seconds", 0))
    for column, key in (("load_n", "load_n"), ("ppi_mmhg", "ppi_mmhg"),
                        ("cop_x_mm", "cop_x_mm"), ("cop_y_mm", "cop_y_mm")):
        row[column] = _finite(seat.get(key))
    grid = seat.get("map_mmhg")
    if grid:
        array = np.asarray(grid, dtype=np.float32)
        row["seat_map_rows"], row["seat_map_cols"] = array.shape
        row["seat_map"] = array.tobytes()
    else:
        row["seat_map_rows"] = row["seat_map_cols"] = row["seat_map"] = None
    key = {"session_id": row.pop("session_id"), "minute_utc": row.pop("minute_utc")}
    _upsert(conn, "minutes", key, row)
    for sensor, health in (p.get("health") or {}).items():
        _upsert(conn, "device_health",
                {"session_id": key["session_id"], "minute_utc": minute, "sensor": sensor},
                {"site": m.site, "desk": m.desk,
                 **{name: health.get(name) for name in HEALTH}})
    conn.execute(
        "INSERT INTO sessions (session_id, site, desk, person, first_minute_utc,"
        " last_minute_utc) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (session_id) DO UPDATE SET"
        " person = coalesce(sessions.person, excluded.person),"
        " first_minute_utc = min(coalesce(sessions.first_minute_utc, excluded.first_minute_utc),"
        " excluded.first_minute_utc),"
        " last_minute_utc = max(coalesce(sessions.last_minute_utc, excluded.last_minute_utc),"
        " excluded.last_minute_utc)",
        (key["session_id"], m.site, m.desk, row["person"], minute, minute))


def _apply_alert(conn: sqlite3.Connection, m: Message) -> None:
    p = m.payload
    _upsert(conn, "alerts", {"site": m.site, "desk": m.desk, "id": m.id}, {
        "session_id": m.session_id, "t": p["t"], "time_utc": p["time"], "kind": p["kind"],
        "nerve_site": p.get("site"), "posture": p.get("posture"),
        "time_to_numbness_s": _finite(p.get("time_to_numbness_s")),
        "message": p.get("message")})


def _apply_event(conn: sqlite3.Connection, m: Message) -> None:
    p = m.payload
    conn.execute(
        "INSERT OR IGNORE INTO events (site, desk, id, session_id, t, time_utc, event,"
        " posture, confidence, sensor, phase, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
        " ?, ?)",
        (m.site, m.desk, m.id, m.session_id, p["t"], p["time"], p["event"], p.get("posture"),
         p.get("confidence"), p.get("sensor"), p.get("phase"),
         json.dumps(p, separators=(",", ":"))))
    if p["event"] == "outcome":
        # The outcome may come before its alert (another collector took the alert).
        _upsert(conn, "alerts", {"site": m.site, "desk": m.desk, "id": p["alert_id"]}, {
            "session_id": m.session_id, "acknowledged": int(p["acknowledged"]),
            "snoozed": int(p["snoozed"]), "moved": int(p["moved"]),
            "response_s": _finite(p.get("response_s")), "responded": p.get("responded"),
            "outcome_time_utc": p["time"]})
    elif p["event"] == "feedback":
        row = {column: p.get(column) for column in FEEDBACK_COLUMNS}
        row.update(site=m.site, desk=m.desk, id=m.id, session_id=m.session_id,
                   time_utc=p["time"], numb=int(p["numb"]), learned=int(p["learned"]))
        conn.execute(f"INSERT OR IGNORE INTO feedback ({', '.join(row)}) VALUES"
                     f" ({', '.join('?' for _ in row)})", tuple(row.values()))


_APPLY: dict[str, Callable[[sqlite3.Connection, Message], None]] = {
    "session": _apply_session, "minute": _apply_minute, "alert": _apply_alert,
    "event": _apply_event,
}
