"""The simulated body and the scenario engine: the ground truth everything else is tested on.

Checks the scenario timeline and its validation, that the sensors' values are a pure
function of the requested times (whatever the chunking), and that every posture gives
the seat pressure and thigh motion a physical sitter would (spec/hardware.md for the
axes and the calibration table, reference/physiology.md for the seat pressures).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from firmware_sim.body import (
    MMHG_PER_KPA,
    NOISE_FLOOR_COUNTS,
    Body,
    counts_to_kpa,
    kpa_to_counts,
)
from firmware_sim.scenario import (
    ACTIVITIES,
    POSTURES,
    SCENARIOS,
    Scenario,
    Segment,
    Shift,
    get_scenario,
)

LEFT, RIGHT = 1, 2
CELL_M2 = 0.028**2


def held(posture: str, activity: str = "still", minutes: float = 2.0) -> Scenario:
    """Upright for a minute, then `posture` (from t = 60 s, settled by t = 63 s)."""
    segments = [Segment("upright", "still", 60.0)]
    if posture != "upright" or activity != "still":
        segments.append(Segment(posture, activity, minutes * 60.0, transition_s=2.5))
    return Scenario(name=f"held_{posture}", seed=1, segments=tuple(segments))


def quiet_body(weight_kg: float = 75.0, seat: str = "hard", seed: int = 3) -> Body:
    """A mat without drift and noisy cells: the signal and the sensor noise only."""
    return Body(weight_kg=weight_kg, seat=seat, seed=seed, cell_drift=False, noisy_cells=False)


def seat_mmhg(body: Body, scenario: Scenario, t: np.ndarray) -> np.ndarray:
    """What the agent would read: counts back through the default calibration table, mmHg."""
    return counts_to_kpa(body.pressure_counts(scenario, t)) * MMHG_PER_KPA


def force_n(body: Body, scenario: Scenario, t: np.ndarray) -> np.ndarray:
    return body.pressure_kpa(scenario, t).sum(axis=(1, 2)) * CELL_M2 * 1000.0


SETTLED = np.arange(70.0, 110.0, 0.5)  # inside the held posture of `held()`


# --- scenarios ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_named_scenario_builds_and_round_trips(name: str) -> None:
    for seed in (1, 2, 3, 11):
        scenario = get_scenario(name, seed)
        assert scenario.name == name and scenario.seed == seed
        truth = scenario.ground_truth()
        json.dumps(truth)
        assert truth["duration_s"] == pytest.approx(scenario.duration_s)
        assert truth["segments"][-1]["end_s"] == pytest.approx(scenario.duration_s)
        assert all(1.0 <= tr["end_s"] - tr["start_s"] <= 3.0 for tr in truth["transitions"])
        assert all(s["end_s"] - s["start_s"] >= 17.0 for s in truth["shifts"])
        assert Scenario.from_dict(json.loads(json.dumps(scenario.to_dict()))) == scenario
    assert get_scenario(name, 1) == get_scenario(name, 1)


def test_named_scenarios_hold_what_their_names_say() -> None:
    upright = get_scenario("upright_shifts", 4)
    assert {s.posture for s in upright.segments} == {"upright"}
    assert upright.duration_s == pytest.approx(1800.0)
    assert len(upright.shift_table()) >= 4

    for name, posture in (("crossed_legs", "crossed_left_over_right"),
                          ("crossed_right", "crossed_right_over_left"),
                          ("foot_under", "foot_under_left")):
        segments = get_scenario(name, 5).segments
        assert [s.posture for s in segments] == ["upright", posture, "upright"]
        assert 18 * 60 <= segments[1].duration_s <= 22 * 60
        assert segments[1].activity == "still"

    walk = get_scenario("walk_away", 2)
    away = [s for s in walk.segments if s.posture == "empty"]
    assert [s.activity for s in away] == ["walking"] and 170 <= away[0].duration_s <= 190
    assert walk.segments[0].posture == walk.segments[-1].posture == "upright"

    every = get_scenario("all_postures", 3)
    assert {(s.posture, s.activity) for s in every.segments} >= {
        (p, a) for p in POSTURES for a in ACTIVITIES
        if (a == "walking") == (p in ("standing", "empty")) or (p in ("standing", "empty")
                                                                 and a in ("still", "fidget"))}
    assert all(60 <= s.duration_s <= 120 for s in every.segments if s.posture != "empty"
               or s.activity != "walking")

    demo = get_scenario("demo", 1)
    postures = [s.posture for s in demo.segments]
    assert postures[:2] == ["upright", "crossed_left_over_right"]
    assert 100 <= demo.segments[0].duration_s <= 140  # the leg crosses ~2 min in ...
    assert 13 * 60 <= demo.segments[1].duration_s <= 15 * 60  # ... long enough to go numb
    standing = [s.duration_s for s in demo.segments if s.posture == "standing"]
    assert sum(standing) >= 2.5 * 60  # a natural break ([policy] natural_break_min = 2)
    assert postures.index("standing") < postures.index("crossed_right_over_left")
    assert 45 * 60 <= demo.duration_s <= 60 * 60

    assert get_scenario("workday", 1).duration_s == pytest.approx(7200.0)
    assert get_scenario("workday", 1).to_dict() != get_scenario("workday", 2).to_dict()
    assert get_scenario("random", 1).to_dict() != get_scenario("random", 2).to_dict()
    assert {s.posture for s in get_scenario("random", 8).segments} >= {"empty", "standing"}


def test_get_scenario_names_the_valid_names() -> None:
    with pytest.raises(ValueError, match="upright_shifts.*crossed_legs"):
        get_scenario("nap")


def test_timeline_labels_transitions_and_shifts() -> None:
    scenario = Scenario(name="t", seed=0, segments=(
        Segment("standing", "still", 10.0),
        Segment("upright", "shifts", 100.0, transition_s=2.5,
                shifts=(Shift(offset_s=20.0, duration_s=30.0, kind="lift_left"),)),
        Segment("crossed_left_over_right", "fidget", 50.0, transition_s=1.5),
    ))
    t = np.array([0.0, 9.99, 10.0, 12.0, 12.6, 30.5, 59.9, 60.1, 110.5, 200.0])
    assert list(scenario.posture_at(t)) == [
        "standing", "standing", "upright", "upright", "upright", "upright", "upright",
        "upright", "crossed_left_over_right", "crossed_left_over_right"]
    assert list(scenario.posture_index_at(t[:3])) == [9, 9, 1]
    assert list(scenario.in_transition(t)) == [False, False, True, True, False, False, False,
                                               False, True, False]
    assert list(scenario.in_shift(t)) == [False] * 5 + [True, True, False, False, False]
    truth = scenario.ground_truth()
    assert truth["shifts"] == [{"start_s": 30.0, "end_s": 60.0, "kind": "lift_left", "segment": 1}]
    assert truth["transitions"][1] == {"start_s": 110.0, "end_s": 111.5, "from": "upright",
                                       "to": "crossed_left_over_right",
                                       "from_activity": "shifts", "to_activity": "fidget"}
    assert scenario.activity_at(np.array([111.0]))[0] == "fidget"


@pytest.mark.parametrize("make, message", [
    (lambda: Segment("lying", "still", 10.0), "posture must be one of"),
    (lambda: Segment("upright", "walking", 10.0), "not possible in posture"),
    (lambda: Segment("upright", "still", -1.0), "positive"),
    (lambda: Segment("upright", "still", float("nan")), "finite"),
    (lambda: Segment("upright", "still", 10.0, transition_s=4.0), "transition_s"),
    (lambda: Segment("upright", "shifts", 100.0), "at least one Shift"),
    (lambda: Segment("upright", "still", 100.0, shifts=(Shift(5.0, 20.0, "lift_left"),)),
     "only a 'shifts' segment"),
    (lambda: Shift(5.0, 10.0, "lift_left"), ">= 17"),
    (lambda: Shift(5.0, 20.0, "wiggle"), "kind"),
    (lambda: Segment("upright", "shifts", 25.5, shifts=(Shift(5.0, 20.0, "lift_left"),)),
     "end 1 s before"),
    (lambda: Segment("upright", "shifts", 100.0, transition_s=2.0,
                     shifts=(Shift(1.0, 20.0, "lift_left"),)), "starts before"),
    (lambda: Segment("upright", "shifts", 100.0,
                     shifts=(Shift(40.0, 20.0, "lift_left"), Shift(10.0, 20.0, "lift_right"))),
     "sorted"),
    (lambda: Scenario("s", 1, ()), "at least one segment"),
    (lambda: Scenario("s", 1, (Segment("upright", "still", 10.0, transition_s=1.0),)),
     "first segment"),
    (lambda: Scenario("s", 1, (Segment("upright", "still", 10.0),
                               Segment("slouched", "still", 10.0))), "transition takes"),
    (lambda: Scenario("", 1, (Segment("upright", "still", 10.0),)), "name"),
    (lambda: Scenario("s", -1, (Segment("upright", "still", 10.0),)), "seed"),
    (lambda: Scenario.from_dict({"format": "other"}), "legwake-scenario"),
    (lambda: Scenario.from_dict({"format": "legwake-scenario", "version": 1}), "malformed"),
    (lambda: Scenario.from_dict({"format": "legwake-scenario", "version": 1, "name": "x",
                                 "seed": 1, "segments": ["upright"]}), "malformed"),
    (lambda: Scenario.from_dict([]), "JSON object"),  # type: ignore[arg-type]
])
def test_invalid_timelines_are_refused(make, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        make()


def test_times_must_be_a_flat_array_of_non_negative_seconds() -> None:
    scenario = held("upright")
    with pytest.raises(ValueError, match=">= 0"):
        scenario.posture_at(np.array([-1.0]))
    with pytest.raises(ValueError, match="1-D"):
        quiet_body().pressure_counts(scenario, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="finite"):
        quiet_body().imu_samples(scenario, LEFT, np.array([np.inf]))


# --- the body: contract -----------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"weight_kg": 30.0}, "45..130"),
    ({"weight_kg": 131}, "45..130"),
    ({"seat": "beanbag"}, "cushioned, hard"),
    ({"seed": -1}, "seed"),
    ({"rows": 2}, "rows"),
    ({"pitch_mm": 0.0}, "pitch_mm"),
])
def test_body_is_validated(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"weight_kg": 75.0, "seat": "hard", "seed": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        Body(**args)  # type: ignore[arg-type]


def test_outputs_have_the_contract_shapes_types_and_ranges() -> None:
    scenario = get_scenario("all_postures", 2)
    body = Body(weight_kg=130, seat="hard", seed=9)
    t = np.arange(0.0, scenario.duration_s, 1.0)
    counts = body.pressure_counts(scenario, t)
    assert counts.shape == (t.size, 16, 16) and counts.dtype == np.uint16
    assert counts.max() <= 4095
    imu = body.imu_samples(scenario, RIGHT, t)
    assert imu.shape == (t.size, 6) and imu.dtype == np.int16
    assert body.pressure_counts(scenario, np.array([])).shape == (0, 16, 16)
    assert body.imu_samples(scenario, LEFT, np.array([])).shape == (0, 6)
    small = Body(weight_kg=60, seat="cushioned", seed=1, rows=12, cols=10, pitch_mm=40.0)
    assert small.pressure_counts(scenario, t[:5]).shape == (5, 12, 10)
    with pytest.raises(ValueError, match="placement"):
        body.imu_samples(scenario, 3, t)


def test_values_do_not_depend_on_how_the_times_are_chunked() -> None:
    scenario = get_scenario("all_postures", 1)
    body = Body(weight_kg=82.5, seat="cushioned", seed=7)
    frames = np.arange(0.0, 1500.0, 0.05)  # 20 Hz: every posture change and transition so far
    samples = np.arange(0.0, 1500.0, 0.02)  # 50 Hz
    counts = body.pressure_counts(scenario, frames)
    left = body.imu_samples(scenario, LEFT, samples)

    fresh = Body(weight_kg=82.5, seat="cushioned", seed=7)
    rng = np.random.default_rng(0)
    for times, whole, generate in (
            (frames, counts, lambda t: fresh.pressure_counts(scenario, t)),
            (samples, left, lambda t: fresh.imu_samples(scenario, LEFT, t))):
        cuts = np.sort(rng.choice(np.arange(1, times.size), 400, replace=False))
        pieces = [generate(times[part]) for part in np.split(np.arange(times.size), cuts)]
        assert np.array_equal(np.concatenate(pieces), whole)
        for start in rng.integers(0, times.size - 100, 3):  # one sample at a time, as live
            singles = [generate(times[i:i + 1]) for i in range(start, start + 100)]
            assert np.array_equal(np.concatenate(singles), whole[start:start + 100])
        # Out of order and repeated: still the same values for the same times.
        order = rng.permutation(times.size)[:5000]
        assert np.array_equal(generate(times[order]), whole[order])

    assert not np.array_equal(Body(weight_kg=82.5, seat="cushioned", seed=8)
                              .imu_samples(scenario, LEFT, samples[:500]), left[:500])


# --- the body: seat pressure -------------------------------------------------------------------

def test_upright_sitting_puts_three_quarters_of_the_weight_on_the_seat() -> None:
    scenario = held("upright")
    for weight in (45.0, 75.0, 130.0):
        for seat in ("hard", "cushioned"):
            force = force_n(quiet_body(weight, seat), scenario, SETTLED)
            assert force.mean() == pytest.approx(0.75 * weight * 9.81, rel=0.06)


def test_upright_map_has_two_ischial_peaks_at_the_back_and_thighs_toward_the_front() -> None:
    body = quiet_body()
    pressure = body.pressure_kpa(held("upright"), SETTLED).mean(axis=0)
    back, front = pressure[9:], pressure[:7]
    assert np.unravel_index(np.argmax(pressure), pressure.shape)[0] >= 10
    left_peak = np.unravel_index(np.argmax(pressure[:, :8]), (16, 8))
    right_peak = np.unravel_index(np.argmax(pressure[:, 8:]), (16, 8))
    assert left_peak[0] >= 10 and right_peak[0] >= 10
    assert 2 <= (right_peak[1] + 8) - left_peak[1] <= 7  # tuberosities 10-14 cm apart
    assert front.max() < 0.4 * back.max()
    # Both thighs touch the front half, each on its own side, with a gap between the knees.
    assert pressure[2:6, :6].sum() > 0 and pressure[2:6, 10:].sum() > 0
    assert pressure[2:6, 7:9].sum() < 0.2 * pressure[2:6].sum()


def test_seat_type_gives_the_documented_peak_and_mean_pressures() -> None:
    """Hard seat: ischial peaks ~250-300 mmHg, mean 50-60; cushion: peaks ~60-120 (75 kg)."""
    scenario = held("upright")
    t = SETTLED[::8]
    hard_peaks, hard_means, soft_peaks = [], [], []
    for seed in range(1, 9):
        hard = seat_mmhg(quiet_body(75.0, "hard", seed), scenario, t)
        soft = seat_mmhg(quiet_body(75.0, "cushioned", seed), scenario, t)
        hard_peaks.append(hard.max(axis=(1, 2)).mean())
        hard_means.append(np.mean([frame[frame > 0].mean() for frame in hard]))
        soft_peaks.append(soft.max(axis=(1, 2)).mean())
    assert 250 <= np.median(hard_peaks) <= 300
    assert all(220 <= p <= 350 for p in hard_peaks)
    assert 50 <= np.median(hard_means) <= 60
    assert 85 <= np.median(soft_peaks) <= 120
    assert all(60 <= p <= 130 for p in soft_peaks)
    # The cushion spreads the same load over more cells.
    hard_area = (seat_mmhg(quiet_body(75.0, "hard"), scenario, t) > 0).sum(axis=(1, 2))
    soft_area = (seat_mmhg(quiet_body(75.0, "cushioned"), scenario, t) > 0).sum(axis=(1, 2))
    assert soft_area.mean() > 1.3 * hard_area.mean()


def test_a_heavier_sitter_loads_the_seat_more() -> None:
    scenario = held("upright")
    light, heavy = quiet_body(45.0), quiet_body(130.0)
    assert force_n(heavy, scenario, SETTLED).mean() > 2.5 * force_n(light, scenario, SETTLED).mean()
    assert seat_mmhg(heavy, scenario, SETTLED).max() > seat_mmhg(light, scenario, SETTLED).max()
    assert (heavy.pressure_counts(scenario, SETTLED) > NOISE_FLOOR_COUNTS).sum() > \
        (light.pressure_counts(scenario, SETTLED) > NOISE_FLOOR_COUNTS).sum()


def _halves(body: Body, posture: str) -> dict[str, float]:
    """Force (N) on parts of the mat while `posture` is held: left/right, front/back rows."""
    p = body.pressure_kpa(held(posture), SETTLED).mean(axis=0) * CELL_M2 * 1000.0
    return {"left": p[:, :8].sum(), "right": p[:, 8:].sum(), "front": p[:7].sum(),
            "front_left": p[:7, :8].sum(), "front_right": p[:7, 8:].sum(),
            "back_left": p[9:, :8].sum(), "back_right": p[9:, 8:].sum(), "total": p.sum()}


@pytest.mark.parametrize("seat", ["hard", "cushioned"])
def test_every_posture_has_its_seat_pressure_signature(seat: str) -> None:
    body = quiet_body(seat=seat, seed=4)
    upright = _halves(body, "upright")
    assert upright["left"] == pytest.approx(upright["right"], rel=0.2)

    lean_left, lean_right = _halves(body, "leaning_left"), _halves(body, "leaning_right")
    assert lean_left["left"] > 1.4 * lean_left["right"]
    assert lean_right["right"] > 1.4 * lean_right["left"]

    # Slouching: the pelvis slides forward and rolls back onto the sacrum and coccyx, a
    # midline load behind the tuberosities; the thighs slope down and touch the front less.
    sacral = {}
    for posture in ("upright", "slouched"):
        p = body.pressure_kpa(held(posture), SETTLED).mean(axis=0)
        lateral = np.concatenate([p[:, :6], p[:, 10:]], axis=1)
        it_row = np.argmax(lateral.max(axis=1))
        sacral[posture] = (p[it_row + 1:, 7:9].sum() / p.sum(),
                           p[it_row + 1:, 7:9].max() / lateral.max(), p[:4].sum())
    assert sacral["slouched"][0] > max(0.1, 2.5 * sacral["upright"][0])
    assert sacral["slouched"][1] > 0.8
    assert sacral["slouched"][2] < 0.7 * sacral["upright"][2]

    crossed_l = _halves(body, "crossed_left_over_right")
    crossed_r = _halves(body, "crossed_right_over_left")
    assert crossed_l["front_left"] < 0.5 * upright["front_left"]  # top thigh off the front
    assert crossed_l["back_right"] > 1.3 * crossed_l["back_left"]  # bottom buttock loaded
    assert crossed_r["front_right"] < 0.5 * upright["front_right"]
    assert crossed_r["back_left"] > 1.3 * crossed_r["back_right"]

    for posture, side in (("foot_under_left", slice(0, 8)), ("foot_under_right", slice(8, 16))):
        mmhg = seat_mmhg(body, held(posture), SETTLED).mean(axis=0)
        other = slice(8, 16) if side.start == 0 else slice(0, 8)
        assert mmhg[:, side].max() > 1.15 * mmhg[:, other].max()  # the sharp spot of the foot
        assert mmhg[:, side].max() > 1.1 * seat_mmhg(body, held("upright"), SETTLED).max()

    for posture, activity in (("standing", "still"), ("standing", "walking"), ("empty", "walking"),
                              ("empty", "still")):
        counts = body.pressure_counts(held(posture, activity), SETTLED)
        assert counts.max() <= NOISE_FLOOR_COUNTS  # nobody on the seat: noise floor only


def test_an_empty_seat_reads_under_the_floor_once_zeroed() -> None:
    scenario = get_scenario("walk_away", 1)
    away = next(s for s in scenario.ground_truth()["segments"] if s["posture"] == "empty")
    t = np.arange(away["start_s"] + 5.0, away["end_s"], 0.5)
    quiet = quiet_body().pressure_counts(scenario, t)
    assert quiet.max() <= NOISE_FLOOR_COUNTS
    drifting = Body(weight_kg=75, seat="hard", seed=3, noisy_cells=False)
    raw = drifting.pressure_counts(scenario, t).astype(np.int32)
    assert raw.max() > NOISE_FLOOR_COUNTS  # the drift needs re-zeroing ...
    zero = np.median(raw[:40], axis=0)
    assert np.abs(raw[40:] - zero).max() < NOISE_FLOOR_COUNTS  # ... and re-zeroing removes it


def test_cell_drift_wanders_slowly_by_a_few_tens_of_counts() -> None:
    body = Body(weight_kg=75, seat="hard", seed=2)
    drift = body.drift_counts(np.arange(0.0, 7200.0, 10.0))
    assert drift.min() >= 0 and 30 <= drift.max() <= 70
    change = np.abs(drift[-1] - drift[0])
    assert np.median(change) > 3  # cells wander over the two hours
    assert np.abs(np.diff(drift, axis=0)).max() < 1.0  # but barely move in 10 s


def test_a_few_cells_are_noisy_now_and_then() -> None:
    scenario = held("empty", "still", minutes=60.0)
    t = np.arange(70.0, 3600.0, 1.0)
    plain = Body(weight_kg=75, seat="hard", seed=6, cell_drift=False, noisy_cells=False)
    noisy = Body(weight_kg=75, seat="hard", seed=6, cell_drift=False)
    spread = noisy.pressure_counts(scenario, t).std(axis=0)
    assert 1 <= (spread > 8).sum() <= 4
    assert plain.pressure_counts(scenario, t).std(axis=0).max() < 4


def test_a_weight_shift_offloads_the_ischial_region_by_30_percent_for_15_s() -> None:
    scenario = get_scenario("upright_shifts", 2)
    shifts = scenario.shift_table()
    assert {s["kind"] for s in shifts} >= {"lean_forward", "lift_left"}
    for seat in ("hard", "cushioned"):
        body = quiet_body(seat=seat, seed=5)

        def ischial_n(t: np.ndarray, body: Body = body) -> np.ndarray:
            """Load on the rear 6 rows (the buttocks and tuberosities), as the agent reads it."""
            return counts_to_kpa(body.pressure_counts(scenario, t))[:, -6:].sum(axis=(1, 2))

        for shift in shifts:
            before = ischial_n(np.arange(shift["start_s"] - 20.0, shift["start_s"], 0.5)).mean()
            hold = ischial_n(np.arange(shift["start_s"] + 1.0, shift["end_s"] - 1.0, 0.25))
            assert hold.size >= 15 * 4
            assert hold.max() <= 0.7 * before, shift


def test_transitions_move_the_load_smoothly() -> None:
    body = quiet_body()
    scenario = Scenario(name="sit", seed=1, segments=(
        Segment("standing", "still", 10.0), Segment("upright", "still", 30.0, transition_s=2.5)))
    t = np.arange(9.0, 14.0, 0.05)
    force = force_n(body, scenario, t)
    assert force[t < 10.0].max() == 0.0
    assert np.all(np.diff(force[(t >= 10.0) & (t <= 12.5)]) >= -1.0)  # rising, no jump back
    assert np.abs(np.diff(force)).max() < 0.1 * force[-1]
    assert force[-1] == pytest.approx(0.75 * 75 * 9.81, rel=0.05)


# --- the body: thigh motion --------------------------------------------------------------------

def _mean_imu(body: Body, posture: str, activity: str = "still") -> tuple[np.ndarray, np.ndarray]:
    scenario = held(posture, activity)
    return (body.imu_samples(scenario, LEFT, SETTLED).mean(axis=0),
            body.imu_samples(scenario, RIGHT, SETTLED).mean(axis=0))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_posture_has_its_thigh_signature(seed: int) -> None:
    body = Body(weight_kg=70, seat="cushioned", seed=seed)
    for posture in ("upright", "leaning_left", "leaning_right", "slouched", "empty"):
        for leg in _mean_imu(body, posture):
            assert np.linalg.norm(leg[:3]) == pytest.approx(1000, abs=60)
            assert leg[2] > 900  # thigh near horizontal, top up
    for leg in _mean_imu(body, "slouched"):
        assert leg[0] < -80  # knees lower than the hips

    left, right = _mean_imu(body, "crossed_left_over_right")
    assert left[0] > 250 and left[1] > 100  # knee up, rolled toward the right leg
    assert abs(right[0]) < 150 and right[2] > 950
    left, right = _mean_imu(body, "crossed_right_over_left")
    assert right[0] > 250 and right[1] < -100
    assert abs(left[0]) < 150 and left[2] > 950

    left, right = _mean_imu(body, "foot_under_left")
    assert left[0] < -100 and left[1] < -300  # hip raised by the foot, thigh rolled outward
    assert right[2] > 950
    left, right = _mean_imu(body, "foot_under_right")
    assert right[0] < -100 and right[1] > 300

    for leg in _mean_imu(body, "standing"):
        assert leg[0] == pytest.approx(-1000, abs=60) and abs(leg[2]) < 150


def test_walking_swings_the_thighs_at_about_one_hertz() -> None:
    body = Body(weight_kg=70, seat="hard", seed=2)
    scenario = held("empty", "walking")
    t = np.arange(70.0, 170.0, 0.02)
    left, right = body.imu_samples(scenario, LEFT, t), body.imu_samples(scenario, RIGHT, t)
    for leg in (left, right):
        gy = leg[:, 4] / 10.0  # deg/s: the swing is a pitch, about the thigh's y axis
        spectrum = np.abs(np.fft.rfft(gy - gy.mean()))
        freq = np.fft.rfftfreq(gy.size, 0.02)
        assert 0.75 <= freq[np.argmax(spectrum)] <= 1.1
        assert 60 <= np.percentile(np.abs(gy), 99) <= 250
        assert leg[:, 0].mean() == pytest.approx(-1000, abs=100)
    assert np.corrcoef(left[:, 4], right[:, 4])[0, 1] < -0.8  # the legs swing in antiphase


@pytest.mark.parametrize("placement", [LEFT, RIGHT])
def test_gyro_is_the_rate_of_the_orientation_change(placement: int) -> None:
    """Turning the accelerometer's gravity by the integrated gyro, through sitting down and
    crossing the legs, lands where the accelerometer says gravity is afterwards."""
    body = Body(weight_kg=75, seat="hard", seed=4)
    scenario = Scenario(name="moves", seed=1, segments=(
        Segment("standing", "still", 10.0),
        Segment("upright", "still", 10.0, transition_s=2.5),
        Segment("crossed_left_over_right", "still", 10.0, transition_s=2.0)))
    dt = 0.005
    for start, end, settled in ((9.5, 13.5, (14.0, 19.5)), (19.5, 23.0, (24.0, 29.5))):
        bias = body.imu_samples(scenario, placement, np.arange(*settled, dt))[:, 3:].mean(axis=0)
        imu = body.imu_samples(scenario, placement, np.arange(start, end + 0.5, dt))
        rate = np.radians((imu[:, 3:] - bias) / 10.0)
        gravity = imu[:20, :3].mean(axis=0)
        gravity /= np.linalg.norm(gravity)
        steps = round((end - start) / dt)
        for k in range(steps):  # gravity seen from a turning frame: dg/dt = -w x g
            gravity = gravity - dt * np.cross(rate[k], gravity)
            gravity /= np.linalg.norm(gravity)
        seen = imu[steps:steps + 100, :3].mean(axis=0)
        angle = np.degrees(np.arccos(np.clip(gravity @ seen / np.linalg.norm(seen), -1, 1)))
        moved = np.degrees(np.arccos(np.clip(imu[:20, :3].mean(axis=0) @ seen
                                             / np.linalg.norm(imu[:20, :3].mean(axis=0))
                                             / np.linalg.norm(seen), -1, 1)))
        assert angle < 3.0 and (moved > 20.0 or placement == RIGHT)
    still = body.imu_samples(scenario, placement, np.arange(15.0, 18.0, 0.01))
    assert np.abs(still[:, 3:]).max() < 60  # bias, drift and noise only: under 6 deg/s


def test_thigh_motion_is_continuous() -> None:
    body = Body(weight_kg=75, seat="hard", seed=1)
    scenario = get_scenario("crossed_legs", 1)
    t = np.arange(0.0, scenario.duration_s, 0.02)
    imu = body.imu_samples(scenario, LEFT, t).astype(np.int32)
    assert np.abs(np.diff(imu[:, :3], axis=0)).max() < 120  # mg between 50 Hz samples
    fidget = body.imu_samples(held("upright", "fidget"), LEFT, SETTLED)
    quiet = body.imu_samples(held("upright", "still"), LEFT, SETTLED)
    assert fidget[:, 3:].std(axis=0).max() > 2 * quiet[:, 3:].std(axis=0).max()


def test_calibration_round_trip() -> None:
    kpa = np.array([0.0, 0.3, 0.5, 1.0, 2.0, 10.0, 33.3, 45.0, 89.0, 120.0])
    counts = kpa_to_counts(kpa)
    assert counts[0] == 0 and counts[1] == 0 and counts[2] > NOISE_FLOOR_COUNTS
    assert counts_to_kpa(counts)[2:-1] == pytest.approx(kpa[2:-1])
    assert counts[-1] == 4095
