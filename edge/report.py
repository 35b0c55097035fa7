"""The ergonomist's report: sitting, breaks, postures, alerts, seat pressure, nerve load
and device health over a range of local days, as one self-contained HTML file.

Reads the log (edge/store.py owns its schema) read-only: it never creates, migrates
or writes to it. Every number shown comes from `load_report` as plain data
(`ReportData`); the HTML, the CSV files and the tests all read that same data. The
figures are drawn in edge/report_plots.py (matplotlib, imported only to render).

Days are local days: rows are grouped and filtered by SQLite's `date(x, 'localtime')`
and nothing else, so a minute belongs to the same day in every table.
"""

from __future__ import annotations

import base64
import bisect
import csv
import html
import io
import itertools
import math
import sqlite3
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from edge.config import ALERT_KINDS, EstimateConfig
from edge.estimate.labels import LEG_SITES, POSTURES, SEATED, SITES
from edge.store import newer_schema

__all__ = ["NoDataError", "ReportData", "ReportError", "load_report", "render_html",
           "write_csv", "write_report"]

# The log keeps maps, not the mat's geometry: its cells are the configured default pitch.
MAT_PITCH_MM = EstimateConfig().mat_pitch_mm
CONTACT_MMHG = 5.0
"""Mean pressure below this is shown as no contact; the colour scale runs from it."""
SCALE_MAX_MMHG = 200.0
NO_DATA_S = 300
"""Minutes missing for longer than this (the agent was down) end a sitting stretch: no
one can say the person sat through them."""

SEATED_POSTURES = tuple(p for p in POSTURES if p in SEATED)
LEGS = {leg: tuple(SITES[i] for i in sites) for leg, sites in LEG_SITES.items()}
SENSOR_NAMES = {"mat": "seat mat", "imu_left": "left thigh unit", "imu_right": "right thigh unit"}

POSTURE_NAMES = {
    "empty": "empty seat", "upright": "upright", "leaning_left": "leaning left",
    "leaning_right": "leaning right", "slouched": "slouched",
    "crossed_left_over_right": "legs crossed, left over right",
    "crossed_right_over_left": "legs crossed, right over left",
    "foot_under_left": "left foot tucked under", "foot_under_right": "right foot tucked under",
    "standing": "standing",
}
POSTURE_COLOURS = {
    # One colour per posture, everywhere in the report (charts and tables alike).
    "upright": "#2f9e44", "leaning_left": "#74c0fc", "leaning_right": "#1c7ed6",
    "slouched": "#f59f00", "crossed_left_over_right": "#e8590c",
    "crossed_right_over_left": "#c2255c", "foot_under_left": "#9775fa",
    "foot_under_right": "#5f3dc4", "standing": "#868e96", "empty": "#dee2e6",
}
LEG_COLOURS = {"left": "#1971c2", "right": "#e03131"}
RESPONSE_COLOURS = {"moved": "#2f9e44", "ack": "#1c7ed6", "snooze": "#f59f00",
                    "none": "#e03131", "pending": "#adb5bd"}


class ReportError(Exception):
    """The log cannot be reported on (not a legwake log, or a newer schema)."""


class NoDataError(ReportError):
    """Nothing was logged in the asked range."""


# --- the report's data -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Day:
    """One local day: seated time, breaks, the longest sitting stretch, alerts."""

    day: date
    observed_s: int
    occupied_s: int
    breaks: int
    break_s: float
    longest_sitting_s: int
    alerts: int


@dataclass(frozen=True, slots=True)
class PostureShare:
    """Seconds in one seated posture and their share of all seated seconds."""

    posture: str
    seconds: int
    share: float


@dataclass(frozen=True, slots=True)
class AlertSummary:
    """Alerts of one kind ("all" for every kind) and how people responded.

    The flags (acknowledged, snoozed, moved within the lead time) may overlap; the
    first responses (moved, ack, snooze, none) and `pending` partition the count.
    """

    kind: str
    count: int
    acknowledged: int
    snoozed: int
    moved: int
    first_moved: int
    first_ack: int
    first_snooze: int
    no_response: int
    pending: int
    median_response_s: float | None


@dataclass(frozen=True, slots=True, eq=False)
class PressureMap:
    """The seat-pressure map averaged over seated seconds, and the centre of pressure
    minute by minute (x from the occupant's left edge, y from the front edge)."""

    mean_mmhg: np.ndarray
    seat_s: int
    minutes: int
    pitch_mm: float
    cop_minutes_utc: tuple[str, ...]
    cop_x_mm: np.ndarray
    cop_y_mm: np.ndarray
    cop_seat_s: np.ndarray

    @property
    def mean_cop_mm(self) -> tuple[float, float] | None:
        """The centre of pressure over the whole range, weighted by seated seconds."""
        weight = self.cop_seat_s.sum()
        if not weight:
            return None
        return (float(self.cop_x_mm @ self.cop_seat_s / weight),
                float(self.cop_y_mm @ self.cop_seat_s / weight))


@dataclass(frozen=True, slots=True, eq=False)
class NerveTimeline:
    """Nerve-site pressures and times to numbness minute by minute (NaN: not known, or for
    a time to numbness, not heading to numbness), and each leg's worst site."""

    minutes_utc: tuple[str, ...]
    desks: tuple[str, ...]
    epoch_s: np.ndarray
    columns: dict[str, np.ndarray]

    def leg(self, leg: str) -> tuple[np.ndarray, np.ndarray]:
        """The leg's peak nerve-site pressure (mmHg) and lowest time to numbness (s)."""
        return self.columns[f"{leg}_peak_mmhg"], self.columns[f"{leg}_min_ttn_s"]


