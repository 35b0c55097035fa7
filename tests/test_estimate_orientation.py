"""The mat as it is fitted: a mat laid the other way round (the cable at the back) is found
from the sitter's load and read the right way round; a mirrored one is configured, and
"auto" says when the crossings the thigh units see suggest one."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edge.config import load_config
from edge.estimate.orientation import ORIENTATIONS, MatOrientation, back_share, orient
from edge.sources.trace import TraceReader
from firmware_sim.scenario import get_scenario
from firmware_sim.simulation import Sitter, write_simulated_trace
from tests.estimated import estimated


def test_each_orientation_undoes_itself_and_the_back_carries_the_load():
    maps = np.random.default_rng(1).random((3, 16, 16))
    for name in ORIENTATIONS:
        np.testing.assert_array_equal(orient(orient(maps, name), name), maps)
    seated = np.zeros((1, 16, 16))
    seated[0, 10:14, 3:13] = 20.0  # the buttocks
    seated[0, 2:8, 4:12] = 4.0  # the thighs
    assert back_share(seated)[0] > 0.7
    assert back_share(orient(seated, "rotated_180"))[0] < 0.3
    assert back_share(orient(seated, "mirrored"))[0] > 0.7  # a mirror is not seen in it


def test_auto_decides_only_on_enough_seated_windows():
    seated = np.zeros((1, 16, 16))
    seated[0, 10:14, 3:13] = 20.0
    seated[0, 2:8, 4:12] = 4.0
    found = MatOrientation("auto")
    found.observe(np.zeros((50, 16, 16)))  # an empty seat says nothing
    found.observe(np.repeat(orient(seated, "rotated_180"), 19, axis=0))
    assert not found.decided and found.name == "normal"
    found.observe(orient(seated, "rotated_180"))
    assert found.decided and found.name == "rotated_180"
    kept = MatOrientation("mirrored")
    assert kept.decided and kept.name == "mirrored"
    with pytest.raises(ValueError, match="orientation must be one of"):
        MatOrientation("upside_down")


def accuracy(trace, orientation: str, scenario, *, after_s: float = 0.0
             ) -> tuple[float, tuple[str, bool], bool]:
    """Per-second posture accuracy outside transitions (from `after_s` on), how the
    estimator found the mat lying, and whether it suspects a mirror."""
    config = load_config(None)
    config = dataclasses.replace(config, mat=dataclasses.replace(
        config.mat, orientation=orientation, zero_file=""))
    seconds, pipeline = estimated(TraceReader(trace), config, this_mat=True)
    steady = ~scenario.in_transition(seconds.t_s) & (seconds.t_s >= after_s)
    right = seconds.posture_names == scenario.posture_at(seconds.t_s)
    estimator = pipeline.estimator
    return (float(right[steady].mean()), estimator.mat_orientation,
            estimator.mat_mirror_suspected)


@pytest.mark.parametrize("body_model", ["standard", "anthropometric"])
def test_a_mat_laid_any_way_round_reads_as_well_as_one_the_right_way(tmp_path, body_model):
    """Rotated: found from the load within the first seated minute, and read right.
    Mirrored: suspected from the crossings (and said), read right once configured."""
    scenario = get_scenario("all_postures", seed=4)
    half = scenario.duration_s / 2
    results = {}
    for lies in ORIENTATIONS:
        trace = tmp_path / f"{lies}.jsonl.gz"
        write_simulated_trace(trace, Sitter(scenario, seed=4, body_model=body_model,
                                            mat_orientation=lies))
        results[lies, "auto"] = accuracy(trace, "auto", scenario, after_s=half)
        results[lies, lies] = accuracy(trace, lies, scenario)
    normal = results["normal", "auto"][0]  # the second half
    for lies in ("normal", "rotated_180"):
        assert results[lies, "auto"] == (pytest.approx(normal, abs=0.01), (lies, True),
                                         False), lies
    for lies, front in (("mirrored", "normal"), ("rotated_180_mirrored", "rotated_180")):
        score, found, suspected = results[lies, "auto"]
        assert found == (front, False) and suspected, lies  # said, not acted on
    for lies in ORIENTATIONS:  # configured, every way it lies reads the same
        assert results[lies, lies][0] == pytest.approx(results["normal", "normal"][0],
                                                       abs=0.01), lies


def test_without_the_thigh_units_a_mirror_is_not_seen(tmp_path):
    scenario = get_scenario("all_postures", seed=4)
    trace = tmp_path / "mirrored.jsonl.gz"
    write_simulated_trace(trace, Sitter(scenario, seed=4, mat_orientation="mirrored"),
                          imu_transport="none", duration_s=900)
    wrong, found, suspected = accuracy(trace, "auto", scenario)
    right, _, _ = accuracy(trace, "mirrored", scenario)
    assert found == ("normal", False) and not suspected  # the front is known, the sides not
    assert wrong < right - 0.2  # every lean, crossing and tucked foot on the wrong side


def test_a_crossing_tells_left_from_right():
    """The top thigh pitched up and its side's front half unloaded: as it should be; the
    other side's front half unloaded instead: a mirror."""
    crossed = np.zeros((1, 16, 16))
    crossed[0, 10:14, 3:13] = 20.0  # the buttocks
    crossed[0, 2:8, 9:13] = 4.0  # the bottom (right) thigh; the left one is lifted
    pitch = np.array([[25.0, 0.0]])  # the left thigh on top
    found = MatOrientation("auto")
    found.observe(np.repeat(crossed, 20, axis=0))
    assert found.decided and not found.sides_checked
    found.observe_crossings(np.repeat(crossed, 120, axis=0), np.repeat(pitch, 120, 0))
    assert found.sides_checked and not found.mirror_suspected and found.name == "normal"
    mirrored = MatOrientation("auto")
    mirrored.observe(np.repeat(crossed, 20, axis=0))
    mirrored.observe_crossings(np.repeat(crossed[:, :, ::-1], 120, 0), np.zeros((120, 2)))
    assert not mirrored.sides_checked and not mirrored.mirror_suspected  # no crossing seen
    # A tucked foot misread as a crossing votes the wrong way; the crossings outvote it.
    mirrored.observe_crossings(np.repeat(crossed[:, :, ::-1], 10, 0), np.repeat(pitch, 10, 0))
    mirrored.observe_crossings(np.repeat(crossed, 110, 0), np.repeat(pitch, 110, 0))
    assert mirrored.sides_checked and not mirrored.mirror_suspected
    turned = MatOrientation("auto")
    turned.observe(np.repeat(crossed, 20, axis=0))
    turned.observe_crossings(np.repeat(crossed[:, :, ::-1], 120, 0), np.repeat(pitch, 120, 0))
    assert turned.mirror_suspected and turned.name == "normal"  # said, not acted on


