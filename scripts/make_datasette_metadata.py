"""Write datasette/metadata.json: the log described for Datasette, generated from the code.

The log's schema (edge/store.py) has a column per posture and three per nerve site
(edge/estimate/labels.py), so the descriptions and units of those columns are
generated here from the same names, and the canned queries are written as SQL text
instead of escaped JSON strings. `tests/test_datasette.py` checks that the file is
what this script writes, that every table, view and column of the schema is
described, and that every canned query runs and returns the right numbers.

    .venv/bin/python scripts/make_datasette_metadata.py            # rewrite the file
    .venv/bin/python scripts/make_datasette_metadata.py --check    # exit 1 if it is stale

Datasette names a database after its file: `legwake.db` (`[log] path`, one desk) and
`fleet.db` (`[collect] db`, every desk) are both described.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from edge.estimate.labels import POSTURES, SEATED, SITES
from edge.store import posture_column, site_columns

ROOT = Path(__file__).resolve().parent.parent
METADATA = ROOT / "datasette" / "metadata.json"
DATABASES = ("legwake", "fleet")

POSTURE_MEANINGS = {
    "empty": "nobody on the seat",
    "upright": "sitting upright",
    "leaning_left": "sitting, leaning to the left",
    "leaning_right": "sitting, leaning to the right",
    "slouched": "sitting slouched, the pelvis rolled back",
    "crossed_left_over_right": "sitting with the left leg crossed over the right",
    "crossed_right_over_left": "sitting with the right leg crossed over the left",
    "foot_under_left": "sitting on the left foot, tucked under",
    "foot_under_right": "sitting on the right foot, tucked under",
    "standing": "standing, the thighs upright",
}

SITE_MEANINGS = {
    "sciatic_left": "the left sciatic nerve, beside the left sit bone (ischial tuberosity)",
    "sciatic_right": "the right sciatic nerve, beside the right sit bone (ischial tuberosity)",
    "thigh_left": "the nerves of the back of the left thigh",
    "thigh_right": "the nerves of the back of the right thigh",
    "peroneal_left": "the left common peroneal nerve, below the outside of the knee "
                     "(pressed by crossing the legs)",
    "peroneal_right": "the right common peroneal nerve, below the outside of the knee "
                      "(pressed by crossing the legs)",
}

UTC_NOTE = "ISO 8601, UTC"

# --- columns shared by several tables ---------------------------------------------------------

SESSION_ID = ("The agent session: <site>/<desk>/<session>, the session being the UTC time "
              "the agent started")
SITE = "The site (building or office) of the desk, from [desk] site"
DESK = "The desk, from [desk] desk"
PERSON = "The sitter's pseudonymous id ([desk] person); blank if not set"
T = "Seconds since the agent started, on the sensors' clock (s)"

# --- tables and views -------------------------------------------------------------------------


def minutes_columns() -> dict[str, str]:
    columns = {
        "session_id": SESSION_ID,
        "minute_utc": f"Start of the minute ({UTC_NOTE}); each row is one whole wall-clock "
                      "minute, except the last of a session stopped cleanly",
        "site": SITE, "desk": DESK, "person": PERSON,
        "t": "Session seconds at the end of the minute's last second (s)",
        "observed_s": "Seconds of the minute with sensor data (60 for a whole minute) (s)",
        "occupied_s": "Seconds someone sat on the seat, in any seated posture: the "
                      "sitting time (s)",
    }
    for posture in POSTURES:
        columns[posture_column(posture)] = f"Seconds {POSTURE_MEANINGS[posture]} (s)"
    columns["confidence_mean"] = "Mean confidence of the posture classifier, 0 to 1"
    for site in SITES:
        mean, peak, ttn = site_columns(site)
        where = SITE_MEANINGS[site]
        columns[mean] = (f"Estimated pressure on {where}: mean over the minute's seconds "
                         "with data (mmHg)")
        columns[peak] = f"Estimated pressure on {where}: highest second of the minute (mmHg)"
        columns[ttn] = (f"Predicted time until {where} goes numb: the lowest of the minute "
                        "while seated; blank if numbness was not coming within the model's "
                        "hour (s)")
    columns.update({
        "min_ttn_s": "The lowest predicted time to numbness of any nerve site in the minute, "
                     "while seated; blank if none was coming within the model's hour (s)",
        "min_ttn_site": "The nerve site of min_ttn_s",
        "reliefs": "Pressure reliefs that qualified in the minute: the load under the sit "
                   "bones at least 30% below the sitter's usual for 15 s or more",
        "fidget_s": "Seconds of fidgeting: the thighs or the seat load moving more than "
                    "breathing and sway (s)",
        "walking_s": "Seconds of walking: thighs upright and swinging (s)",
        "alerts": "Alerts (nudges) raised in the minute",
        "seat_s": "Seconds seated with seat-mat data, over which the seat columns are "
                  "averaged (s)",
        "load_n": "Mean total force on the seat while seated (N)",
        "ppi_mmhg": "Mean peak pressure index while seated: the mean pressure over the "
                    "highest ~9.4 cm2 of the mat (mmHg)",
        "cop_x_mm": "Mean centre of pressure while seated, from the mat's left edge toward "
                    "the sitter's right; 224 is the middle of the 16 x 16 mat (mm)",
        "cop_y_mm": "Mean centre of pressure while seated, from the mat's front edge (under "
                    "the knees) toward the back; 224 is the middle (mm)",
        "seat_map_rows": "Rows of seat_map (front to back)",
        "seat_map_cols": "Columns of seat_map (left to right)",
        "seat_map": "Mean seat-pressure map while seated: float32, little-endian, row by row, "
                    "seat_map_rows x seat_map_cols cells (mmHg)",
    })
    return columns


HEALTH_COLUMNS = {
    "session_id": SESSION_ID,
    "minute_utc": f"Start of the minute ({UTC_NOTE}), as in minutes",
    "sensor": "mat (the seat-pressure mat, serial), imu_left or imu_right (the thigh "
              "sensors, Bluetooth LE)",
    "site": SITE, "desk": DESK,
    "present_s": "Seconds of the minute with data from this sensor (s)",
    "packets": "Packets decoded in the minute",
    "bad_packets": "Packets that failed to decode (framing or checksum) in the minute",
    "gaps": "Gaps in the packets' sequence numbers in the minute",
    "lost": "Packets missing in those gaps",
    "reconnects": "Times the link was re-established in the minute; blank in a replay",
    "battery_pct": "Battery level at the end of the minute (%); blank for the mat and in "
                   "a replay",
}

TABLES: dict[str, dict[str, Any]] = {
    "sessions": {
        "description": "One agent run at a desk: who sat there, when it started and stopped "
                       "and why, and its first and last logged minute. The fleet log hears "
                       "no start or stop, so there a session spans its minutes. A session "
                       "whose agent was killed is closed at its last minute (end_reason "
                       "'crashed').",
        "sort_desc": "last_minute_utc",
        "facets": ["desk", "origin"],
        "columns": {
            "session_id": SESSION_ID, "site": SITE, "desk": DESK, "person": PERSON,
            "origin": "live: read from the sensors; replay: a recorded trace played back",
            "started_utc": f"When the agent started ({UTC_NOTE})",
            "ended_utc": f"When it stopped ({UTC_NOTE}); blank while running",
            "end_reason": "Why it stopped: stopped, trace end (a replay), or crashed (killed, "
                          "and closed at its last minute)",
            "first_minute_utc": f"Its first logged minute ({UTC_NOTE})",
            "last_minute_utc": f"Its last logged minute ({UTC_NOTE})",
        },
    },
    "minutes": {
        "description": "One row per desk and minute: sitting time, seconds in each posture, "
                       "the estimated pressure and predicted time to numbness at each of six "
                       "nerve sites, reliefs, the seat's load and centre of pressure, and "
                       "alerts. Postures: " + ", ".join(POSTURES) + "; the seated ones are "
                       "all but empty and standing.",
        "sort_desc": "minute_utc",
        "columns": minutes_columns(),
    },
    "device_health": {
        "description": "Each sensor's health per minute: seconds with data, packets, decoding "
                       "errors, sequence gaps, reconnects and battery.",
        "sort_desc": "minute_utc",
        "facets": ["sensor", "desk"],
        "columns": HEALTH_COLUMNS,
    },
    "events": {
        "description": "The agent's events, as sent: a new posture, a break starting or "
                       "ending, a sensor lost or back, and the outcome of each alert. "
                       "payload is the whole message as JSON.",
        "sort_desc": "time_utc",
        "facets": ["event", "desk"],
        "columns": {
            "site": SITE, "desk": DESK,
            "id": "The event's id, <session>-e<n>, unique per desk",
            "session_id": SESSION_ID, "t": T,
            "time_utc": f"When it happened ({UTC_NOTE})",
            "event": "posture, break, sensor or outcome",
            "posture": "The new posture (posture events)",
            "confidence": "The classifier's confidence in it, 0 to 1 (posture events)",
            "sensor": "mat, imu_left or imu_right (sensor events)",
            "phase": "start or end (break events); lost or back (sensor events)",
            "payload": "The whole event message, JSON",
        },
    },
    "alerts": {
        "description": "Every nudge and what became of it. An alert is followed for the "
                       "warning it promised ([policy] lead_time_s); then its outcome says "
                       "whether it was acknowledged, snoozed, or answered by a move (the "
                       "posture changing, or getting up). The outcome columns are blank "
                       "until then.",
        "sort_desc": "time_utc",
        "facets": ["kind", "responded", "desk"],
        "columns": {
            "site": SITE, "desk": DESK,
            "id": "The alert's id, <session>-<n>, unique per desk; the buttons answer it",
            "session_id": SESSION_ID, "t": T,
            "time_utc": f"When the alert was raised ({UTC_NOTE})",
            "kind": "numbness (a nerve site heading for numbness) or break (a reminder "
                    "after long sitting)",
            "nerve_site": "The nerve site heading for numbness; blank for a break reminder",
            "posture": "The posture when the alert was raised",
            "time_to_numbness_s": "Predicted time to numbness when raised; blank for a break "
                                  "reminder (s)",
            "message": "What the person was told",
            "acknowledged": "1 if it was acknowledged (cmd/ack) while followed",
            "snoozed": "1 if alerts were snoozed (cmd/snooze) while it was followed",
            "moved": "1 if the person moved within the lead time",
            "response_s": "Time from the alert to the first answer: the move, or else a "
                          "button; blank if none (s)",
            "responded": "moved, ack or snooze: the first answer; blank if none",
            "outcome_time_utc": f"When the outcome was decided ({UTC_NOTE})",
        },
    },
    "feedback": {
        "description": "What people said they felt (cmd/feedback: the dashboard's and Home "
                       "Assistant's buttons), and the sensitivity k the model learned from "
                       "it. k is the person's own: 1 is the calibrated adult, 2 a leg that "
                       "falls asleep in half the time, 0.5 in twice the time.",
        "sort_desc": "time_utc",
        "facets": ["numb", "leg", "learned", "desk"],
        "columns": {
            "site": SITE, "desk": DESK,
            "id": "The feedback event's id, <session>-e<n>", "session_id": SESSION_ID, "t": T,
            "time_utc": f"When the person said it ({UTC_NOTE})",
            "numb": "1: \"my leg fell asleep\"; 0: \"false alarm, I was fine\"",
            "leg": "left or right: the leg named, or the false alarm's alert's",
            "alert_id": "The alert a false alarm was about (alerts.id); blank otherwise",
            "learned": "1 if the report moved k; 0 if it taught nothing (see reason)",
            "reason": "Why it taught nothing: no loaded nerve in that leg (not a positional "
                      "numbness), or an alert unknown to the agent; blank if it taught",
            "sensitivity_before": "k before the report",
            "sensitivity": "k after it: what the alerts use from then on",
            "sensitivity_low": "The 10 % edge of what k may be",
            "sensitivity_high": "The 90 % edge of what k may be",
            "reports": "How many reports k rests on",
        },
    },
    "received": {
        "description": "Internal: the id of every message recorded, so that a message "
                       "delivered twice is counted once.",
        "hidden": True,
        "columns": {
            "site": SITE, "desk": DESK, "id": "The message's id",
            "kind": "session, minute, alert or event",
            "received_utc": f"When it was recorded ({UTC_NOTE})",
        },
    },
    "rejected": {
        "description": "What the fleet collector received and could not record (not JSON, no "
                       "id, not what its kind needs): kept here, and acknowledged, so that it "
                       "does not come back. Many rows from one topic point at a broken or "
                       "hostile sender.",
        "sort_desc": "received_utc",
        "facets": ["topic"],
        "columns": {
            "received_utc": f"When it was refused ({UTC_NOTE})",
            "topic": "The MQTT topic it came on",
            "payload_bytes": "The payload's size (bytes)",
            "payload_head": "The payload's first 256 bytes",
            "reason": "Why it could not be recorded",
        },
    },
    "posture_segments": {
        "description": "View: each posture held, from its posture event to the next (or to "
                       "the end of the session).",
        "sort_desc": "start_utc",
        "facets": ["posture"],
        "columns": {
            "session_id": SESSION_ID, "site": SITE, "desk": DESK,
            "posture": "The posture", "confidence": "The classifier's confidence, 0 to 1",
            "start_utc": f"When it began ({UTC_NOTE})",
            "end_utc": f"When it ended ({UTC_NOTE})",
            "duration_s": "How long it was held (s)",
        },
    },
    "breaks": {
        "description": "View: each break from sitting. A break is recognised once the person "
                       "has been away or standing for [policy] natural_break_min (2 min by "
                       "default): it starts then, so the time since getting up is that much "
                       "longer than duration_s.",
        "sort_desc": "start_utc",
        "columns": {
            "session_id": SESSION_ID, "site": SITE, "desk": DESK,
            "start_utc": f"When the break was recognised ({UTC_NOTE})",
            "end_utc": f"When the person sat down again ({UTC_NOTE}); blank if not yet",
            "duration_s": "From start to end (s)",
        },
    },
}


def units(columns: dict[str, str]) -> dict[str, str]:
    """Datasette units (pint) of the pressure, force and length columns.

    Seconds are left out: Datasette shows a value in its most compact SI form, and
    "1.2 ks" would hide a 20-minute time to numbness.
    """
    suffixes = {"_mmhg": "mmHg", "_n": "N", "_mm": "mm"}
    return {column: unit for column in columns for suffix, unit in suffixes.items()
            if column.endswith(suffix)}


# --- canned queries ---------------------------------------------------------------------------

ISO_FORMAT = "'%Y-%m-%dT%H:%M:%fZ'"


def in_days(column: str) -> str:
    """The UTC column within the local days :from to :to (YYYY-MM-DD; blank: no limit), as
    a range an index on the column serves."""
    return (f"{column} >= coalesce(strftime({ISO_FORMAT}, nullif(:from, ''), 'utc'), '')\n"
            f"  AND {column} < coalesce(strftime({ISO_FORMAT}, nullif(:to, ''), '+1 day', 'utc'),"
            " 'z')")


def at_desk(column: str = "desk") -> str:
    return f"(:desk = '' OR {column} = :desk)"


PARAMS = ["desk", "from", "to"]
PARAMS_NOTE = ("Leave desk blank for every desk; from and to are local days (YYYY-MM-DD), "
               "blank for no limit.")

SITTING_PER_DAY = f"""\
WITH sitting AS (
  SELECT date(minute_utc, 'localtime') AS day, site, desk,
         sum(observed_s) AS observed_s, sum(occupied_s) AS occupied_s
  FROM minutes
  WHERE {at_desk()}
  AND {in_days("minute_utc")}
  GROUP BY day, site, desk
), pauses AS (
  SELECT date(start_utc, 'localtime') AS day, site, desk,
         count(*) AS breaks, sum(duration_s) AS break_s
  FROM breaks
  WHERE {at_desk()}
  AND {in_days("start_utc")}
  GROUP BY day, site, desk
)
SELECT s.day, s.site, s.desk,
       round(s.observed_s / 3600.0, 2) AS hours_observed,
       round(s.occupied_s / 3600.0, 2) AS hours_occupied,
       coalesce(p.breaks, 0) AS breaks,
       round(p.break_s / 60.0, 1) AS break_minutes