@dataclass(frozen=True, slots=True)
class SiteLoad:
    """One nerve site over the range: how hard and how long it was pressed."""

    site: str
    mean_mmhg: float | None
    highest_peak_mmhg: float | None
    lowest_ttn_s: float | None
    minutes_heading_to_numbness: int


@dataclass(frozen=True, slots=True)
class SensorHealth:
    """One sensor at one desk over the range."""

    desk: str
    sensor: str
    minutes: int
    present_s: int
    packets: int
    bad_packets: int
    gaps: int
    lost: int
    reconnects: int
    dropouts: int
    lowest_battery_pct: int | None

    @property
    def bad_share(self) -> float | None:
        return self.bad_packets / self.packets if self.packets else None


@dataclass(frozen=True, slots=True)
class Feedback:
    """What the person at one desk said they felt, and the sensitivity k it taught: the
    newest k with its 10-90 % band, and every k after a report (local time, k, low, high),
    for the chart."""

    desk: str
    numb_left: int
    numb_right: int
    false_alarms: int
    untaught: int
    sensitivity: float
    sensitivity_low: float
    sensitivity_high: float
    reports: int
    history: tuple[tuple[datetime, float, float, float], ...]

    @property
    def numb(self) -> int:
        return self.numb_left + self.numb_right


@dataclass(frozen=True, slots=True, eq=False)
class ReportData:
    """Everything the report shows, for one log, desk filter and range of local days."""

    db_path: str
    desk: str | None
    start: date
    end: date
    timezone: str
    desks: tuple[str, ...]
    days: tuple[Day, ...]
    postures: tuple[PostureShare, ...]
    standing_s: int
    alerts: tuple[AlertSummary, ...]
    pressure: PressureMap | None
    nerve: NerveTimeline
    site_loads: tuple[SiteLoad, ...]
    health: tuple[SensorHealth, ...]
    feedback: tuple[Feedback, ...] = ()
    generated: datetime = field(default_factory=lambda: datetime.now().astimezone())

    @property
    def occupied_s(self) -> int:
        return sum(d.occupied_s for d in self.days)

    @property
    def breaks(self) -> int:
        return sum(d.breaks for d in self.days)

    @property
    def longest_sitting_s(self) -> int:
        return max((d.longest_sitting_s for d in self.days), default=0)

    @property
    def all_alerts(self) -> AlertSummary:
        return self.alerts[-1]

    @property
    def summary(self) -> str:
        """The key numbers in one line (the report's first line, and the command's output)."""
        alerts = self.all_alerts
        days = len(self.days)
        parts = [counted(days, "day"),
                 (f"{duration(self.occupied_s)} seated "
                  f"({duration(self.occupied_s / max(days, 1))} a day)"),
                 counted(self.breaks, "break"),
                 f"longest sitting stretch {duration(self.longest_sitting_s)}",
                 counted(alerts.count, "alert")]
        if alerts.count:
            parts.append(f"{percent(alerts.moved / alerts.count)} moved in time")
        if alerts.median_response_s is not None:
            parts.append(f"median response {seconds(alerts.median_response_s)}")
        return ", ".join(parts)


# --- formatting ------------------------------------------------------------------------------


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """A count with its noun in agreement: "1 break", "0 breaks", "2 alerts"."""
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"


def duration(value_s: float | None) -> str:
    """A duration in the unit that reads best: "2.5 h" from an hour, "25 min" from a
    minute, "40 s" below (as rounded: 59.7 s is "1 min", 59.7 min "1.0 h")."""
    if value_s is None:
        return "–"
    if round(value_s) < 60:
        return f"{value_s:.0f} s"
    if round(value_s / 60) < 60:
        return f"{value_s / 60:.0f} min"
    return f"{value_s / 3600:.1f} h"


def seconds(value_s: float | None) -> str:
    return "–" if value_s is None else f"{value_s:.0f} s"


def percent(share: float | None) -> str:
    return "–" if share is None else f"{100 * share:.0f} %"


def mmhg(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f} mmHg"


def day_label(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b %Y}"


def local_iso(minute_utc: str) -> str:
    """A logged UTC time as local ISO 8601 with its offset."""
    return datetime.fromisoformat(minute_utc).astimezone().isoformat(timespec="seconds")


# --- loading ---------------------------------------------------------------------------------


def open_log(db_path: str | Path) -> sqlite3.Connection:
    """The log, read-only; a clear error for a file that is not a legwake log."""
    path = Path(db_path)
    if not path.is_file():
        raise ReportError(f"{path}: no such log file")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    except sqlite3.DatabaseError as error:
        raise ReportError(f"{path}: not a legwake log ({error})") from None
    problem = newer_schema(version)
    if problem:
        conn.close()
        raise ReportError(f"{path}: {problem}")
    missing = {"minutes", "alerts", "events", "device_health", "breaks"} - tables
    if missing:
        conn.close()
        raise ReportError(f"{path}: not a legwake log (no {', '.join(sorted(missing))})")
    return conn


@dataclass(frozen=True, slots=True)
class _Range:
    """A WHERE clause for rows of local days start..end (and a desk), on a time column.

    The UTC bounds, a day wider than any local offset, only let SQLite use the time
    indexes; the local day decides.
    """

    start: date
    end: date
    desk: str | None

    def where(self, column: str) -> tuple[str, list[Any]]:
        sql = (f"{column} >= ? AND {column} < ?"
               f" AND date({column}, 'localtime') BETWEEN ? AND ?")
        params: list[Any] = [(self.start - timedelta(days=1)).isoformat(),
                             (self.end + timedelta(days=2)).isoformat(),
                             self.start.isoformat(), self.end.isoformat()]
        if self.desk is not None:
            sql += " AND desk = ?"
            params.append(self.desk)
        return sql, params


