"""Office days as the agent logs them: realistic messages for `Store.record`.

One `workday` is one agent session at one desk: minutes (postures, nerve-site
pressures and times to numbness, the seat map and centre of pressure, device
health), posture, break and sensor events, numbness and break alerts with their
outcomes. Seeded, so a test can rebuild the same day and check the log against it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from edge.estimate.labels import POSTURES, SEATED, SITES
from edge.store import Message
from edge.timefmt import iso_utc

MAT_CELLS = 16
PITCH_MM = 28.0
PA_PER_MMHG = 133.322
# Posture segments of a sitting block and how long each lasts (minutes).
SEGMENTS = (("upright", 0.35, (4, 15)), ("slouched", 0.15, (3, 10)),
            ("leaning_left", 0.08, (2, 6)), ("leaning_right", 0.08, (2, 6)),
            ("crossed_left_over_right", 0.14, (5, 16)),
            ("crossed_right_over_left", 0.1, (5, 14)),
            ("foot_under_left", 0.05, (3, 8)), ("foot_under_right", 0.05, (3, 8)))
BREAK_AFTER_MIN = 45


@dataclass(frozen=True, slots=True)
class Planned:
    """One minute of the plan: the posture (or "away"), and minutes since it began."""

    posture: str
    in_posture_min: int
    seated_block_min: int


def _plan(rng: random.Random, total_min: int) -> list[Planned]:
    plan: list[Planned] = []
    names = [s[0] for s in SEGMENTS]
    weights = [s[1] for s in SEGMENTS]
    lengths = {s[0]: s[2] for s in SEGMENTS}
    while len(plan) < total_min:
        block = rng.randint(25, 58)
        seated = 0
        while seated < block:
            posture = rng.choices(names, weights)[0]
            low, high = lengths[posture]
            length = min(rng.randint(low, high), block - seated)
            plan += [Planned(posture, k, seated + k) for k in range(length)]
            seated += length
        away = rng.choice(("empty", "empty", "standing"))
        plan += [Planned(away, k, 0) for k in range(rng.randint(3, 8))]
    return plan[:total_min]


def _site_pressures(posture: str, rng: random.Random) -> dict[str, float]:
    """Mean nerve-site pressure (mmHg) of a seated posture."""
    base = {"sciatic_left": 55.0, "sciatic_right": 55.0, "thigh_left": 38.0,
            "thigh_right": 38.0, "peroneal_left": 8.0, "peroneal_right": 8.0}
    if posture == "slouched":
        base["sciatic_left"] = base["sciatic_right"] = 72.0
    elif posture in ("leaning_left", "leaning_right"):
        side = posture.removeprefix("leaning_")
        base[f"sciatic_{side}"] = 78.0
    elif posture.startswith("crossed_"):
        top = "left" if posture == "crossed_left_over_right" else "right"
        base[f"peroneal_{top}"] = 105.0
        base[f"thigh_{top}"] = 20.0
    elif posture.startswith("foot_under_"):
        side = posture.removeprefix("foot_under_")
        base[f"sciatic_{side}"] = 85.0
        base[f"thigh_{side}"] = 70.0
    return {site: max(0.0, value * rng.uniform(0.9, 1.1)) for site, value in base.items()}


def _seat_map(posture: str, rng: random.Random) -> list[list[float]]:
    """A 16 x 16 mean seat map (mmHg): two ischial peaks and the thighs toward the front
    (row 0 is the front edge, column 0 the occupant's left)."""
    left_gain = right_gain = 1.0
    ischial_row = 11.0
    if posture == "leaning_left":
        left_gain, right_gain = 1.35, 0.7
    elif posture == "leaning_right":
        left_gain, right_gain = 0.7, 1.35
    elif posture == "slouched":
        ischial_row = 12.5
    elif posture == "crossed_left_over_right":
        left_gain = 0.75
    elif posture == "crossed_right_over_left":
        right_gain = 0.75
    elif posture == "foot_under_left":
        left_gain = 1.4
    elif posture == "foot_under_right":
        right_gain = 1.4
    cells = []
    for i in range(MAT_CELLS):
        row = []
        for j in range(MAT_CELLS):
            left = left_gain * (150 * math.exp(-((i - ischial_row) ** 2 + (j - 5.0) ** 2) / 3.0)
                                + 45 * math.exp(-((j - 4.5) ** 2) / 2.5) * (i < 10) * (i > 1))
            right = right_gain * (150 * math.exp(-((i - ischial_row) ** 2 + (j - 10.5) ** 2)
                                                 / 3.0)
                                  + 45 * math.exp(-((j - 11.0) ** 2) / 2.5) * (i < 10) * (i > 1))
            value = (left + right) * rng.uniform(0.92, 1.08)
            row.append(round(value if value >= 1.0 else 0.0, 1))
        cells.append(row)
    return cells


def _centre_of_pressure(cells: list[list[float]]) -> tuple[float | None, float | None]:
    total = sum(map(sum, cells))
    if not total:
        return None, None
    x = sum(v * (j + 0.5) * PITCH_MM for row in cells for j, v in enumerate(row)) / total
    y = sum(v * (i + 0.5) * PITCH_MM for i, row in enumerate(cells) for v in row) / total
    return round(x, 2), round(y, 2)


def workday(start: datetime, *, hours: float = 3.0, site: str = "office",
            desk: str = "desk-1", person: str = "p-17", seed: int = 0,
            lose_sensor: bool = True, pending_last: bool = False) -> list[Message]:
    """One agent session at a desk from start (UTC) for so many hours, as messages."""
    rng = random.Random(seed)
    session = start.strftime("%Y%m%dT%H%M%S") + f"{seed % 1000000:06d}Z"
    total_min = round(hours * 60)
    plan = _plan(rng, total_min)
    messages: list[Message] = []
    events: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    count = {"event": 0, "alert": 0}

    def message(kind: str, payload: dict[str, Any]) -> None:
        messages.append(Message(kind, site, desk, payload))

    def event(t: float, **fields: Any) -> dict[str, Any]:
        count["event"] += 1
        payload = {"t": round(t, 3), **fields, "id": f"{session}-e{count['event']}",
                   "time": iso_utc(start + timedelta(seconds=t))}
        events.append(payload)
        return payload

    message("session", {"id": f"{session}-start", "session": session, "phase": "start",
                        "time": iso_utc(start), "person": person, "origin": "live"})
    battery = {"imu_left": rng.randint(88, 99), "imu_right": rng.randint(70, 90)}
    lost_at = total_min // 2 if lose_sensor else -1
    previous = "empty"
    for minute, planned in enumerate(plan):
        t0 = minute * 60.0
        posture = planned.posture
        seated = posture in SEATED
        if posture != previous:
            event(t0 + 0.5, event="posture", posture=posture,
                  confidence=round(rng.uniform(0.75, 0.97), 3))
            if seated and previous not in SEATED and minute:
                event(t0 + 0.5, event="break", phase="end")
            elif not seated and previous in SEATED:
                event(t0 + 0.5, event="break", phase="start")
        postures = dict.fromkeys(POSTURES, 0)
        if seated and planned.in_posture_min == 0 and minute and rng.random() < 0.5:
            settling = rng.randint(3, 12)
            postures["upright" if posture != "upright" else "slouched"] = settling
            postures[posture] = 60 - settling
        else:
            postures[posture] = 60
        occupied_s = sum(s for p, s in postures.items() if p in SEATED)

        sites: dict[str, dict[str, float | None]] = {}
        if seated:
            for name, mean in _site_pressures(posture, rng).items():
                ttn = None
                if mean > 60:
                    ttn = round(max(60.0, 1800.0 - mean * 2 * (planned.in_posture_min + 1)
                                    + rng.uniform(-20, 20)), 1)
                sites[name] = {"mean_mmhg": round(mean, 2),
                               "peak_mmhg": round(mean * rng.uniform(1.15, 1.4), 2),
                               "min_ttn_s": ttn}
        else:
            sites = {name: {"mean_mmhg": None, "peak_mmhg": None, "min_ttn_s": None}
                     for name in SITES}
        ttns = {name: v["min_ttn_s"] for name, v in sites.items() if v["min_ttn_s"] is not None}
        min_site = min(ttns, key=ttns.__getitem__) if ttns else None

        minute_alerts = 0
        if min_site is not None and ttns[min_site] <= 600 and not any(
                a["kind"] == "numbness" and a["t"] > t0 - 600 for a in alerts):
            minute_alerts += 1
            alerts.append({"t": t0 + 20.0, "kind": "numbness", "site": min_site,
                           "posture": posture, "time_to_numbness_s": ttns[min_site]})
        if seated and planned.seated_block_min == BREAK_AFTER_MIN:
            minute_alerts += 1
            alerts.append({"t": t0 + 40.0, "kind": "break", "site": None, "posture": posture,
                           "time_to_numbness_s": None})

        seat: dict[str, Any] = {"seconds": occupied_s, "load_n": None, "ppi_mmhg": None,
                                "cop_x_mm": None, "cop_y_mm": None, "map_mmhg": None}
        if occupied_s:
            cells = _seat_map(posture, rng)
            cop_x, cop_y = _centre_of_pressure(cells)
            seat.update(map_mmhg=cells, cop_x_mm=cop_x, cop_y_mm=cop_y,
                        ppi_mmhg=max(map(max, cells)),
                        load_n=round(sum(map(sum, cells)) * PA_PER_MMHG
                                     * (PITCH_MM / 1000) ** 2, 1))

        health: dict[str, dict[str, int | None]] = {
            "mat": {"present_s": 60, "packets": 1200, "bad_packets": int(rng.random() < 0.05),
                    "gaps": int(rng.random() < 0.02), "lost": rng.choice((0, 0, 0, 1)),
                    "reconnects": 0, "battery_pct": None}}
        for unit in ("imu_left", "imu_right"):
            if minute and minute % 40 == 0:
                battery[unit] -= 1
            health[unit] = {"present_s": 60, "packets": 1500,
                            "bad_packets": int(rng.random() < 0.03),
                            "gaps": int(rng.random() < 0.03), "lost": rng.choice((0, 0, 2)),
                            "reconnects": 0, "battery_pct": battery[unit]}
        if minute == lost_at:
            health["imu_right"].update(present_s=38, packets=950, gaps=1, lost=31, reconnects=1)
            event(t0 + 12.0, event="sensor", sensor="imu_right", phase="lost")
            event(t0 + 34.0, event="sensor", sensor="imu_right", phase="back")

        minute_start = start + timedelta(seconds=t0)
        message("minute", {
            "id": f"{session}-m{minute_start:%Y%m%dT%H%M}", "session": session,
            "person": person, "minute": iso_utc(minute_start), "t": t0 + 60.0,
            "time": iso_utc(minute_start + timedelta(seconds=60)),
            "observed_s": 60, "occupied_s": occupied_s, "postures": postures,
            "confidence_mean": round(rng.uniform(0.8, 0.96), 3), "sites": sites,
            "min_ttn_s": ttns.get(min_site) if min_site else None, "min_ttn_site": min_site,
            "reliefs": rng.choice((0, 0, 1, 2)) if seated else 0,
            "fidget_s": rng.randint(0, 8) if seated else 0,
            "walking_s": rng.randint(10, 50) if posture == "empty" else 0,
            "alerts": minute_alerts, "seat": seat, "health": health})
        previous = posture

    end_s = total_min * 60.0
    if previous not in SEATED:
        event(end_s, event="break", phase="end")
    for number, alert in enumerate(alerts, start=1):
        alert_id = f"{session}-{number}"
        moment = start + timedelta(seconds=alert["t"])
        message("alert", {"t": alert["t"], "event": "alert", "id": alert_id,
                          "kind": alert["kind"], "site": alert["site"],
                          "posture": alert["posture"],
                          "time_to_numbness_s": alert["time_to_numbness_s"],
                          "message": "Uncross your legs" if alert["kind"] == "numbness"
                          else "Time to stand up", "time": iso_utc(moment)})
        if pending_last and number == len(alerts):
            continue
        responded = rng.choices(("moved", "ack", "snooze", None), (0.5, 0.2, 0.1, 0.2))[0]
        response_s = round(rng.uniform(4, 170), 1) if responded else None
        also_moved = responded == "ack" and rng.random() < 0.5
        event(alert["t"] + 180.0, event="outcome", alert_id=alert_id, kind=alert["kind"],
              acknowledged=responded == "ack" or (responded == "moved" and rng.random() < 0.3),
              snoozed=responded == "snooze", moved=responded == "moved" or also_moved,
              response_s=response_s, responded=responded)
    for payload in events:
        message("event", payload)
    message("session", {"id": f"{session}-stop", "session": session, "phase": "stop",
                        "time": iso_utc(start + timedelta(seconds=end_s)), "reason": "stopped"})
    return messages
