"""edge/estimate/nerve.py: seat pressure and posture -> nerve-site pressure.

The issue's Done-when items run here end to end on the simulated sitter with the TRUE
posture: seat pressure -> site_pressures -> edge.model.simulate at dt = 1 s. "Numb" is
A-beta conduction below 0.5 (shared/reference/physiology.md).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from edge.config import Config, ConfigError, NerveConfig, load_config
from edge.estimate.labels import POSTURE_INDEX, POSTURES, SITE_INDEX, SITES
from edge.estimate.nerve import GRAVITY_M_S2, NerveMapping, site_pressures
from edge.model import FIBERS, simulate, time_to_numbness
from firmware_sim.body import Body
from firmware_sim.scenario import Scenario, Segment, get_scenario

SAMPLE = Path(__file__).resolve().parent.parent / "config.toml"
A_BETA = FIBERS.index("A_beta")
MAPPING = NerveMapping.from_config(NerveConfig())
LEFT_SITES = [SITE_INDEX[s] for s in ("sciatic_left", "thigh_left", "peroneal_left")]
RIGHT_SITES = [SITE_INDEX[s] for s in ("sciatic_right", "thigh_right", "peroneal_right")]


def mapping_for(seat: str) -> NerveMapping:
    return NerveMapping.from_config(NerveConfig(seat=seat))


def codes(*names: str) -> np.ndarray:
    return np.array([POSTURE_INDEX[name] for name in names])


def numb_minutes(name: str, seat: str, weight_kg: float, seed: int,
                 repeat_to_s: float = 0.0) -> tuple[float, np.ndarray, np.ndarray]:
    """Run a scenario through the mapping and the model: (start of the second segment in s,
    the site pressures (T, 6), the minute each site is first numb from that start, inf if
    never). With `repeat_to_s`, the scenario's pressures repeat until that long."""
    scenario = get_scenario(name, seed)
    body = Body(weight_kg=weight_kg, seat=seat, seed=seed)
    t = np.arange(0.0, scenario.duration_s, 1.0)
    pressure = site_pressures(body.pressure_kpa(scenario, t), scenario.posture_index_at(t),
                              mapping_for(seat))
    if repeat_to_s > t.size:
        pressure = np.tile(pressure, (math.ceil(repeat_to_s / t.size), 1))[:int(repeat_to_s)]
    numb = simulate(pressure, dt_s=1.0).conduction[:, :, A_BETA] < 0.5
    start = float(scenario.segment_bounds_s()[1]) if len(scenario.segments) > 1 else 0.0
    first = np.where(numb.any(axis=0), numb.argmax(axis=0) + 1.0 - start, np.inf) / 60.0
    return start, pressure, first


# --- the Done-when items -------------------------------------------------------------


@pytest.mark.parametrize("weight_kg", [45, 75, 100, 130])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_upright_with_shifts_on_a_cushion_never_numb_within_an_hour(seed, weight_kg):
    _, pressure, first = numb_minutes("upright_shifts", "cushioned", weight_kg, seed,
                                      repeat_to_s=3600.0)
    assert pressure.shape == (3600, 6)
    assert np.all(np.isinf(first)), dict(zip(SITES, first))


@pytest.mark.parametrize("weight_kg", [45, 75, 130])
def test_upright_on_a_hard_seat_not_numb_within_an_hour(weight_kg):
    """Hard-seat means of 50-60 mmHg and ischial peaks of 270-310 mmHg (physiology.md) do
    not numb people in minutes: the sciatic attenuation is strong."""
    _, _, first = numb_minutes("upright_shifts", "hard", weight_kg, 4, repeat_to_s=3600.0)
    assert np.all(np.isinf(first)), dict(zip(SITES, first))


@pytest.mark.parametrize("seat", ["cushioned", "hard"])
@pytest.mark.parametrize("weight_kg", [45, 75, 130])
@pytest.mark.parametrize(("scenario", "top"), [("crossed_legs", "left"),
                                               ("crossed_right", "right")])
def test_crossed_leg_held_still_numbs_the_top_peroneal_in_10_to_20_min(scenario, top, weight_kg,
                                                                       seat):
    _, _, first = numb_minutes(scenario, seat, weight_kg, seed=weight_kg % 7)
    top_peroneal = first[SITE_INDEX[f"peroneal_{top}"]]
    assert 10.0 <= top_peroneal <= 20.0, top_peroneal
    bottom = RIGHT_SITES if top == "left" else LEFT_SITES
    assert np.all(np.isinf(first[bottom])), dict(zip(SITES, first))


@pytest.mark.parametrize("seat", ["cushioned", "hard"])
@pytest.mark.parametrize("weight_kg", [45, 75, 130])
@pytest.mark.parametrize(("scenario", "side"), [("foot_under", "left"),
                                                ("foot_under_right", "right")])
