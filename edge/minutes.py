"""Per-minute summaries of one desk: what the log keeps of every second.

Owns the folding of per-second estimates into one record per wall-clock minute
(UTC): occupied seconds, seconds per posture, mean and peak pressure and the lowest
time to numbness per nerve site, reliefs, the mean seat-pressure map and centre of
pressure while seated, alerts, and the health of each source over the minute. A
minute is emitted once the data has moved past it, so a record is always whole;
`finish` emits the last, partial one when the agent stops cleanly.

A second belongs to the minute its window started in: the window that ends at
09:05:00.0 is 09:04:59-09:05:00, minute 09:04. No I/O and no clock: time is the
session's start plus the data's seconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from edge.calibration import MMHG_PER_KPA
from edge.estimate.estimator import EstimateSeconds
from edge.estimate.labels import POSTURE_INDEX, POSTURES, SEATED, SITES
from edge.estimate.windows import STREAMS
from edge.timefmt import iso_utc

__all__ = ["Health", "MinuteSummaries"]

_SEATED = np.array([p in SEATED for p in POSTURES])

Health = Callable[[], Mapping[str, Mapping[str, Any]]]
"""Each source's cumulative counters now: packets, bad_packets, gaps, lost (decoders),
reconnects and battery_pct (live links; absent in a replay)."""


def _round(value: float, digits: int = 1) -> float | None:
    return round(float(value), digits) if math.isfinite(value) else None


@dataclass(slots=True)
class _Minute:
    """Running sums of one minute (`key`: minutes since the epoch, UTC)."""

    key: int
    t_end: float = 0.0
    windows: int = 0
    seated: int = 0
    postures: np.ndarray = field(default_factory=lambda: np.zeros(len(POSTURES), np.int64))
    confidence: float = 0.0
    site_sum: np.ndarray = field(default_factory=lambda: np.zeros(len(SITES)))
    site_n: np.ndarray = field(default_factory=lambda: np.zeros(len(SITES), np.int64))
    site_peak: np.ndarray = field(default_factory=lambda: np.full(len(SITES), -np.inf))
    ttn_min: np.ndarray = field(default_factory=lambda: np.full(len(SITES), np.inf))
    reliefs: int = 0
    fidget: int = 0
    walking: int = 0
    alerts: int = 0
    seat_n: int = 0
    load_sum: float = 0.0
    ppi_sum: float = 0.0
    cop_sum: np.ndarray = field(default_factory=lambda: np.zeros(2))
    cop_n: int = 0
    map_sum: np.ndarray | None = None
    present: dict[str, int] = field(default_factory=dict)

    @property
    def start(self) -> datetime:
        return datetime.fromtimestamp(self.key * 60, UTC)


class MinuteSummaries:
    """Folds an agent's seconds into minute records (the log's and the `minute` topic's)."""

    def __init__(self, *, session: str, started_utc: datetime, person: str = "",
                 period_s: float = 1.0, sources: tuple[str, ...] = (),
                 health: Health | None = None):
        self.session = session
        self.started_utc = started_utc.astimezone(UTC)
        self.person = person
        self.period_s = period_s
        self.sources = sources
        self.health = health
        self._epoch = self.started_utc.timestamp()
        self._open: _Minute | None = None
        self._last_health: dict[str, dict[str, Any]] = {}

    def add(self, seconds: EstimateSeconds, t: np.ndarray, numbness: np.ndarray, *,
            relief_times: list[float], alert_times: list[float]) -> list[dict[str, Any]]:
        """Take a feed's seconds (`t`: session seconds at each window's end, `numbness`:
        (n, sites) time to numbness, and the session seconds of its reliefs and alerts);
        returns the minutes it completed."""
        if not len(t):
            return []
        keys = np.floor((self._epoch + t - self.period_s) / 60.0).astype(np.int64)
        reliefs = np.asarray(relief_times, float)
        alerts = np.asarray(alert_times, float)
        done = []
        bounds = np.flatnonzero(np.diff(keys)) + 1
        for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(t)]):
            key = int(keys[lo])
            if self._open is not None and key != self._open.key:
                done.append(self._close())
            if self._open is None:
                self._open = _Minute(key)
            self._fold(self._open, seconds, slice(lo, hi), t, numbness)
            # A feed's reliefs and alerts all land in its minutes, even one timed a little
            # before its first second or after its last.
            after, upto = (t[lo - 1] if lo else -np.inf), (t[hi - 1] if hi < len(t) else np.inf)
            self._open.reliefs += int(np.count_nonzero((reliefs > after) & (reliefs <= upto)))
            self._open.alerts += int(np.count_nonzero((alerts > after) & (alerts <= upto)))
        return done

    def finish(self) -> list[dict[str, Any]]:
        """The open minute, partial, when the agent stops (not when it is killed)."""
        return [self._close()] if self._open is not None else []

    # --- folding -------------------------------------------------------------------------

    def _fold(self, m: _Minute, s: EstimateSeconds, part: slice, t: np.ndarray,
              numbness: np.ndarray) -> None:
        posture = s.posture[part].astype(np.int64)
        seated = _SEATED[posture]
        m.t_end = float(t[part][-1])
        m.windows += len(posture)
        m.seated += int(seated.sum())
        m.postures += np.bincount(posture, minlength=len(POSTURES))
        m.confidence += float(s.confidence[part].sum())
        pressure = s.site_mmHg[part]
        finite = np.isfinite(pressure)
        m.site_sum += np.where(finite, pressure, 0.0).sum(axis=0)
        m.site_n += finite.sum(axis=0)
        if finite.any():
            m.site_peak = np.maximum(m.site_peak, np.where(finite, pressure, -np.inf).max(axis=0))
        ahead = numbness[part]
        if len(ahead):
            ahead = np.where(seated[:, None], ahead, np.inf)
            m.ttn_min = np.minimum(m.ttn_min, ahead.min(axis=0))
        m.fidget += int(s.fidget[part].sum())
        m.walking += int(s.walking[part].sum())
        for sensor in STREAMS:
            m.present[sensor] = m.present.get(sensor, 0) + int(getattr(s, sensor)[part].sum())
        load = s.seat.load_n[part]
        on_seat = seated & np.isfinite(load)
        if on_seat.any():
            m.seat_n += int(on_seat.sum())
            m.load_sum += float(load[on_seat].sum())
            m.ppi_sum += float(np.nansum(s.seat.peak_pressure_index_mmHg[part][on_seat]))
            cop = np.column_stack([s.seat.cop_x_mm[part], s.seat.cop_y_mm[part]])[on_seat]
            good = np.isfinite(cop).all(axis=1)
            m.cop_sum += cop[good].sum(axis=0)
            m.cop_n += int(good.sum())
            if s.seat_kpa is not None:
                maps = s.seat_kpa[part][on_seat]
                maps = np.where(np.isfinite(maps), maps, 0.0).sum(axis=0)
                m.map_sum = maps if m.map_sum is None else m.map_sum + maps

    # --- the record ----------------------------------------------------------------------

    def _close(self) -> dict[str, Any]:
        m = self._open
        assert m is not None
        self._open = None
        period = self.period_s
        sites = {}
        for k, site in enumerate(SITES):
            sites[site] = {
                "mean_mmhg": _round(m.site_sum[k] / m.site_n[k]) if m.site_n[k] else None,
                "peak_mmhg": _round(m.site_peak[k]),
                "min_ttn_s": _round(m.ttn_min[k]),
            }
        worst = int(np.argmin(m.ttn_min))
        soonest = float(m.ttn_min[worst])
        seat: dict[str, Any] = {"seconds": round(m.seat_n * period), "load_n": None,
                                "ppi_mmhg": None, "cop_x_mm": None, "cop_y_mm": None,
                                "map_mmhg": None}
        if m.seat_n:
            seat.update(load_n=_round(m.load_sum / m.seat_n),
                        ppi_mmhg=_round(m.ppi_sum / m.seat_n))
            if m.cop_n:
                seat.update(cop_x_mm=_round(m.cop_sum[0] / m.cop_n),
                            cop_y_mm=_round(m.cop_sum[1] / m.cop_n))
            if m.map_sum is not None:
                grid = np.round(m.map_sum / m.seat_n * MMHG_PER_KPA, 1)
                seat["map_mmhg"] = grid.tolist()
        stamp = m.start.strftime("%Y%m%dT%H%M")
        end = self.started_utc + timedelta(seconds=m.t_end)
        return {
            "id": f"{self.session}-m{stamp}", "session": self.session, "person": self.person,
            "minute": iso_utc(m.start), "t": round(m.t_end, 3), "time": iso_utc(end),
            "observed_s": round(m.windows * period), "occupied_s": round(m.seated * period),
            "postures": {p: round(int(m.postures[i]) * period) for p, i in POSTURE_INDEX.items()},
            "confidence_mean": round(m.confidence / m.windows, 3) if m.windows else None,
            "sites": sites, "min_ttn_s": _round(soonest),
            "min_ttn_site": SITES[worst] if math.isfinite(soonest) else None,
            "reliefs": m.reliefs, "fidget_s": round(m.fidget * period),
            "walking_s": round(m.walking * period), "alerts": m.alerts, "seat": seat,
            "health": self._health(m),
        }

    def _health(self, m: _Minute) -> dict[str, dict[str, Any]]:
        """Each source's counters over this minute (differences of the cumulative ones)."""
        now = {name: dict(values) for name, values in (self.health() if self.health else {}
                                                       ).items()}
        out = {}
        for source in self.sources or tuple(now):
            current = now.get(source, {})
            before = self._last_health.get(source, {})
            row: dict[str, Any] = {"present_s": round(m.present.get(source, 0) * self.period_s)}
            for name in ("packets", "bad_packets", "gaps", "lost", "reconnects"):
                value = current.get(name)
                row[name] = None if value is None else int(value) - int(before.get(name, 0))
            battery = current.get("battery_pct")
            row["battery_pct"] = None if battery is None else int(battery)
            out[source] = row
        self._last_health = now
        return out