def load_report(db_path: str | Path, *, desk: str | None = None, start: date | None = None,
                end: date | None = None) -> ReportData:
    """Read what the report shows from the log: local days start..end inclusive (default:
    the first and last day with minutes), one desk or all. Raises NoDataError when no
    minute was logged in that range."""
    if start and end and start > end:
        raise ReportError(f"the range starts ({start}) after it ends ({end})")
    conn = open_log(db_path)
    try:
        # The local days of the first and last minute: an index look-up each.
        desk_only = " WHERE desk = ?" if desk is not None else ""
        first, last = conn.execute(
            f"SELECT date((SELECT min(minute_utc) FROM minutes{desk_only}), 'localtime'),"
            f" date((SELECT max(minute_utc) FROM minutes{desk_only}), 'localtime')",
            (desk, desk) if desk is not None else ()).fetchone()
        where = f" at desk {desk!r}" if desk is not None else ""
        if first is None:
            known = [row[0] for row in conn.execute("SELECT DISTINCT desk FROM minutes")]
            raise NoDataError(f"{db_path}: no minutes logged{where} (desks in the log: "
                              f"{', '.join(map(repr, known)) or 'none'})")
        span = _Range(start or date.fromisoformat(first), end or date.fromisoformat(last), desk)
        days = _days(conn, span)
        if not days:
            raise NoDataError(f"{db_path}: no minutes logged from {span.start} to {span.end} "
                              f"(local days){where}; the log has minutes from {first} to "
                              f"{last}")
        postures, standing_s = _postures(conn, span)
        nerve = _nerve(conn, span)
        return ReportData(
            db_path=str(db_path), desk=desk, start=span.start, end=span.end,
            timezone=_timezone_name(), desks=_desks(conn, span), days=days,
            postures=postures, standing_s=standing_s, alerts=_alerts(conn, span),
            pressure=_pressure(conn, span), nerve=nerve, site_loads=_site_loads(nerve),
            health=_health(conn, span), feedback=_feedback(conn, span))
    finally:
        conn.close()


def _timezone_name() -> str:
    now = datetime.now().astimezone()
    offset = now.strftime("%z")
    return f"{now.tzname()}, UTC{offset[:3]}:{offset[3:]}"


def _desks(conn: sqlite3.Connection, span: _Range) -> tuple[str, ...]:
    sql, params = span.where("minute_utc")
    rows = conn.execute(f"SELECT DISTINCT site, desk FROM minutes WHERE {sql}"
                        " ORDER BY site, desk", params)
    return tuple(f"{site}/{desk}" for site, desk in rows)


def _days(conn: sqlite3.Connection, span: _Range) -> tuple[Day, ...]:
    sql, params = span.where("minute_utc")
    sitting = conn.execute(
        "SELECT date(minute_utc, 'localtime') AS day, sum(observed_s), sum(occupied_s)"
        f" FROM minutes WHERE {sql} GROUP BY day ORDER BY day", params).fetchall()
    sql, params = span.where("start_utc")
    breaks = {day: (count, total or 0.0) for day, count, total in conn.execute(
        "SELECT date(start_utc, 'localtime') AS day, count(*), sum(duration_s)"
        f" FROM breaks WHERE {sql} GROUP BY day", params)}
    sql, params = span.where("time_utc")
    alerts = dict(conn.execute(
        "SELECT date(time_utc, 'localtime') AS day, count(*)"
        f" FROM alerts WHERE {sql} GROUP BY day", params).fetchall())
    longest = _longest_sitting(conn, span)
    return tuple(
        Day(day=date.fromisoformat(day), observed_s=observed or 0, occupied_s=occupied or 0,
            breaks=breaks.get(day, (0, 0.0))[0], break_s=breaks.get(day, (0, 0.0))[1],
            longest_sitting_s=longest.get(day, 0), alerts=alerts.get(day, 0))
        for day, observed, occupied in sitting)


def _longest_sitting(conn: sqlite3.Connection, span: _Range) -> dict[str, int]:
    """Per local day, the longest sitting without a break at one desk: from the first to
    the end of the last minute with someone seated, with no break (the agent's break
    events) starting in between and no gap in the data longer than NO_DATA_S; counted
    on the day it began. Short stand-ups that are not breaks stay inside a stretch."""
    sql, params = span.where("minute_utc")
    minutes = conn.execute(
        "SELECT site, desk, CAST(strftime('%s', minute_utc) AS INTEGER),"
        " date(minute_utc, 'localtime') FROM minutes"
        f" WHERE {sql} AND occupied_s > 0 ORDER BY site, desk, minute_utc", params).fetchall()
    sql, params = span.where("start_utc")
    breaks: dict[tuple[str, str], list[float]] = {}
    for site, desk, start in conn.execute(
            "SELECT site, desk, (julianday(start_utc) - 2440587.5) * 86400.0"
            f" FROM breaks WHERE {sql} ORDER BY start_utc", params):
        breaks.setdefault((site, desk), []).append(start)
    longest: dict[str, int] = {}
    here = run_day = None
    run_start = previous = 0
    for site, desk, epoch, day in minutes:
        starts = breaks.get((site, desk), [])
        broken = (here != (site, desk) or epoch - previous > 60 + NO_DATA_S
                  or bisect.bisect_right(starts, epoch) > bisect.bisect_right(starts, previous))
        if broken:
            here, run_start, run_day = (site, desk), epoch, day
        previous = epoch
        longest[run_day] = max(longest.get(run_day, 0), epoch + 60 - run_start)
    return longest