def test_tucked_foot_numbs_that_leg_in_10_to_25_min(scenario, side, weight_kg, seat):
    _, _, first = numb_minutes(scenario, seat, weight_kg, seed=weight_kg % 5 + 1)
    tucked, other = (LEFT_SITES, RIGHT_SITES) if side == "left" else (RIGHT_SITES, LEFT_SITES)
    assert 10.0 <= first[SITE_INDEX[f"peroneal_{side}"]] <= 25.0, first
    assert 10.0 <= first[tucked].min() <= 25.0
    assert np.all(np.isinf(first[other])), dict(zip(SITES, first))


def test_reference_points_the_attenuations_are_tuned_to():
    """Thorsson 1987: thigh muscle flow stops at ~85 mmHg skin pressure; that maps to just
    under the model's numbness threshold (no numbness at a constant 85), and its halving
    pressure (40) to under half of it (twice it still does not numb)."""
    thigh = MAPPING.thigh_attenuation
    assert math.isinf(time_to_numbness(85.0 * thigh, horizon_s=7200.0))
    assert time_to_numbness(1.1 * 85.0 * thigh, horizon_s=7200.0) < 1800.0  # within 10%
    assert math.isinf(time_to_numbness(2.0 * 40.0 * thigh, horizon_s=7200.0))
    assert MAPPING.sciatic_attenuation_hard < MAPPING.sciatic_attenuation_cushioned


# --- units ------------------------------------------------------------------------------------


def still(posture: str, seconds: float = 30.0) -> Scenario:
    return Scenario(name=posture, seed=1,
                    segments=(Segment(posture=posture, activity="still", duration_s=seconds),))


def simulated(posture: str, weight_kg: float, seat: str = "cushioned", seed: int = 1,
              ) -> np.ndarray:
    t = np.arange(0.0, 10.0, 1.0)
    return Body(weight_kg=weight_kg, seat=seat, seed=seed).pressure_kpa(still(posture), t)


def test_shapes_and_site_order():
    kpa = simulated("upright", 75)
    out = site_pressures(kpa, codes(*["upright"] * 10), MAPPING)
    assert out.shape == (10, len(SITES)) and out.dtype == np.float64
    assert np.all(np.isfinite(out)) and np.all(out >= 0)
    assert np.all(out[:, [SITE_INDEX["peroneal_left"], SITE_INDEX["peroneal_right"]]] == 0)
    assert site_pressures(np.zeros((0, 16, 16)), codes(), MAPPING).shape == (0, 6)
    assert site_pressures(None, codes(), MAPPING).shape == (0, 6)


def test_not_seated_is_zero_whatever_the_mat_says():
    kpa = simulated("upright", 75)[:2]
    out = site_pressures(kpa, codes("empty", "standing"), MAPPING)
    assert np.all(out == 0)


def test_crossed_loads_only_the_top_peroneal():
    kpa = simulated("crossed_left_over_right", 75)[:1]
    out = site_pressures(np.concatenate([kpa, kpa[:, :, ::-1]]),
                         codes("crossed_left_over_right", "crossed_right_over_left"), MAPPING)
    left, right = SITE_INDEX["peroneal_left"], SITE_INDEX["peroneal_right"]
    assert out[0, left] > 60 and out[0, right] == 0
    assert out[1, right] == pytest.approx(out[0, left]) and out[1, left] == 0


def test_a_crossing_without_the_thigh_units_loads_both_peroneal_nerves():
    """The fibular head is off the mat, and without the thigh units the mat cannot tell for
    sure which leg is on top: both legs get the top leg's load, so whichever it is, its
    numbness is predicted (and an alert comes), never left out."""
    kpa = simulated("crossed_left_over_right", 75)[:1]
    sure = site_pressures(kpa, codes("crossed_left_over_right"), MAPPING)
    unsure = site_pressures(kpa, codes("crossed_left_over_right"), MAPPING,
                            unsure_top=np.array([True]))
    left, right = SITE_INDEX["peroneal_left"], SITE_INDEX["peroneal_right"]
    assert unsure[0, left] == unsure[0, right] == pytest.approx(sure[0, left])
    others = [i for i in range(len(SITES)) if i not in (left, right)]
    np.testing.assert_array_equal(unsure[0, others], sure[0, others])
    upright = site_pressures(simulated("upright", 75)[:1], codes("upright"), MAPPING,
                             unsure_top=np.array([True]))
    assert upright[0, left] == upright[0, right] == 0  # only a crossing


