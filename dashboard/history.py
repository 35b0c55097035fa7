"""The ergonomist's history view: the report's charts and tables for a desk and a range.

Owns choosing what to show from the log (which desks it has, a sensible default range)
and turning `edge.report`'s data into the page's sections and CSV downloads. The figures
are the report's own (edge/report_plots.py), so the page and `legwake report` agree.

What the browser sees of the log is safe to show: a day outside FIRST_DAY..LAST_DAY
is a ReportError before any date arithmetic (the report's widens the range by days, which
overflows near years 1 and 9999), and no message names the log's file: its path (server
layout) reads "the log", and goes to the server's own log in full.

Must not touch: the log's contents (it is opened read-only by edge.report.open_log) or
the live view.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sqlite3
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from edge.report import (
    NoDataError,
    ReportData,
    ReportError,
    csv_text,
    load_report,
    open_log,
    report_body,
    tables,
)

__all__ = ["DEFAULT_DAYS", "FIRST_DAY", "LAST_DAY", "History", "HistoryQuery", "NoDataError",
           "ReportError"]

log = logging.getLogger(__name__)

DEFAULT_DAYS = 7
# The days one may ask for: no legwake log has minutes outside them, and the report's range
# arithmetic (a day either side) stays far from date's limits (years 1 and 9999).
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2100, 12, 31)
# matplotlib's Agg figures are drawn one at a time: a page asked for twice at once waits.
_DRAWING = threading.Lock()


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """One desk (or every desk, None) and local days start..end, inclusive."""

    desk: str | None
    start: date
    end: date

    def params(self) -> dict[str, str]:
        out = {"from": self.start.isoformat(), "to": self.end.isoformat()}
        if self.desk:
            out["desk"] = self.desk
        return out


class History:
    """The history of one log file."""

    def __init__(self, db_path: str) -> None:
        self.db_path = db_path

    @property
    def exists(self) -> bool:
        return bool(self.db_path) and Path(self.db_path).is_file()

    def desks(self) -> list[str]:
        """The desks with logged minutes, by name."""
        if not self.exists:
            return []
        with self._log() as conn:
            return [row[0] for row in conn.execute(
                "SELECT DISTINCT desk FROM minutes ORDER BY desk")]

    def query(self, desk: str | None, start: date | None, end: date | None) -> HistoryQuery:
        """The range asked for, its missing ends filled in: up to the last local day with
        data, DEFAULT_DAYS days long (today when the log is empty), within FIRST_DAY..LAST_DAY
        (ReportError for a day outside)."""
        for name, day in (("from", start), ("to", end)):
            if day is not None and not FIRST_DAY <= day <= LAST_DAY:
                raise ReportError(f"{name}: expected a day from {FIRST_DAY} to {LAST_DAY}, "
                                  f"got {day}")
        if end is None:
            # A log may hold a forged or misclocked minute far away: not past the limits.
            end = _within(self._last_day(desk) or date.today())
            if start is not None and start > end:
                end = min(start + timedelta(days=DEFAULT_DAYS - 1), LAST_DAY)
        if start is None:
            start = max(min(end - timedelta(days=DEFAULT_DAYS - 1), end), FIRST_DAY)
        if start > end:
            raise ReportError(f"the range starts ({start}) after it ends ({end})")
        return HistoryQuery(desk or None, start, end)

    def load(self, query: HistoryQuery) -> ReportData:
        """The report's data; NoDataError when nothing was logged in the range."""
        if not self.exists:
            log.info("history: no log at %s yet", self.db_path or "(none configured)")
            raise NoDataError("no log yet: it appears once an agent has logged its first minute")
        with self._reading():
            return load_report(self.db_path, desk=query.desk, start=query.start, end=query.end)

    def sections(self, data: ReportData) -> tuple[str, str]:
        """The report's title and sections (figures drawn now, one page at a time)."""
        with _DRAWING:
            return report_body(data)

    def table_names(self, data: ReportData) -> list[str]:
        return list(tables(data))

    def csv(self, data: ReportData, name: str) -> str:
        """One of the report's tables as CSV text; KeyError for an unknown name."""
        return csv_text(tables(data)[name])

    def csv_zip(self, data: ReportData) -> bytes:
        """Every table as CSV, in one ZIP file."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, table in tables(data).items():
                archive.writestr(f"{name}.csv", csv_text(table))
        return buffer.getvalue()

    def recent_alerts(self, since_utc: str, limit: int) -> list[dict[str, Any]]:
        """The newest `limit` alerts since an ISO UTC time, oldest first, each as
        {"site", "desk", "payload": the alert message, "outcome": dict or None}."""
        if not self.exists:
            return []
        with self._log() as conn:  # a damaged log: a ReportError, and the dashboard still starts
            rows = conn.execute(
                "SELECT site, desk, id, t, time_utc, kind, nerve_site, posture,"
                " time_to_numbness_s, message, acknowledged, snoozed, moved, response_s,"
                " responded FROM alerts WHERE time_utc >= ? AND kind IS NOT NULL"
                " ORDER BY time_utc DESC LIMIT ?", (since_utc, limit)).fetchall()
        out = []
        for (site, desk, alert_id, t, time_utc, kind, nerve_site, posture, ttn, message,
             acknowledged, snoozed, moved, response_s, responded) in reversed(rows):
            outcome = None if moved is None else {
                "acknowledged": bool(acknowledged), "snoozed": bool(snoozed),
                "moved": bool(moved), "response_s": response_s, "responded": responded}
            out.append({"site": site, "desk": desk, "outcome": outcome, "payload": {
                "id": alert_id, "t": t, "time": time_utc, "kind": kind, "site": nerve_site,
                "posture": posture, "time_to_numbness_s": ttn, "message": message}})
        return out

    def _last_day(self, desk: str | None) -> date | None:
        if not self.exists:
            return None
        with self._log() as conn:
            where, params = (" WHERE desk = ?", (desk,)) if desk else ("", ())
            row = conn.execute(
                f"SELECT date(max(minute_utc), 'localtime') FROM minutes{where}",
                params).fetchone()
            return date.fromisoformat(row[0]) if row and row[0] else None

    @contextlib.contextmanager
    def _log(self) -> Iterator[sqlite3.Connection]:
        """The log opened read-only, its errors as `_reading` says, closed after."""
        with self._reading():
            conn = open_log(self.db_path)
            try:
                yield conn
            finally:
                conn.close()

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """The log's errors as a browser may see them: the file's path becomes "the log"
        (the full message goes to the server's log); SQLite's own errors, a ReportError."""
        try:
            yield
        except ReportError as error:
            log.info("history: %s", error)
            raise type(error)(self._without_path(str(error))) from None
        except (sqlite3.DatabaseError, ValueError) as error:  # a damaged log, odd dates in it
            log.warning("history: cannot read %s: %s", self.db_path, error)
            raise ReportError(f"the log cannot be read ({self._without_path(str(error))})"
                              ) from None

    def _without_path(self, text: str) -> str:
        """edge.report starts a message with the path ("<path>: no minutes logged ..."); a
        path with a directory in it is taken out anywhere (a bare file name says nothing)."""
        if not self.db_path:
            return text
        path = Path(self.db_path)
        forms = {self.db_path, str(path), str(path.resolve()), path.resolve().as_uri()}
        for form in sorted(forms, key=len, reverse=True):
            if text.startswith(f"{form}: "):
                text = "the log: " + text[len(form) + 2:]
            elif "/" in form:
                text = text.replace(form, "the log")
        return text


def _within(day: date) -> date:
    return min(max(day, FIRST_DAY), LAST_DAY)

