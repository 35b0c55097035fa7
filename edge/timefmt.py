"""The one text format for moments that leave the agent: ISO 8601, UTC, milliseconds, "Z"."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(moment: datetime) -> str:
    """2026-11-21T09:05:00.000Z: sorts as text, and SQLite's date functions read it."""
    if moment.tzinfo is None:
        raise ValueError("the clock must return timezone-aware datetimes")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