def _postures(conn: sqlite3.Connection, span: _Range) -> tuple[tuple[PostureShare, ...], int]:
    sql, params = span.where("minute_utc")
    columns = ", ".join(f"coalesce(sum([{p}_s]), 0)" for p in (*SEATED_POSTURES, "standing"))
    *seated, standing = conn.execute(f"SELECT {columns} FROM minutes WHERE {sql}",
                                     params).fetchone()
    total = sum(seated)
    shares = tuple(PostureShare(posture, int(s), s / total if total else 0.0)
                   for posture, s in zip(SEATED_POSTURES, seated, strict=True))
    return shares, int(standing)


def _alerts(conn: sqlite3.Connection, span: _Range) -> tuple[AlertSummary, ...]:
    """Alerts by kind in a fixed order (then any other kind), then all kinds together."""
    sql, params = span.where("time_utc")
    rows = conn.execute(
        "SELECT kind, acknowledged, snoozed, moved, responded, response_s,"
        f" outcome_time_utc IS NOT NULL FROM alerts WHERE {sql}", params).fetchall()
    kinds = [*ALERT_KINDS, *sorted({row[0] for row in rows} - set(ALERT_KINDS))]
    return tuple(_alert_summary(kind, [r for r in rows if kind in ("all", r[0])])
                 for kind in (*kinds, "all"))