def test_the_agent_says_how_the_mat_lies_once_it_knows(tmp_path, caplog):
    """And warns of a mirror the crossings suggest, once."""
    import logging

    from edge.agent import replay_trace

    caplog.set_level(logging.INFO, logger="edge.agent")
    trace = tmp_path / "rotated.jsonl.gz"
    write_simulated_trace(trace, Sitter(get_scenario("crossed_legs", seed=2), seed=2,
                                        mat_orientation="rotated_180"), duration_s=1200)
    replay_trace(TraceReader(trace), load_config(None))
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("the mat")]
    caplog.clear()
    turned = tmp_path / "mirrored.jsonl.gz"
    write_simulated_trace(turned, Sitter(get_scenario("crossed_legs", seed=2), seed=2,
                                         mat_orientation="mirrored"), duration_s=1200)
    replay_trace(TraceReader(turned), load_config(None))
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warned == ["the mat seems to lie turned over (left and right swapped: the thigh on"
                      " top in crossed legs is the one the mat sees loaded); if so, set"
                      ' [mat] orientation = "mirrored"']
    assert said == ["the mat lies rotated by 180 degrees (the cable at the back); it is read "
                    "the right way round (its left and right not yet seen: the thigh units "
                    "show them when the legs cross)",
                    "the mat's left and right are as they should be (seen when the legs "
                    "crossed)"]