def test_tucked_foot_loads_that_side():
    kpa = simulated("foot_under_right", 75)[:1]
    upright = simulated("upright", 75)[:1]
    out = site_pressures(np.concatenate([kpa, upright]), codes("foot_under_right", "upright"),
                         MAPPING)
    assert out[0, SITE_INDEX["peroneal_right"]] > 60
    assert out[0, SITE_INDEX["peroneal_left"]] == 0
    # The heel in front of the tuberosity and the folded shank show on the mat.
    assert out[0, SITE_INDEX["thigh_right"]] > out[1, SITE_INDEX["thigh_right"]]


def test_a_folded_thigh_loads_its_peroneal_nerve_whatever_the_label():
    """A thigh turned from the sitter's upright `tucked_foot_tilt_deg` more than the other
    says its foot is tucked: on a lean, a slouch or upright its leg's peroneal nerve gets
    what the tucked-foot label would give. Both thighs turned alike (a slouch), one thigh
    unknown, a crossing, or not seated: the label alone."""
    kpa = np.repeat(simulated("foot_under_right", 75)[:1], 4, axis=0)
    right, left = SITE_INDEX["peroneal_right"], SITE_INDEX["peroneal_left"]
    tucked = site_pressures(kpa[:1], codes("foot_under_right"), MAPPING)[0, right]
    labels = codes("leaning_right", "slouched", "upright", "leaning_left")
    folded = np.array([[2.0, 25.0], [3.0, 30.0], [1.0, 12.5], [0.0, 10.0]])
    out = site_pressures(kpa, labels, MAPPING, thigh_tilt_deg=folded)
    np.testing.assert_allclose(out[:, right], tucked)
    assert np.all(out[:, left] == 0)
    others = [i for i in range(len(SITES)) if i != right]
    np.testing.assert_array_equal(out[:, others], site_pressures(kpa, labels, MAPPING)[:, others])

    alike = np.array([[20.0, 25.0], [np.nan, 30.0], [2.0, 11.9], [0.0, 9.9]])
    assert np.all(site_pressures(kpa, labels, MAPPING, thigh_tilt_deg=alike)[:, right] == 0)
    crossed = site_pressures(kpa[:1], codes("crossed_left_over_right"), MAPPING,
                             thigh_tilt_deg=np.array([[2.0, 25.0]]))
    assert crossed[0, right] == 0  # a crossing's own terms, not a tucked foot's
    assert np.all(site_pressures(kpa[:2], codes("standing", "empty"), MAPPING,
                                 thigh_tilt_deg=folded[:2]) == 0)
    with pytest.raises(ValueError, match="thigh_tilt_deg"):
        site_pressures(kpa, labels, MAPPING, thigh_tilt_deg=folded[:, :1])


def test_a_straight_thigh_takes_the_load_off_a_tucked_foot_or_crossing_label():
    """A tucked-foot or crossing label whose leg has turned from upright less than half
    `tucked_foot_tilt_deg` more than the other (a slouch misread) does not load it; a leg
    between the two, or with a thigh unknown, keeps the label's load."""
    half = MAPPING.tucked_foot_tilt_deg / 2
    kpa = np.repeat(simulated("foot_under_right", 75)[:1], 4, axis=0)
    right = SITE_INDEX["peroneal_right"]
    for label in ("foot_under_right", "crossed_right_over_left"):
        labels = codes(*[label] * 4)
        tilt = np.array([[6.0, 6.0], [0.0, half - 0.1], [0.0, half], [np.nan, 1.0]])
        sure = site_pressures(kpa, labels, MAPPING)[:, right]
        out = site_pressures(kpa, labels, MAPPING, thigh_tilt_deg=tilt)[:, right]
        assert np.all(sure > 45)
        np.testing.assert_array_equal(out, [0.0, 0.0, sure[2], sure[3]])


def test_missing_mat_uses_config_values_and_weight():
    posture = codes("upright", "crossed_left_over_right", "foot_under_left", "empty")
    out = site_pressures(None, posture, MAPPING)
    cfg = NerveConfig()
    for row in range(3):
        assert out[row, SITE_INDEX["sciatic_left"]] == cfg.sciatic_without_mat_mmhg
        assert out[row, SITE_INDEX["thigh_right"]] == cfg.thigh_without_mat_mmhg
    force_n = cfg.crossed_leg_load_fraction * cfg.body_weight_kg * GRAVITY_M_S2
    expected = cfg.peroneal_attenuation * force_n / (cfg.crossed_contact_cm2 * 1e-4) \
        / 1000.0 * 7.50062
    assert out[1, SITE_INDEX["peroneal_left"]] == pytest.approx(expected)
    assert out[2, SITE_INDEX["peroneal_left"]] > 45.0  # tucked: numb-level without a mat too
    assert np.all(out[3] == 0)