def _feedback(conn: sqlite3.Connection, span: _Range) -> tuple[Feedback, ...]:
    """Each desk's feedback in the range (none from a log older than the feedback table)."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'feedback'").fetchone() is None:
        return ()
    sql, params = span.where("time_utc")
    rows = conn.execute(
        "SELECT site || '/' || desk AS where_, time_utc, numb, leg, learned, sensitivity,"
        f" sensitivity_low, sensitivity_high, reports FROM feedback WHERE {sql}"
        " ORDER BY where_, time_utc, t",
        params).fetchall()
    out = []
    for desk, group in itertools.groupby(rows, key=lambda row: row[0]):
        said = list(group)
        newest = said[-1]
        out.append(Feedback(
            desk=desk, numb_left=sum(r[2] == 1 and r[3] == "left" for r in said),
            numb_right=sum(r[2] == 1 and r[3] == "right" for r in said),
            false_alarms=sum(r[2] == 0 for r in said), untaught=sum(r[4] == 0 for r in said),
            sensitivity=newest[5], sensitivity_low=newest[6], sensitivity_high=newest[7],
            reports=newest[8],
            history=tuple((datetime.fromisoformat(r[1]).astimezone(), r[5], r[6], r[7])
                          for r in said)))
    return tuple(out)


def _alert_summary(kind: str, rows: Sequence[tuple]) -> AlertSummary:
    responses = [r[5] for r in rows if r[5] is not None]
    decided = [r for r in rows if r[6]]
    return AlertSummary(
        kind=kind, count=len(rows),
        acknowledged=sum(bool(r[1]) for r in rows), snoozed=sum(bool(r[2]) for r in rows),
        moved=sum(bool(r[3]) for r in rows),
        first_moved=sum(r[4] == "moved" for r in decided),
        first_ack=sum(r[4] == "ack" for r in decided),
        first_snooze=sum(r[4] == "snooze" for r in decided),
        no_response=sum(r[4] is None for r in decided),
        pending=len(rows) - len(decided),
        median_response_s=statistics.median(responses) if responses else None)


def _pressure(conn: sqlite3.Connection, span: _Range) -> PressureMap | None:
    """The seat map averaged cell by cell, weighted by each minute's seated seconds (maps
    of another shape than the most common one, from another mat, are left out)."""
    sql, params = span.where("minute_utc")
    shapes = conn.execute(
        "SELECT seat_map_rows, seat_map_cols, count(*) AS n FROM minutes"
        f" WHERE {sql} AND seat_map IS NOT NULL AND seat_s > 0"
        " GROUP BY seat_map_rows, seat_map_cols ORDER BY n DESC", params).fetchall()
    if not shapes:
        return None
    rows, cols, _ = shapes[0]
    found = conn.execute(
        f"SELECT seat_s, seat_map FROM minutes WHERE {sql} AND seat_map IS NOT NULL"
        " AND seat_s > 0 AND seat_map_rows = ? AND seat_map_cols = ?",
        [*params, rows, cols]).fetchall()
    weights = np.array([row[0] for row in found], dtype=np.float64)
    maps = np.frombuffer(b"".join(row[1] for row in found), dtype=np.float32)
    maps = maps.reshape(len(found), rows, cols).astype(np.float64)
    known = np.isfinite(maps)
    total = np.tensordot(weights, np.where(known, maps, 0.0), axes=1)
    weight = np.tensordot(weights, known.astype(np.float64), axes=1)
    mean = np.divide(total, weight, out=np.full((rows, cols), np.nan), where=weight > 0)
    cop = conn.execute(
        f"SELECT minute_utc, cop_x_mm, cop_y_mm, seat_s FROM minutes WHERE {sql}"
        " AND cop_x_mm IS NOT NULL AND cop_y_mm IS NOT NULL ORDER BY minute_utc",
        params).fetchall()
    return PressureMap(
        mean_mmhg=mean, seat_s=int(weights.sum()), minutes=len(found), pitch_mm=MAT_PITCH_MM,
        cop_minutes_utc=tuple(r[0] for r in cop),
        cop_x_mm=np.array([r[1] for r in cop], dtype=np.float64),
        cop_y_mm=np.array([r[2] for r in cop], dtype=np.float64),
        cop_seat_s=np.array([r[3] or 0 for r in cop], dtype=np.float64))


def site_column_names() -> list[str]:
    return [f"{site}_{part}" for site in SITES for part in ("mean_mmhg", "peak_mmhg",
                                                            "min_ttn_s")]


def _nerve(conn: sqlite3.Connection, span: _Range) -> NerveTimeline:
    sql, params = span.where("minute_utc")
    names = site_column_names()
    rows = conn.execute(
        "SELECT minute_utc, site || '/' || desk, CAST(strftime('%s', minute_utc) AS REAL), "
        + ", ".join(f"[{n}]" for n in names)
        + f" FROM minutes WHERE {sql} ORDER BY minute_utc, site, desk", params).fetchall()
    values = np.array([row[2:] for row in rows], dtype=np.float64).reshape(len(rows),
                                                                          len(names) + 1)
    columns = {name: values[:, i + 1] for i, name in enumerate(names)}
    for leg, sites in LEGS.items():
        # fmax/fmin skip NaN without a warning; NaN only where every site is unknown.
        columns[f"{leg}_peak_mmhg"] = np.fmax.reduce(
            [columns[f"{s}_peak_mmhg"] for s in sites]) if rows else np.empty(0)
        columns[f"{leg}_min_ttn_s"] = np.fmin.reduce(
            [columns[f"{s}_min_ttn_s"] for s in sites]) if rows else np.empty(0)
    return NerveTimeline(minutes_utc=tuple(r[0] for r in rows),
                         desks=tuple(r[1] for r in rows), epoch_s=values[:, 0],
                         columns=columns)


def _finite_or_none(values: np.ndarray, reduce) -> float | None:
    finite = values[np.isfinite(values)]
    return float(reduce(finite)) if finite.size else None


def _site_loads(nerve: NerveTimeline) -> tuple[SiteLoad, ...]:
    return tuple(
        SiteLoad(site=site,
                 mean_mmhg=_finite_or_none(nerve.columns[f"{site}_mean_mmhg"], np.mean),
                 highest_peak_mmhg=_finite_or_none(nerve.columns[f"{site}_peak_mmhg"], np.max),
                 lowest_ttn_s=_finite_or_none(nerve.columns[f"{site}_min_ttn_s"], np.min),
                 minutes_heading_to_numbness=int(
                     np.isfinite(nerve.columns[f"{site}_min_ttn_s"]).sum()))
        for site in SITES)


def _health(conn: sqlite3.Connection, span: _Range) -> tuple[SensorHealth, ...]:
    sql, params = span.where("minute_utc")
    rows = conn.execute(
        "SELECT site || '/' || desk AS where_, sensor, count(*), sum(present_s), sum(packets),"
        " sum(bad_packets), sum(gaps), sum(lost), sum(reconnects), min(battery_pct)"
        f" FROM device_health WHERE {sql} GROUP BY site, desk, sensor", params).fetchall()
    sql, params = span.where("time_utc")
    dropouts = {(where_, sensor): n for where_, sensor, n in conn.execute(
        "SELECT site || '/' || desk, sensor, count(*) FROM events"
        f" WHERE {sql} AND event = 'sensor' AND phase = 'lost' GROUP BY site, desk, sensor",
        params)}
    order = {name: i for i, name in enumerate(SENSOR_NAMES)}
    health = [SensorHealth(desk=where_, sensor=sensor, minutes=n, present_s=present or 0,
                           packets=packets or 0, bad_packets=bad or 0, gaps=gaps or 0,
                           lost=lost or 0, reconnects=reconnects or 0,
                           dropouts=dropouts.get((where_, sensor), 0),
                           lowest_battery_pct=battery)
              for where_, sensor, n, present, packets, bad, gaps, lost, reconnects, battery
              in rows]
    return tuple(sorted(health, key=lambda h: (h.desk, order.get(h.sensor, 99), h.sensor)))


# --- tables (the HTML and the CSV files show the same ones) ----------------------------------


@dataclass(frozen=True, slots=True)
class Table:
    """A table as the report shows it: raw values (for CSV and tests) and their text."""

    name: str
    header: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    text: tuple[tuple[str, ...], ...] = ()


def tables(data: ReportData) -> dict[str, Table]:
    """Every table of the report, by CSV file stem."""
    return {t.name: t for t in (
        _daily_table(data), _posture_table(data), _alert_table(data), _site_table(data),
        _health_table(data), _pressure_table(data), _cop_table(data), _nerve_table(data),
        _feedback_table(data))}


def _daily_table(data: ReportData) -> Table:
    return Table(
        "daily", ("day", "seated_s", "observed_s", "breaks", "break_s", "longest_sitting_s",
                  "alerts"),
        tuple((d.day.isoformat(), d.occupied_s, d.observed_s, d.breaks, round(d.break_s, 3),
               d.longest_sitting_s, d.alerts) for d in data.days),
        tuple((day_label(d.day), duration(d.occupied_s), duration(d.observed_s), str(d.breaks),
               duration(d.break_s) if d.breaks else "–", duration(d.longest_sitting_s),
               str(d.alerts)) for d in data.days))


def _posture_table(data: ReportData) -> Table:
    return Table(
        "postures", ("posture", "seconds", "share_of_seated"),
        tuple((p.posture, p.seconds, round(p.share, 6)) for p in data.postures),
        tuple((POSTURE_NAMES[p.posture], duration(p.seconds), percent(p.share))
              for p in data.postures))


def _alert_table(data: ReportData) -> Table:
    def share(n: int, of: int) -> str:
        return f"{n} ({percent(n / of)})" if of else str(n)

    return Table(
        "alerts", ("kind", "alerts", "moved_in_time", "acknowledged", "snoozed",
                   "no_response", "pending", "median_response_s"),
        tuple((a.kind, a.count, a.moved, a.acknowledged, a.snoozed, a.no_response, a.pending,
               a.median_response_s) for a in data.alerts),
        tuple((a.kind, str(a.count), share(a.moved, a.count), share(a.acknowledged, a.count),
               share(a.snoozed, a.count), share(a.no_response, a.count), str(a.pending),
               seconds(a.median_response_s)) for a in data.alerts))


def _site_table(data: ReportData) -> Table:
    return Table(
        "nerve_sites", ("site", "mean_mmhg", "highest_peak_mmhg", "lowest_ttn_s",
                        "minutes_heading_to_numbness"),
        tuple((s.site, s.mean_mmhg, s.highest_peak_mmhg, s.lowest_ttn_s,
               s.minutes_heading_to_numbness) for s in data.site_loads),
        tuple((s.site.replace("_", " "), mmhg(s.mean_mmhg), mmhg(s.highest_peak_mmhg),
               duration(s.lowest_ttn_s), str(s.minutes_heading_to_numbness))
              for s in data.site_loads))


def _health_table(data: ReportData) -> Table:
    return Table(
        "health", ("desk", "sensor", "minutes", "present_s", "packets", "bad_packets",
                   "gaps", "lost", "reconnects", "dropouts", "lowest_battery_pct"),
        tuple((h.desk, h.sensor, h.minutes, h.present_s, h.packets, h.bad_packets, h.gaps,
               h.lost, h.reconnects, h.dropouts, h.lowest_battery_pct) for h in data.health),
        tuple((h.desk, SENSOR_NAMES.get(h.sensor, h.sensor), str(h.minutes),
               duration(h.present_s), f"{h.packets:,}",
               f"{h.bad_packets:,} ({_fine_percent(h.bad_share)})", str(h.gaps), f"{h.lost:,}",
               f"{h.reconnects:,}" if h.reconnects else "none", str(h.dropouts),
               "–" if h.lowest_battery_pct is None else f"{h.lowest_battery_pct} %")
              for h in data.health))


def _feedback_table(data: ReportData) -> Table:
    return Table(
        "feedback", ("desk", "numb_left", "numb_right", "false_alarms", "taught_nothing",
                     "sensitivity", "sensitivity_low", "sensitivity_high", "reports"),
        tuple((f.desk, f.numb_left, f.numb_right, f.false_alarms, f.untaught, f.sensitivity,
               f.sensitivity_low, f.sensitivity_high, f.reports) for f in data.feedback),
        tuple((f.desk, str(f.numb_left), str(f.numb_right), str(f.false_alarms),
               str(f.untaught), f"{f.sensitivity:.2f}", f"{f.sensitivity_low:.2f}",
               f"{f.sensitivity_high:.2f}", str(f.reports))
              for f in data.feedback))


def _fine_percent(share: float | None) -> str:
    """A small share readably: two significant digits (0.0044 %)."""
    return "–" if share is None else f"{100 * share:.2g} %"


def _pressure_table(data: ReportData) -> Table:
    rows: list[tuple[Any, ...]] = []
    if data.pressure is not None:
        pitch = data.pressure.pitch_mm
        for (i, j), value in np.ndenumerate(data.pressure.mean_mmhg):
            known = bool(np.isfinite(value))
            rows.append((i, j, (j + 0.5) * pitch, (i + 0.5) * pitch,
                         round(float(value), 3) if known else None,
                         int(known and value >= CONTACT_MMHG)))
    return Table("pressure_map", ("row", "col", "x_mm", "y_mm", "mean_mmhg", "contact"),
                 tuple(rows))


def _cop_table(data: ReportData) -> Table:
    pressure = data.pressure
    if pressure is None:
        return Table("cop_trace", ("minute_utc", "cop_x_mm", "cop_y_mm", "seat_s"), ())
    return Table("cop_trace", ("minute_utc", "cop_x_mm", "cop_y_mm", "seat_s"), tuple(
        zip(pressure.cop_minutes_utc, pressure.cop_x_mm.tolist(), pressure.cop_y_mm.tolist(),
            pressure.cop_seat_s.astype(int).tolist(), strict=True)))


def _nerve_table(data: ReportData) -> Table:
    nerve = data.nerve
    names = [f"{leg}_{part}" for leg in LEGS for part in ("peak_mmhg", "min_ttn_s")]
    names += site_column_names()
    values = np.column_stack([nerve.columns[n] for n in names]).tolist() \
        if nerve.minutes_utc else []
    rows = tuple((minute, local_iso(minute), desk,
                  *(None if math.isnan(v) else v for v in row))
                 for minute, desk, row in zip(nerve.minutes_utc, nerve.desks, values,
                                              strict=True))
    return Table("nerve_load", ("minute_utc", "minute_local", "desk", *names), rows)


# --- CSV -------------------------------------------------------------------------------------


def write_csv(data: ReportData, directory: str | Path) -> list[Path]:
    """One CSV file per table of the report (header row; times ISO 8601); the paths."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in tables(data).items():
        path = out / f"{name}.csv"
        path.write_text(csv_text(table), encoding="utf-8", newline="")
        written.append(path)
    return written


