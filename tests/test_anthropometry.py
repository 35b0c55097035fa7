"""The anthropometric body (firmware_sim/anthropometry.py): physics checks that do not
depend on the estimator.

Seat load against body weight, ischial peak pressures against the published ranges
(docs/simulator.md, "The anthropometric body"), what each posture does to the load and
the thighs, the sensor placement errors and their ranges, determinism, and that its
traces replay through the agent without a decode error.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edge.agent import replay_trace
from edge.cli import main
from edge.config import SimConfig, load_config
from edge.sources.trace import TraceReader
from firmware_sim.anthropometry import AnthropometricBody
from firmware_sim.body import counts_to_kpa
from firmware_sim.scenario import Scenario, Segment, Shift, get_scenario
from firmware_sim.simulation import BODY_MODELS, Sitter, write_simulated_trace

LEFT, RIGHT = 1, 2
CELL_M2 = 0.028**2
SETTLED = np.arange(70.0, 110.0, 0.5)     # inside the held posture of `held()`
SEEDS = range(1, 7)


def held(posture: str, activity: str = "still", *, shifts: tuple[Shift, ...] = ()) -> Scenario:
    """Upright for a minute, then `posture` from t = 60 s (settled by 62.5 s)."""
    segments = [Segment("upright", "still", 60.0)]
    if posture != "upright" or activity != "still":
        segments.append(Segment(posture, activity, 120.0, transition_s=2.5, shifts=shifts))
    return Scenario(name=f"held_{posture}", seed=1, segments=tuple(segments))


def centred(weight_kg: float = 75.0, seat: str = "hard", seed: int = 3,
            **kwargs: object) -> AnthropometricBody:
    """A body on a mat laid straight and centred, so that mat halves are body halves."""
    return AnthropometricBody(weight_kg=weight_kg, seat=seat, seed=seed, mat_offset_mm=(0.0, 0.0),
                              mat_rotation_deg=0.0, **kwargs)


def mean_map(body: AnthropometricBody, scenario: Scenario, t: np.ndarray = SETTLED) -> np.ndarray:
    return body.pressure_kpa(scenario, t).mean(axis=0)


def force_n(kpa_map: np.ndarray) -> float:
    return float(kpa_map.sum() * CELL_M2 * 1000.0)


def centre_row(kpa_map: np.ndarray) -> float:
    rows = np.arange(kpa_map.shape[0])[:, None]
    return float((kpa_map * rows).sum() / kpa_map.sum())


def left_share(body: AnthropometricBody, scenario: Scenario, kpa_map: np.ndarray) -> float:
    """The load on the occupant's left of the pelvis midline (a centred, straight mat)."""
    lateral_mm = body.segment_plan(scenario)[-1]["pelvis_lateral_mm"]
    columns = np.arange(body.cols) + 0.5
    cell_lateral = (body.cols / 2.0 - columns) * body.pitch_mm    # + toward the left
    weight = np.clip((cell_lateral - lateral_mm) / body.pitch_mm + 0.5, 0.0, 1.0)
    return float((kpa_map * weight[None, :]).sum() / kpa_map.sum())


# --- the seat load ----------------------------------------------------------------------

@pytest.mark.parametrize("seat", ["hard", "cushioned"])
def test_seat_carries_sixty_to_seventy_five_percent_of_body_weight_upright(seat: str) -> None:
    """Upright with the feet on the floor the seat carries what the lower legs, the feet, part
    of the thighs and the backrest do not: about 0.63-0.75 of body weight."""
    for seed in SEEDS:
        for weight in (48.0, 80.0, 125.0):
            share = force_n(mean_map(centred(weight, seat, seed), held("upright"))) / (
                weight * 9.80665)
            assert 0.60 <= share <= 0.76, (seed, weight, share)


def test_a_misplaced_mat_still_sees_most_of_the_load() -> None:
    for seed in SEEDS:
        body = AnthropometricBody(weight_kg=80.0, seat="cushioned", seed=seed)
        share = force_n(mean_map(body, held("upright"))) / (80.0 * 9.80665)
        assert 0.5 <= share <= 0.76, (seed, share)