FROM sitting s LEFT JOIN pauses p USING (day, site, desk)
ORDER BY s.day DESC, s.site, s.desk"""

UNANSWERED_ALERTS = f"""\
SELECT datetime(time_utc, 'localtime') AS local_time, site, desk, kind, nerve_site, posture,
       time_to_numbness_s, message,
       CASE WHEN outcome_time_utc IS NULL THEN 'no outcome logged' ELSE 'no response' END
         AS status,
       id, session_id
FROM alerts
WHERE coalesce(acknowledged, 0) = 0 AND coalesce(snoozed, 0) = 0 AND coalesce(moved, 0) = 0
  AND {at_desk()}
  AND {in_days("time_utc")}
ORDER BY time_utc DESC"""

ALERTS_PER_DAY = f"""\
SELECT date(time_utc, 'localtime') AS day, site, desk,
       count(*) AS alerts,
       sum(kind = 'numbness') AS numbness_alerts,
       sum(kind = 'break') AS break_reminders,
       count(outcome_time_utc) AS with_outcome,
       coalesce(sum(acknowledged OR snoozed OR moved), 0) AS answered,
       coalesce(sum(moved), 0) AS moved,
       coalesce(sum(acknowledged), 0) AS acknowledged,
       coalesce(sum(snoozed), 0) AS snoozed,
       round(100.0 * coalesce(sum(acknowledged OR snoozed OR moved), 0)
             / nullif(count(outcome_time_utc), 0), 1) AS response_rate_pct,
       round(avg(response_s), 1) AS mean_response_s