def csv_text(table: Table) -> str:
    """One table as CSV: a header row, then the rows (None as an empty field)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(table.header)
    writer.writerows(table.rows)
    return buffer.getvalue()


# --- HTML ------------------------------------------------------------------------------------


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _img(png: bytes, alt: str, *, square: bool = False) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    kind = "figure square" if square else "figure"
    return f'<img class="{kind}" alt="{_e(alt)}" src="data:image/png;base64,{encoded}">'


def _html_table(table: Table, *, first: Iterable[str] | None = None,
                swatches: Sequence[str] | None = None, total_last: bool = False) -> str:
    """The table with each cell's raw value in data-value (what the tests read)."""
    text = {i for i, value in enumerate(table.rows[0]) if isinstance(value, str)} \
        if table.rows else set()
    head = "".join(f"<th{' class=text' if i in text else ''}>{_e(h)}</th>"
                   for i, h in enumerate(first or table.header))
    body = []
    for index, (raw, text) in enumerate(zip(table.rows, table.text, strict=True)):
        cells = []
        for column, (value, shown) in enumerate(zip(raw, text, strict=True)):
            swatch = ""
            if column == 0 and swatches:
                swatch = f'<span class="swatch" style="background:{swatches[index]}"></span>'
            data = "" if value is None else f' data-value="{_e(value)}"'
            align = " class=text" if isinstance(value, str) else ""
            cells.append(f"<td{align}{data}>{swatch}{_e(shown)}</td>")
        total = ' class="total"' if total_last and index == len(table.rows) - 1 else ""
        body.append(f'<tr{total} data-key="{_e(raw[0])}">{"".join(cells)}</tr>')
    return (f'<table id="table-{table.name}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


CSS = """
:root { --ink:#212529; --muted:#6c757d; --line:#dee2e6; --accent:#1864ab; --panel:#f8f9fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans",
       sans-serif; color: var(--ink); background: #fff; }
main { max-width: 1120px; margin: 0 auto; padding: 28px 32px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 40px 0 8px; padding-bottom: 4px;
     border-bottom: 2px solid var(--accent); }
.meta { color: var(--muted); margin: 0 0 16px; }
.summary { font-size: 16px; background: var(--panel); border-left: 4px solid var(--accent);
           padding: 10px 14px; margin: 16px 0; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr));
         gap: 12px; margin: 16px 0 8px; }
.tile { background: var(--panel); border: 1px solid var(--line); border-radius: 6px;
        padding: 10px 12px; }
.tile .value { font-size: 24px; font-weight: 600; }
.tile .label { color: var(--muted); font-size: 13px; }
.note { color: var(--muted); font-size: 13px; margin: 6px 0 12px; }
img.figure { display: block; width: 100%; height: auto; margin: 8px 0 12px; }
img.figure.square { max-width: 680px; margin: 8px auto 12px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 16px; font-size: 14px; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: right;
         white-space: nowrap; }
th:first-child, td:first-child, .text { text-align: left; }
th { background: var(--panel); font-weight: 600; }
tr.total td { font-weight: 600; border-top: 2px solid var(--ink); }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px;
          margin-right: 8px; vertical-align: -1px; }
footer { margin-top: 40px; color: var(--muted); font-size: 13px; }
@media print { main { max-width: none; padding: 0; } h2 { break-after: avoid; } }
"""


def _tile(value: str, label: str, key: str) -> str:
    return (f'<div class="tile" data-key="{_e(key)}"><div class="value">{_e(value)}</div>'
            f'<div class="label">{_e(label)}</div></div>')


def render_html(data: ReportData) -> str:
    """The report as one HTML document: inline CSS, figures as inline PNG, no scripts."""
    title, body = report_body(data)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{CSS}</style></head>"
            f"<body><main>{body}</main></body></html>\n")


