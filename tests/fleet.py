"""A simulated desk's day as the agent publishes it: alerts, events and minute summaries.

Used by tests/test_collect.py and bench/collect.py to feed the fleet collector with
realistic payloads (the shapes of schemas/alert.json, schemas/event.json and the minute
summary), deterministic per desk.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from edge.estimate.labels import POSTURES, SITES
from edge.timefmt import iso_utc

DAY_START = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
SEATED = [p for p in POSTURES if p not in ("empty", "standing")]
ALERT_TEXT = {
    "numbness": "Your {site} nerve is under pressure: uncross or shift, and stand up for a minute.",
    "break": "You have been sitting for 45 minutes: time for a short walk.",
}


@dataclass(frozen=True, slots=True)
class Published:
    """One message for a desk's topic: `kind` is the topic's last level."""

    kind: str  # alert | event | minute
    payload: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.payload["id"])


def desk_day(number: int, *, alerts: int = 15, minutes: int = 10,
             seat_maps: bool = True) -> list[Published]:
    """Desk `number`'s messages in the order its agent publishes them: a posture event
    now and then, `alerts` alerts each answered by an outcome event, a break, and one
    minute summary per minute (the last ones with a 16x16 seat map when `seat_maps`)."""
    rng = random.Random(number)
    started = DAY_START + timedelta(seconds=number)
    session = started.strftime("%Y%m%dT%H%M%S") + f"{number:06d}Z"
    out: list[Published] = []
    events = 0

    def event(t: float, **fields: Any) -> None:
        nonlocal events
        events += 1
        out.append(Published("event", {"t": round(t, 3), **fields, "id": f"{session}-e{events}",
                                       "time": iso_utc(started + timedelta(seconds=t))}))

    span_s = minutes * 60.0
    step_s = span_s / (alerts + 1)
    posture = "upright"
    for n in range(1, alerts + 1):
        t = n * step_s
        posture = rng.choice(SEATED)
        event(t - 30.0, event="posture", posture=posture, confidence=round(rng.uniform(0.6, 1), 3))
        kind = "break" if n % 5 == 0 else "numbness"
        site = None if kind == "break" else rng.choice(SITES)
        alert_id = f"{session}-{n}"
        out.append(Published("alert", {
            "t": round(t, 3), "event": "alert", "id": alert_id, "kind": kind, "site": site,
            "posture": posture,
            "time_to_numbness_s": None if kind == "break" else round(rng.uniform(60, 180), 1),
            "message": ALERT_TEXT[kind].format(site=(site or "").replace("_", " ")),
            "time": iso_utc(started + timedelta(seconds=t))}))
        responded = rng.choice(["moved", "ack", "snooze", None])
        event(t + 20.0, event="outcome", alert_id=alert_id, kind=kind,
              acknowledged=responded == "ack", snoozed=responded == "snooze",
              moved=responded == "moved",
              response_s=None if responded is None else round(rng.uniform(2, 60), 1),
              responded=responded)
        if n == alerts // 2:
            event(t + 25.0, event="break", phase="start")
            event(t + 145.0, event="break", phase="end")
    for m in range(minutes):
        out.append(Published("minute", minute_summary(session, started, m, rng,
                                                      seat_map=seat_maps and m >= minutes - 3)))
    return out


def minute_summary(session: str, started: datetime, index: int, rng: random.Random, *,
                   seat_map: bool) -> dict[str, Any]:
    minute = started.replace(second=0, microsecond=0) + timedelta(minutes=index + 1)
    observed = 60
    occupied = rng.choice([60, 60, 60, 45, 0])
    postures: dict[str, int] = {}
    left = occupied
    for posture in rng.sample(SEATED, 2):
        share = rng.randint(0, left)
        postures[posture] = share
        left -= share
    if left:
        postures["upright"] = postures.get("upright", 0) + left
    if observed - occupied:
        postures["empty"] = observed - occupied
    sites = {site: {"mean_mmhg": round(rng.uniform(10, 60), 1),
                    "peak_mmhg": round(rng.uniform(60, 120), 1),
                    "min_ttn_s": round(rng.uniform(300, 3600), 1) if occupied else None}
             for site in SITES}
    ttn = min(((v["min_ttn_s"], s) for s, v in sites.items() if v["min_ttn_s"] is not None),
              default=(None, None))
    t = (minute - started).total_seconds()
    return {
        "id": f"{session}-m{minute.strftime('%Y%m%dT%H%M')}", "session": session,
        "person": "", "minute": iso_utc(minute), "t": t, "time": iso_utc(minute + timedelta(seconds=1)),
        "observed_s": observed, "occupied_s": occupied, "postures": postures,
        "confidence_mean": round(rng.uniform(0.6, 0.95), 3) if occupied else None,
        "sites": sites, "min_ttn_s": ttn[0], "min_ttn_site": ttn[1],
        "reliefs": rng.randint(0, 3), "fidget_s": rng.randint(0, 10),
        "walking_s": 60 - occupied if occupied < 60 else 0, "alerts": rng.randint(0, 1),
        "seat": {"seconds": occupied, "load_n": round(rng.uniform(400, 700), 1),
                 "ppi_mmhg": round(rng.uniform(40, 90), 1),
                 "cop_x_mm": round(rng.uniform(-30, 30), 1),
                 "cop_y_mm": round(rng.uniform(-30, 30), 1),
                 "map_mmhg": [[round(rng.uniform(0, 80), 1) for _ in range(16)]
                              for _ in range(16)] if seat_map and occupied else None},
        "health": {"mat": {"present_s": 60, "packets": 1200, "bad_packets": rng.randint(0, 2),
                           "gaps": 0, "lost": 0, "reconnects": 0, "battery_pct": None}},
    }