def test_nan_frames_and_cells():
    kpa = simulated("crossed_left_over_right", 75)[:3].copy()
    posture = codes(*["crossed_left_over_right"] * 3)
    clean = site_pressures(kpa, posture, MAPPING)
    kpa[1] = np.nan  # a lost frame: as without a mat
    kpa[2, 0, 0] = np.nan  # one dead cell in an unloaded corner: no change
    out = site_pressures(kpa, posture, MAPPING)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[1], site_pressures(None, posture[:1], MAPPING)[0])
    np.testing.assert_allclose(out[2], clean[2])


def test_weight_from_the_mat_matches_the_weight_given():
    kpa = simulated("crossed_right_over_left", 90)[:1]
    load_n = kpa.sum() * 0.784
    weight = load_n / (GRAVITY_M_S2 * MAPPING.seat_load_fraction)
    posture = codes("crossed_right_over_left")
    np.testing.assert_allclose(site_pressures(kpa, posture, MAPPING),
                               site_pressures(kpa, posture, MAPPING, weight_kg=weight))
    # A seated frame that weighs almost nothing falls back on the configured weight.
    light = site_pressures(kpa * 0.01, posture, MAPPING)
    configured = site_pressures(kpa * 0.01, posture, MAPPING, weight_kg=MAPPING.body_weight_kg)
    np.testing.assert_allclose(light, configured)


def test_monotonic_in_weight():
    posture = codes("crossed_left_over_right")
    given = [site_pressures(None, posture, MAPPING, weight_kg=w)[0, SITE_INDEX["peroneal_left"]]
             for w in (45, 75, 100, 130)]
    assert np.all(np.diff(given) > 0)
    seated = np.array([site_pressures(simulated("upright", w, seed=3)[:1], codes("upright"),
                                      MAPPING)[0] for w in (45, 75, 100, 130)])
    for site in ("sciatic_left", "sciatic_right", "thigh_left", "thigh_right"):
        assert np.all(np.diff(seated[:, SITE_INDEX[site]]) > 0), site
    crossed = [site_pressures(simulated("crossed_left_over_right", w)[:1], posture,
                              MAPPING)[0, SITE_INDEX["peroneal_left"]] for w in (45, 75, 130)]
    assert np.all(np.diff(crossed) > 0)


def test_seat_type_changes_the_sciatic_attenuation():
    kpa = simulated("upright", 75, seat="hard")[:1]
    soft, hard = (site_pressures(kpa, codes("upright"), mapping_for(seat))[0]
                  for seat in ("cushioned", "hard"))
    ratio = MAPPING.sciatic_attenuation_hard / MAPPING.sciatic_attenuation_cushioned
    assert hard[SITE_INDEX["sciatic_left"]] == pytest.approx(ratio * soft[SITE_INDEX["sciatic_left"]])
    assert hard[SITE_INDEX["thigh_left"]] == soft[SITE_INDEX["thigh_left"]]


def test_bad_input():
    kpa = np.zeros((2, 16, 16))
    with pytest.raises(ValueError, match="posture indices"):
        site_pressures(kpa, np.array([0, len(POSTURES)]), MAPPING)
    with pytest.raises(ValueError, match="integer"):
        site_pressures(kpa, np.array([1.0, 1.0]), MAPPING)
    with pytest.raises(ValueError, match="n = 3"):
        site_pressures(kpa, codes("upright", "upright", "upright"), MAPPING)
    with pytest.raises(ValueError, match="weight_kg"):
        site_pressures(kpa, codes("upright", "upright"), MAPPING, weight_kg=-1.0)
    with pytest.raises(ValueError, match="seat"):
        dataclasses.replace(MAPPING, seat="sofa")
    with pytest.raises(ValueError, match="crossed_contact_cm2"):
        dataclasses.replace(MAPPING, crossed_contact_cm2=0.0)


# --- configuration ----------------------------------------------------------------------------


def test_mapping_has_exactly_the_config_settings():
    assert [f.name for f in dataclasses.fields(NerveMapping)] == \
        [f.name for f in dataclasses.fields(NerveConfig)]


def test_config_round_trip(tmp_path):
    assert NerveMapping.from_config(load_config(SAMPLE).nerve) == MAPPING
    assert NerveMapping.from_config(Config().nerve) == MAPPING
    path = tmp_path / "config.toml"
    path.write_text('[nerve]\nseat = "hard"\nthigh_attenuation = 0.3\ncrossed_contact_cm2 = 25\n',
                    encoding="utf-8")
    mapping = NerveMapping.from_config(load_config(path).nerve)
    assert mapping.seat == "hard" and mapping.sciatic_attenuation == 0.11
    assert mapping.thigh_attenuation == 0.3 and mapping.crossed_contact_cm2 == 25.0
    path.write_text('[nerve]\nseat = "sofa"\nperoneal_attenuation = 2\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert any("[nerve] seat" in line for line in caught.value.errors)
    assert any("[nerve] peroneal_attenuation" in line for line in caught.value.errors)