@pytest.mark.parametrize(("seat", "low", "high"), [("hard", 20.0, 60.0), ("cushioned", 8.0, 27.0)])
def test_ischial_peak_lies_in_the_published_range(seat: str, low: float, high: float) -> None:
    """Peak under the ischial tuberosities: ~36-41 kPa on a hard seat (Li et al. 2018),
    17 +- 4 kPa on a soft seat (Linder-Ganz et al. 2007); 28 mm cells smooth the very top."""
    for seed in SEEDS:
        for weight in (48.0, 80.0, 125.0):
            body = centred(weight, seat, seed)
            kpa = body.pressure_kpa(held("upright"), SETTLED)
            peak = kpa.max(axis=(1, 2)).mean()
            assert low <= peak <= high, (seed, weight, peak)
            row, _ = np.unravel_index(kpa.mean(axis=0).argmax(), kpa.shape[1:])
            assert row >= body.rows // 2, "the peak is under the buttocks, not the thighs"


def test_heavier_sitters_spread_the_load_over_more_seat() -> None:
    for seed in SEEDS:
        areas = [int((mean_map(centred(w, "hard", seed), held("upright")) > 0.5).sum())
                 for w in (48.0, 80.0, 125.0)]
        assert areas[0] < areas[1] < areas[2], (seed, areas)
        hard = mean_map(centred(80.0, "hard", seed), held("upright")).max()
        soft = mean_map(centred(80.0, "cushioned", seed), held("upright")).max()
        assert soft < 0.8 * hard


# --- postures ---------------------------------------------------------------------------

@pytest.mark.parametrize("posture", ["leaning_left", "leaning_right"])
def test_a_lean_puts_its_drawn_share_of_the_load_on_that_side(posture: str) -> None:
    shares = []
    for seed in range(1, 11):
        body = centred(75.0, "cushioned", seed)
        scenario = held(posture)
        drawn = body.segment_plan(scenario)[-1]["lean_share"]
        assert 0.60 <= drawn <= 0.80
        measured = left_share(body, scenario, mean_map(body, scenario))
        if posture == "leaning_right":
            measured = 1.0 - measured
        assert measured == pytest.approx(drawn, abs=0.035), (seed, drawn, measured)
        shares.append(drawn)
    assert min(shares) < 0.66 and max(shares) > 0.74, "the leans span 60/40 to 80/20"


def test_a_seventy_thirty_lean() -> None:
    """A segment whose lean is drawn near 70/30 puts 70% of the load on the left."""
    for seed in range(1, 200):
        body = centred(75.0, "hard", seed)
        scenario = held("leaning_left")
        drawn = body.segment_plan(scenario)[-1]["lean_share"]
        if abs(drawn - 0.70) < 0.01:
            break
    assert left_share(body, scenario, mean_map(body, scenario)) == pytest.approx(0.70, abs=0.04)


@pytest.mark.parametrize("seat", ["hard", "cushioned"])
def test_a_slouch_moves_the_centre_of_pressure_back_and_unloads_the_thighs(seat: str) -> None:
    variants = set()
    for seed in range(1, 11):
        body = centred(75.0, seat, seed)
        upright, slouched = mean_map(body, held("upright")), mean_map(body, held("slouched"))
        back_mm = (centre_row(slouched) - centre_row(upright)) * body.pitch_mm
        assert back_mm >= 8.0, (seed, back_mm)
        ischia_row = int(np.unravel_index(upright.argmax(), upright.shape)[0])
        ahead = slice(0, ischia_row - 2)          # the thighs: > 5 cm ahead of the ischia
        assert slouched[ahead].sum() < 0.6 * upright[ahead].sum(), seed
        variants.add(body.segment_plan(held("slouched"))[-1]["slouch"])
    assert variants == {"feet_tucked", "legs_stretched"}