FROM alerts
WHERE time_utc IS NOT NULL
  AND {at_desk()}
  AND {in_days("time_utc")}
GROUP BY day, site, desk
ORDER BY day DESC, site, desk"""


def posture_distribution() -> str:
    sums = ",\n         ".join(f"sum({posture_column(p)}) AS {posture_column(p)}"
                               for p in POSTURES)
    rows = "\n  UNION ALL ".join(
        f"SELECT site, desk, '{p}', {posture_column(p)}, observed_s, occupied_s FROM per_desk"
        for p in POSTURES)
    seated = ", ".join(f"'{p}'" for p in POSTURES if p in SEATED)
    return f"""\
WITH per_desk AS (
  SELECT site, desk, sum(observed_s) AS observed_s, sum(occupied_s) AS occupied_s,
         {sums}
  FROM minutes
  WHERE {at_desk()}
  AND {in_days("minute_utc")}
  GROUP BY site, desk
), postures (site, desk, posture, seconds, observed_s, occupied_s) AS (
  {rows}
)
SELECT site, desk, posture,
       round(seconds / 3600.0, 2) AS hours,
       round(100.0 * seconds / nullif(observed_s, 0), 1) AS pct_of_observed,
       CASE WHEN posture IN ({seated})
            THEN round(100.0 * seconds / nullif(occupied_s, 0), 1) END AS pct_of_sitting