def report_body(data: ReportData) -> tuple[str, str]:
    """The report's title and its sections as HTML (for a page of one's own, with CSS)."""
    from edge import report_plots as plots

    shown = tables(data)
    alerts = data.all_alerts
    days = len(data.days)
    desks = ", ".join(data.desks)
    title = f"Sitting and posture report, {data.start} to {data.end}"
    tiles = "".join((
        _tile(duration(data.occupied_s), "seated in all", "seated"),
        _tile(duration(data.occupied_s / max(days, 1)), "seated per day", "seated_per_day"),
        _tile(*counted(data.breaks, "break").split(" ", 1), "breaks"),
        _tile(duration(data.longest_sitting_s), "longest sitting stretch", "longest"),
        _tile(*counted(alerts.count, "alert").split(" ", 1), "alerts"),
        _tile(percent(alerts.moved / alerts.count) if alerts.count else "–",
              "of alerts followed by a move in time", "moved"),
    ))
    seated_total = sum(p.seconds for p in data.postures)
    sections = [
        f"<h1>{_e(title)}</h1>",
        (f'<p class="meta">{_e(day_label(data.start))} to {_e(day_label(data.end))}, local '
         f"time ({_e(data.timezone)}) &middot; {counted(days, 'day')} with data "
         f"&middot; desk{'s' * (len(data.desks) != 1)}: {_e(desks)}</p>"),
        f'<p class="summary" id="summary">{_e(data.summary)}</p>',
        f'<div class="tiles">{tiles}</div>',

        '<h2 id="daily">Daily sitting time and breaks</h2>',
        _img(plots.daily_png(data), "Hours seated and breaks per day"),
        _html_table(shown["daily"], first=("Day", "Seated", "Observed", "Breaks",
                                           "Time on breaks", "Longest sitting stretch",
                                           "Alerts")),
        ('<p class="note">Seated: seconds with someone on the seat. Breaks are the '
         "agent's break events: away from the seat or standing long enough to count "
         "([policy] natural_break_min). A sitting stretch runs from the first to the last "
         "seated minute with no break in between (short stand-ups stay in it), and ends "
         f"where the log has no data for more than {counted(NO_DATA_S // 60, 'minute')}."
         "</p>"),

        '<h2 id="postures">Posture distribution</h2>',
        _img(plots.postures_png(data), "Share of seated time per posture"),
        _html_table(shown["postures"], first=("Posture", "Time", "Share of seated time"),
                    swatches=[POSTURE_COLOURS[p.posture] for p in data.postures]),
        (f'<p class="note">Shares of {_e(duration(seated_total))} classified as seated; '
         f"besides that, {_e(duration(data.standing_s))} standing at the desk.</p>"),

        '<h2 id="alerts">Alerts and responses</h2>',
        _img(plots.alerts_png(data), "Alerts by kind and the first response to each"),
        _html_table(shown["alerts"], first=("Kind", "Alerts", "Moved in time", "Acknowledged",
                                            "Snoozed", "No response", "Awaiting outcome",
                                            "Median response"), total_last=True),
        ('<p class="note">Moved in time: the person changed posture or stood up before the '
         "numbness the alert predicted (and within its lead time); an alert that said the leg "
         "was numb already cannot be answered in time. Acknowledged and snoozed may both be "
         "true of one alert; the "
         "chart shows the first response. Response time: from the alert to that first "
         "response.</p>"),

        '<h2 id="pressure">Seat pressure and centre of pressure</h2>',
    ]
    if data.pressure is not None:
        pressure = data.pressure
        sections += [
            _img(plots.pressure_png(data), "Average seat pressure map with the centre of "
                 "pressure trace", square=True),
            (f'<p class="note">Mean pressure per cell over {_e(duration(pressure.seat_s))} '
             f"seated ({counted(pressure.minutes, 'minute')}), each minute weighted by its "
             "seated seconds; "
             f"{pressure.mean_mmhg.shape[0]}&times;{pressure.mean_mmhg.shape[1]} cells at "
             f"{pressure.pitch_mm:g} mm, seen from above with the front edge at the top. "
             f"Fixed colour scale {CONTACT_MMHG:g}&ndash;{SCALE_MAX_MMHG:g} mmHg; cells below "
             f"{CONTACT_MMHG:g} mmHg are shown as no contact. The line is the centre of "
             "pressure minute by minute; the cross its average.</p>"),
        ]
    else:
        sections.append('<p class="note">No seat-pressure map was logged in this range.</p>')
    sections += [
        '<h2 id="nerve">Nerve load</h2>',
        _img(plots.nerve_png(data), "Peak nerve-site pressure and lowest time to numbness "
             "per leg over time"),
        _html_table(shown["nerve_sites"], first=("Nerve site", "Mean pressure",
                                                 "Highest peak", "Lowest time to numbness",
                                                 "Minutes heading to numbness")),
        ('<p class="note">Per leg, the highest peak pressure of its nerve sites (sciatic, '
         "thigh, peroneal) and the lowest time to numbness among them; a gap in the lower "
         "panel means no site was heading to numbness.</p>"),

        '<h2 id="feedback">What people felt, and their sensitivity</h2>',
        *_feedback_section(data, shown["feedback"]),

        '<h2 id="health">Device health</h2>',
        _html_table(shown["health"], first=("Desk", "Sensor", "Minutes", "Present",
                                             "Packets", "Bad packets", "Gaps", "Lost",
                                             "Reconnects", "Dropouts", "Lowest battery")),
        ('<p class="note">Reconnects: times the link to the sensor dropped and was made '
         'again (the first connection is not one; "none": it never dropped). Dropouts: '
         "times the agent reported the sensor lost.</p>"),

        (f"<footer>legwake report of {_e(Path(data.db_path).name)}, generated "
         f"{_e(data.generated.isoformat(timespec='minutes'))}.</footer>"),
    ]
    return title, "".join(sections)