@pytest.mark.parametrize("seat", ["hard", "cushioned"])
def test_a_tucked_foot_is_a_concentrated_spot_above_the_upright_peak(seat: str) -> None:
    for seed in SEEDS:
        body = centred(75.0, seat, seed)
        upright_peak = body.pressure_kpa(held("upright"), SETTLED).max(axis=(1, 2)).mean()
        for posture, side in (("foot_under_left", slice(0, 8)), ("foot_under_right",
                                                                  slice(8, 16))):
            tucked = mean_map(body, held(posture))
            assert tucked.max() > 1.2 * upright_peak, (seed, posture)
            _, col = np.unravel_index(tucked.argmax(), tucked.shape)
            assert col in range(16)[side], "the spot is under that side"
            spot = int((tucked > 0.5 * tucked.max()).sum())
            assert spot <= 12 and spot < 0.1 * int((tucked > 0.5).sum()), "a spot, not a plateau"


@pytest.mark.parametrize("posture", ["crossed_left_over_right", "crossed_right_over_left"])
def test_a_crossing_unloads_the_front_of_the_top_thighs_side(posture: str) -> None:
    styles = set()
    for seed in range(1, 13):
        body = centred(75.0, "cushioned", seed)
        upright, crossed = mean_map(body, held("upright")), mean_map(body, held(posture))
        top = slice(0, 8) if posture == "crossed_left_over_right" else slice(8, 16)
        bottom = slice(8, 16) if posture == "crossed_left_over_right" else slice(0, 8)
        front = slice(0, 8)
        assert crossed[front, top].sum() < 0.35 * upright[front, top].sum(), seed
        ischia_row = int(np.unravel_index(upright.argmax(), upright.shape)[0])
        ahead = slice(0, ischia_row - 2)
        assert crossed[ahead, bottom].max() > 1.15 * upright[ahead, bottom].max(), \
            "the bottom thigh carries the top leg"
        styles.add(body.segment_plan(held(posture))[-1]["crossing"])
    assert styles == {"knee_over_knee", "ankle_on_knee"}


def thigh_frame_mg(body: AnthropometricBody, scenario: Scenario, placement: int,
                   t: np.ndarray = SETTLED) -> np.ndarray:
    """Mean specific force in the thigh's own axes (the unit's mounting error undone)."""
    samples = body.imu_samples(scenario, placement, t).astype(np.float64)
    mount = body.imu_mounting(placement)
    return (samples[:, :3] @ mount.T).mean(axis=0)


def test_a_standing_thigh_reads_minus_one_g_along_x_once_the_mounting_is_undone() -> None:
    for seed in SEEDS:
        body = AnthropometricBody(weight_kg=75.0, seat="hard", seed=seed)
        for placement in (LEFT, RIGHT):
            ax, ay, az = thigh_frame_mg(body, held("standing"), placement)
            assert -1040 <= ax <= -955 and abs(ay) < 80 and abs(az) < 130, (seed, ax, ay, az)
            raw = body.imu_samples(held("standing"), placement, SETTLED)[:, :3].mean(axis=0)
            assert np.linalg.norm(raw) == pytest.approx(1000, abs=40)


def test_an_upright_thigh_reads_plus_one_g_along_z() -> None:
    for seed in SEEDS:
        body = AnthropometricBody(weight_kg=75.0, seat="cushioned", seed=seed)
        for placement in (LEFT, RIGHT):
            ax, ay, az = thigh_frame_mg(body, held("upright"), placement)
            assert az > 960 and abs(ax) < 200 and abs(ay) < 200, (seed, ax, ay, az)


@pytest.mark.parametrize(("posture", "top"), [("crossed_left_over_right", LEFT),
                                              ("crossed_right_over_left", RIGHT)])
def test_the_top_thigh_of_a_crossing_rises_and_rolls(posture: str, top: int) -> None:
    for seed in range(1, 13):
        body = AnthropometricBody(weight_kg=75.0, seat="hard", seed=seed)
        scenario = held(posture)
        style = body.segment_plan(scenario)[-1]["crossing"]
        top_mg = thigh_frame_mg(body, scenario, top)
        bottom_mg = thigh_frame_mg(body, scenario, 3 - top)
        toward_other = 1.0 if top == LEFT else -1.0      # ay > 0: the top rolls to the right
        if style == "knee_over_knee":
            assert top_mg[0] > bottom_mg[0] + 200, (seed, top_mg, bottom_mg)
            assert toward_other * top_mg[1] > 150, (seed, top_mg)
        else:  # ankle on the knee: the thigh turns out, its top rolls outward
            assert top_mg[0] > bottom_mg[0] + 50, (seed, top_mg, bottom_mg)
            assert -toward_other * top_mg[1] > 400, (seed, top_mg)