FROM postures
WHERE seconds > 0
ORDER BY site, desk, seconds DESC"""


DEVICE_HEALTH_PROBLEMS = f"""\
SELECT date(h.minute_utc, 'localtime') AS day, h.site, h.desk, h.sensor,
       count(*) AS minutes,
       -- seconds seated without this sensor's data, looked up only where some are missing
       sum(CASE WHEN h.present_s < 60 THEN max(
             (SELECT m.occupied_s FROM minutes m
              WHERE m.session_id = h.session_id AND m.minute_utc = h.minute_utc)
             - h.present_s, 0) ELSE 0 END) AS missing_while_seated_s,
       coalesce(sum(h.bad_packets), 0) AS bad_packets,
       coalesce(sum(h.gaps), 0) AS gaps,
       coalesce(sum(h.lost), 0) AS lost_packets,
       coalesce(sum(h.reconnects), 0) AS reconnects,
       min(h.battery_pct) AS lowest_battery_pct
FROM device_health h
WHERE {at_desk("h.desk")}
  AND {in_days("h.minute_utc")}
GROUP BY day, h.site, h.desk, h.sensor
HAVING missing_while_seated_s > 0 OR sum(h.bad_packets) > 0 OR sum(h.gaps) > 0
    OR sum(h.lost) > 0 OR sum(h.reconnects) > 0
    OR min(h.battery_pct) < CAST(coalesce(nullif(:battery_below_pct, ''), 20) AS INTEGER)