def _feedback_section(data: ReportData, table: Table) -> list[str]:
    from edge import report_plots as plots

    if not data.feedback:
        return [('<p class="note">Nobody reported a leg falling asleep or a false alarm in '
                 "this range; each desk's sensitivity is its [model] sensitivity.</p>")]
    return [
        _img(plots.sensitivity_png(data), "Each desk's sensitivity k after each report, with "
             "its 10 to 90 % band"),
        _html_table(table, first=("Desk", "Left leg asleep", "Right leg asleep",
                                  "False alarms", "Taught nothing", "k now", "k from (10 %)",
                                  "to (90 %)", "Reports")),
        ('<p class="note">From the buttons "my leg fell asleep" and "false alarm, I was fine" '
         "(dashboard, Home Assistant, cmd/feedback). Each report teaches the model the "
         "person's own sensitivity k: 1 is the calibrated adult, 2 a leg that falls asleep "
         "in half the time, 0.5 in twice the time. The newest k is what the alerts use now. "
         "A report taught nothing when that leg's nerves were not loaded before it (not a "
         "positional numbness) or its alert was unknown.</p>"),
    ]


def write_report(data: ReportData, out: str | Path) -> Path:
    """Write the HTML report to out (its directory made if need be)."""
    path = Path(out)
    if path.parent != Path():
        path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(data), encoding="utf-8")
    return path