# --- placement and sitter ranges, reproducible from the seed ------------------------------

def test_mounting_errors_and_mat_placement_stay_in_range_and_come_from_the_seed() -> None:
    angles, along, offsets, rotations = [], [], [], []
    for seed in range(200):
        body = AnthropometricBody(weight_kg=70.0, seat="hard", seed=seed)
        described = body.describe()
        assert described == AnthropometricBody(weight_kg=70.0, seat="hard", seed=seed).describe()
        json.dumps(described)
        for name in ("left", "right"):
            mount = described["imu_mounts"][name]
            angles += [mount["roll_deg"], mount["pitch_deg"], mount["yaw_deg"]]
            along.append(mount["along_thigh_error_mm"])
        offsets.append(np.hypot(*described["mat_offset_mm"]))
        rotations.append(described["mat_rotation_deg"])
        rotation = body.imu_mounting(LEFT)
        assert np.allclose(rotation @ rotation.T, np.eye(3))
    assert max(map(abs, angles)) <= 15.0 and max(map(abs, angles)) > 14.0
    assert max(map(abs, along)) <= 30.0 and max(map(abs, along)) > 28.0
    assert max(offsets) <= 40.0 and max(offsets) > 37.0
    assert max(map(abs, rotations)) <= 10.0 and max(map(abs, rotations)) > 9.5
    first = AnthropometricBody(weight_kg=70.0, seat="hard", seed=1).describe()
    assert first != AnthropometricBody(weight_kg=70.0, seat="hard", seed=2).describe()


def test_ischial_spacing_by_sex_and_body_fat_by_weight() -> None:
    spacing: dict[str, list[float]] = {"female": [], "male": []}
    for seed in range(150):
        for sex, values in spacing.items():
            physique = AnthropometricBody(weight_kg=70.0, seat="hard", seed=seed, sex=sex).physique
            values.append(physique.ischial_spacing_mm)
            assert 95.0 <= physique.ischial_spacing_mm <= 150.0
    difference = np.mean(spacing["female"]) - np.mean(spacing["male"])
    assert 9.0 <= difference <= 17.0
    assert 105.0 <= np.mean(spacing["male"]) <= 120.0
    light = AnthropometricBody(weight_kg=50.0, seat="hard", seed=5).physique
    heavy = AnthropometricBody(weight_kg=120.0, seat="hard", seed=5).physique
    assert heavy.body_fat_pct > light.body_fat_pct + 10
    assert heavy.tissue_under_ischia_mm > light.tissue_under_ischia_mm
    assert heavy.hip_breadth_mm > light.hip_breadth_mm


# --- weight shifts, the empty seat, the sensor -------------------------------------------