ORDER BY day DESC, h.site, h.desk, h.sensor"""

NO_DATA_S = 300
"""Seated minutes further apart than this (away, or the agent down) end a sitting stretch."""

LONGEST_SITTING_STRETCHES = f"""\
WITH stream AS (
  SELECT site, desk, person, minute_utc AS at_utc, 0 AS is_break, occupied_s,
         CAST(strftime('%s', minute_utc) AS INTEGER) AS epoch_s
  FROM minutes
  WHERE occupied_s > 0
  AND {at_desk()}
  AND {in_days("minute_utc")}
  UNION ALL
  SELECT site, desk, NULL, start_utc, 1, 0, NULL
  FROM breaks
  WHERE {at_desk()}
  AND {in_days("start_utc")}
), counted AS (
  SELECT *, sum(is_break) OVER (PARTITION BY site, desk ORDER BY at_utc, is_break DESC
                                ROWS UNBOUNDED PRECEDING) AS breaks_so_far
  FROM stream
), seated AS (
  SELECT *,
         lag(epoch_s) OVER after AS previous_s,
         lag(breaks_so_far) OVER after AS previous_breaks
  FROM counted
  WHERE is_break = 0
  WINDOW after AS (PARTITION BY site, desk ORDER BY at_utc)
), numbered AS (
  SELECT *,
         sum(previous_s IS NULL OR epoch_s - previous_s > 60 + {NO_DATA_S}
             OR breaks_so_far > previous_breaks)
           OVER (PARTITION BY site, desk ORDER BY at_utc) AS stretch
  FROM seated
)
SELECT date(min(at_utc), 'localtime') AS day, site, desk, max(person) AS person,
       datetime(min(at_utc), 'localtime') AS local_start,
       datetime(max(at_utc), '+60 seconds', 'localtime') AS local_end,
       round((max(epoch_s) + 60 - min(epoch_s)) / 60.0, 1) AS duration_min,
       round(sum(occupied_s) / 60.0, 1) AS seated_min
