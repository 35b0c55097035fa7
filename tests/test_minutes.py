"""Minute summaries and alert outcomes: the folding of seconds, whatever the feed sizes."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import numpy as np
import pytest

from edge.calibration import MMHG_PER_KPA
from edge.estimate.ergonomics import SeatFeatures
from edge.estimate.estimator import EstimateSeconds
from edge.estimate.labels import POSTURES, SITES
from edge.minutes import MinuteSummaries
from edge.outcomes import AlertOutcomes

START = datetime(2026, 11, 21, 9, 0, 30, tzinfo=UTC)  # half way into a minute


def seconds(n: int, *, posture: str = "upright", site_mmhg: float = 40.0,
            kpa: float = 2.0) -> EstimateSeconds:
    seated = posture not in ("empty", "standing")
    empty = EstimateSeconds.empty()
    seat = SeatFeatures(**{f.name: np.full(n, 1.0) for f in dataclasses.fields(SeatFeatures)})
    return dataclasses.replace(
        empty, t_s=np.zeros(n), posture=np.full(n, POSTURES.index(posture), np.int8),
        confidence=np.full(n, 0.9), site_mmHg=np.full((n, len(SITES)), site_mmhg),
        seat=seat, relief=np.zeros(n, bool), fidget=np.zeros(n, bool),
        walking=np.zeros(n, bool), mat=np.ones(n, bool), imu_left=np.ones(n, bool),
        imu_right=np.zeros(n, bool), probabilities=np.zeros((n, len(POSTURES))),
        offload=np.zeros(n), seat_kpa=np.full((n, 16, 16), kpa if seated else 0.0))


def fold(summaries: MinuteSummaries, feed_sizes: list[int], total: int) -> list[dict]:
    """Seconds 1..total (upright until 90, then standing), in feeds of the given sizes."""
    out = []
    t0 = 1
    sizes = iter(feed_sizes)
    while t0 <= total:
        n = min(next(sizes, 7), total - t0 + 1)
        t = np.arange(t0, t0 + n, dtype=float)
        part = seconds(n)
        part.posture[t > 90] = POSTURES.index("standing")
        numbness = np.full((n, len(SITES)), np.inf)
        numbness[:, 4] = 1000.0 - t
        out += summaries.add(part, t, numbness, relief_times=[45.5] if t0 <= 45 < t0 + n else [],
                             alert_times=[50.0] if t0 <= 50 < t0 + n else [])
        t0 += n
    return out + summaries.finish()


@pytest.mark.parametrize("feeds", [[1] * 200, [150], [13, 59, 61, 2]])
def test_minutes_are_the_same_whatever_the_feed_sizes(feeds):
    summaries = MinuteSummaries(session="S", started_utc=START, person="p-1",
                                sources=("mat",), health=lambda: {"mat": {"packets": 10}})
    minutes = fold(summaries, feeds, 150)
    assert [m["minute"] for m in minutes] == [
        "2026-11-21T09:00:00.000Z", "2026-11-21T09:01:00.000Z", "2026-11-21T09:02:00.000Z"]
    # Window (t-1, t] starts 09:00:30 + t - 1: seconds 1..30 are 09:00, 31..90 are 09:01.
    assert [m["observed_s"] for m in minutes] == [30, 60, 60]
    assert [m["occupied_s"] for m in minutes] == [30, 60, 0]
    assert minutes[2]["postures"]["standing"] == 60
    assert [m["reliefs"] for m in minutes] == [0, 1, 0]
    assert [m["alerts"] for m in minutes] == [0, 1, 0]
    # Time to numbness only counts while seated: the lowest is at second 90.
    assert minutes[1]["min_ttn_s"] == 910.0 and minutes[1]["min_ttn_site"] == "peroneal_left"
    assert minutes[2]["min_ttn_s"] is None
    assert minutes[0]["sites"]["sciatic_left"] == {"mean_mmhg": 40.0, "peak_mmhg": 40.0,
                                                   "min_ttn_s": None}
    grid = np.array(minutes[1]["seat"]["map_mmhg"])
    assert grid.shape == (16, 16) and grid[0, 0] == pytest.approx(2.0 * MMHG_PER_KPA, abs=0.05)
    assert minutes[2]["seat"]["map_mmhg"] is None
    assert minutes[1]["id"] == "S-m20261121T0901" and minutes[1]["person"] == "p-1"
    # Health: the first minute has the counters since the start, then the differences.
    assert [m["health"]["mat"]["packets"] for m in minutes] == [10, 0, 0]
    assert minutes[0]["health"]["mat"]["present_s"] == 30


def test_an_alert_answered_by_a_move_then_one_ignored():
    outcomes = AlertOutcomes(window_s=180)
    outcomes.alert({"id": "S-1", "kind": "numbness", "t": 100.0,
                    "posture": "crossed_left_over_right"})
    out = []
    for t in range(101, 400):
        posture = "crossed_left_over_right" if t < 130 else "upright"
        if t == 120:
            outcomes.command("ack", float(t), "S-1")
        if t == 200:
            outcomes.alert({"id": "S-2", "kind": "break", "t": 200.0, "posture": "upright"})
        out += outcomes.second(float(t), posture, seated=True)
    out += outcomes.finish(400.0)
    first, second = out
    assert first == {"t": 280.0, "event": "outcome", "alert_id": "S-1", "kind": "numbness",
                     "acknowledged": True, "snoozed": False, "moved": True, "response_s": 30.0,
                     "responded": "moved"}
    # A break reminder is answered by getting up; sitting on is no answer.
    assert (second["alert_id"], second["moved"], second["responded"]) == ("S-2", False, None)


def test_a_snooze_is_the_answer_when_nobody_moves():
    outcomes = AlertOutcomes(window_s=60)
    outcomes.alert({"id": "S-1", "kind": "numbness", "t": 0.0, "posture": "upright"})
    outcomes.command("snooze", 12.0, None)
    [result] = [o for t in range(1, 61) for o in outcomes.second(float(t), "upright", True)]
    assert (result["snoozed"], result["moved"], result["responded"], result["response_s"]) == (
        True, False, "snooze", 12.0)


def test_a_move_counts_as_in_time_only_before_the_predicted_numbness():
    """An alert that said 0 s left (numb already) cannot be answered in time; one with 60 s
    left is answered in time by a move at 40 s, not at 90 s."""
    def moved(alerts: list[tuple[str, float]], move_at: int) -> dict[str, bool]:
        outcomes = AlertOutcomes(window_s=180)
        for alert_id, ahead in alerts:
            outcomes.alert({"id": alert_id, "kind": "numbness", "t": 0.0,
                            "posture": "foot_under_left", "time_to_numbness_s": ahead})
        out = [o for t in range(1, 200) for o in outcomes.second(
            float(t), "foot_under_left" if t < move_at else "upright", seated=True)]
        return {o["alert_id"]: o["moved"] for o in out}

    assert moved([("numb", 0.0), ("soon", 60.0)], move_at=40) == {"numb": False, "soon": True}
    assert moved([("soon", 60.0)], move_at=90) == {"soon": False}