@pytest.mark.parametrize("kind", ["lift_left", "lift_right", "lean_forward"])
def test_a_weight_shift_offloads_the_ischial_region_by_at_least_thirty_percent(kind: str) -> None:
    scenario = held("upright", "shifts", shifts=(Shift(offset_s=20.0, duration_s=25.0, kind=kind),))
    during, before = np.arange(83.0, 103.0, 0.5), np.arange(65.0, 78.0, 0.5)
    for seed in SEEDS:
        body = centred(75.0, "cushioned", seed)
        ischial = slice(body.rows // 2, body.rows)
        ratio = (mean_map(body, scenario, during)[ischial].sum()
                 / mean_map(body, scenario, before)[ischial].sum())
        assert ratio <= 0.70, (seed, ratio)


def test_an_empty_seat_reads_only_offsets_and_noise() -> None:
    scenario = Scenario(name="away", seed=1, segments=(Segment("empty", "walking", 60.0),))
    body = AnthropometricBody(weight_kg=75.0, seat="hard", seed=4)
    t = np.arange(0.0, 60.0, 0.05)
    counts = body.pressure_counts(scenario, t).astype(np.float64)
    assert counts.max() < 70
    assert np.abs(counts - body.drift_counts(t)).max() < 20
    assert counts_to_kpa(counts - body.drift_counts(t)).max() == 0.0


def test_the_mat_clips_and_the_units_keep_to_their_types() -> None:
    body = AnthropometricBody(weight_kg=130.0, seat="hard", seed=2)
    scenario = held("foot_under_left")
    counts = body.pressure_counts(scenario, SETTLED)
    assert counts.dtype == np.uint16 and counts.shape == (SETTLED.size, 16, 16)
    assert counts.max() <= 4095
    imu = body.imu_samples(scenario, LEFT, SETTLED)
    assert imu.dtype == np.int16 and imu.shape == (SETTLED.size, 6)


# --- determinism ----------------------------------------------------------------------------

def test_one_sample_at_a_time_equals_a_block_and_any_order() -> None:
    scenario = get_scenario("all_postures", seed=4)
    body = AnthropometricBody(weight_kg=82.0, seat="cushioned", seed=9)
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0.0, scenario.duration_s, 300)).round(3)
    block = body.pressure_counts(scenario, t)
    fresh = AnthropometricBody(weight_kg=82.0, seat="cushioned", seed=9)
    one_by_one = np.concatenate([fresh.pressure_counts(scenario, t[i:i + 1])
                                 for i in range(t.size)])
    assert np.array_equal(block, one_by_one)
    order = rng.permutation(t.size)
    assert np.array_equal(body.pressure_counts(scenario, t[order]), block[order])
    for placement in (LEFT, RIGHT):
        imu = body.imu_samples(scenario, placement, t)
        singles = np.concatenate([fresh.imu_samples(scenario, placement, t[i:i + 1])
                                  for i in range(t.size)])
        assert np.array_equal(imu, singles)
        assert np.array_equal(body.imu_samples(scenario, placement, t[order]), imu[order])


# --- wired in: the registry, the configuration, the trace, the CLI ---------------------------

def test_the_registry_the_setting_and_the_cli_name_the_same_models() -> None:
    assert set(BODY_MODELS) == {"standard", "anthropometric"}
    assert SimConfig().body == "standard"
    assert isinstance(Sitter(held("upright"), body_model="anthropometric").body(),
                      AnthropometricBody)
    with pytest.raises(ValueError, match="anthropometric"):
        Sitter(held("upright"), body_model="nobody")
    options = {p.name: p for p in main.commands["sim"].params}
    assert set(options["body_model"].type.choices) == set(BODY_MODELS)


def test_a_trace_of_the_anthropometric_body_replays_without_a_decode_error(tmp_path: Path
                                                                          ) -> None:
    scenario = Scenario(name="short", seed=2, segments=(
        Segment("upright", "still", 15.0),
        Segment("crossed_left_over_right", "fidget", 15.0, transition_s=2.0),
        Segment("standing", "walking", 10.0, transition_s=2.5),
    ))
    path = tmp_path / "anthro.jsonl.gz"
    write_simulated_trace(path, Sitter(scenario, weight_kg=64.0, seat="hard", seed=8,
                                       body_model="anthropometric"))
    reader = TraceReader(path)
    meta = reader.header.meta
    assert meta["body_model"] == "anthropometric"
    assert meta["body"]["model"] == "anthropometric" and meta["body"]["seed"] == 8
    agent = replay_trace(reader, load_config(None))
    counters = {name: d.counters for name, d in agent.pipeline.decoders.by_source.items()}
    assert set(counters) == {"mat", "imu_left", "imu_right"}
    assert all(c.bad_packets == 0 and c.packets > 0 for c in counters.values())


def test_legwake_sim_body_writes_a_trace_that_says_so(tmp_path: Path) -> None:
    out = tmp_path / "cli.jsonl.gz"
    result = CliRunner().invoke(main, ["sim", "walk_away", "--body", "anthropometric",
                                       "--duration", "8", "--trace", str(out)])
    assert result.exit_code == 0, result.output
    assert TraceReader(out).header.meta["body_model"] == "anthropometric"