FROM numbered
GROUP BY site, desk, stretch
ORDER BY duration_min DESC, local_start"""

SENSITIVITY_PER_DESK = f"""\
WITH said AS (
  SELECT *, row_number() OVER (PARTITION BY site, desk ORDER BY time_utc DESC, t DESC)
              AS newest
  FROM feedback
  WHERE {at_desk()}
  AND {in_days("time_utc")}
)
SELECT site, desk,
       sum(numb = 1) AS legs_fell_asleep,
       sum(numb = 0) AS false_alarms,
       sum(learned = 0) AS taught_nothing,
       max(CASE WHEN newest = 1 THEN sensitivity END) AS sensitivity,
       max(CASE WHEN newest = 1 THEN sensitivity_low END) AS sensitivity_low,
       max(CASE WHEN newest = 1 THEN sensitivity_high END) AS sensitivity_high,
       max(CASE WHEN newest = 1 THEN reports END) AS reports,
       datetime(max(time_utc), 'localtime') AS last_feedback
FROM said
GROUP BY site, desk
ORDER BY sensitivity DESC, site, desk"""

QUERIES: dict[str, dict[str, Any]] = {
    "sitting_per_day": {
        "title": "Sitting time per day",
        "description": "Per local day and desk: hours with data, hours sitting (minutes."
                       "occupied_s), and the breaks taken and their minutes. " + PARAMS_NOTE,
        "sql": SITTING_PER_DAY,
        "params": PARAMS,
    },
    "unanswered_alerts": {
        "title": "Unanswered alerts",
        "description": "Alerts neither acknowledged, snoozed, nor followed by a move, newest "
                       "first. status 'no outcome logged': the alert is still being "
                       "followed, or its agent stopped before deciding. " + PARAMS_NOTE,
        "sql": UNANSWERED_ALERTS,
        "params": PARAMS,
    },
    "sensitivity_per_desk": {
        "title": "Each person's sensitivity, from their feedback",
        "description": "Per desk: the legs reported fallen asleep, the false alarms, and the "
                       "newest sensitivity k with its 10-90 % band (1: the calibrated adult; "
                       "above 1, numb sooner). The most sensitive first. " + PARAMS_NOTE,
        "sql": SENSITIVITY_PER_DESK,
        "params": PARAMS,
    },
    "alerts_per_day": {
        "title": "Alerts per day and response rate",
        "description": "Per local day and desk: alerts raised (numbness, break reminders), "
                       "how many were answered and how, the response rate among alerts "
                       "with an outcome (%), and the mean response time (s). " + PARAMS_NOTE,
        "sql": ALERTS_PER_DAY,
        "params": PARAMS,
    },
    "posture_distribution": {
        "title": "Posture distribution per desk",
        "description": "Hours in each posture per desk, as a share of the time with data "
                       "and, for the seated postures, of the sitting time (%). " + PARAMS_NOTE,
        "sql": posture_distribution(),
        "params": PARAMS,
    },
    "device_health_problems": {
        "title": "Device health problems",
        "description": "Per local day, desk and sensor, only where something was wrong: "
                       "seconds seated without the sensor's data (at least), packets that "
                       "failed to decode, sequence gaps and the packets lost in them, "
                       "reconnects, or a battery below battery_below_pct (blank: 20). "
                       + PARAMS_NOTE,
        "sql": DEVICE_HEALTH_PROBLEMS,
        "params": [*PARAMS, "battery_below_pct"],
    },
    "longest_sitting_stretches": {
        "title": "Longest sitting stretches",
        "description": "Sitting without a break, longest first: from the first to the end "
                       "of the last minute with someone seated, with no break starting in "
                       f"between and never more than {NO_DATA_S // 60} min without a seated "
                       "minute (away, or the agent down); counted on the local day it began. "
                       "Short "
                       "stand-ups that are not breaks stay inside a stretch: seated_min is "
                       "the time actually seated. " + PARAMS_NOTE,
        "sql": LONGEST_SITTING_STRETCHES,
        "params": PARAMS,
    },
}


def database() -> dict[str, Any]:
    tables = {}
    for name, table in TABLES.items():
        found = units(table["columns"])
        tables[name] = {**table, **({"units": found} if found else {})}
    return {
        "description": "One log of sessions, minutes, device health, events and alerts. "
                       "Times are UTC; the canned queries count days in the local time of "
                       "the machine running Datasette.",
        "tables": tables,
        "queries": QUERIES,
    }


def metadata() -> dict[str, Any]:
    return {
        "title": "legwake: the posture log",
        "description": "What the legwake agents saw and decided at each desk: sitting time, "
                       "postures, the estimated pressure on the nerves of the legs and the "
                       "predicted time until a leg falls asleep, the nudges sent and what "
                       "people did about them, and the health of the sensors.",
        "databases": {name: database() for name in DATABASES},
    }


def render() -> str:
    return json.dumps(metadata(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the file is not what would be written")
    parser.add_argument("--out", type=Path, default=METADATA)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.out.read_text() if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is stale: run scripts/make_datasette_metadata.py",
                  file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
