"""The mat as it is fitted: a mat laid the other way round (the cable at the back) is found
from the sitter's load and read the right way round; a mirrored one is configured."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edge.config import load_config
from edge.estimate.estimator import EstimateSeconds
from edge.estimate.orientation import ORIENTATIONS, MatOrientation, back_share, orient
from edge.pipeline import Pipeline
from edge.sources.replay import batches
from edge.sources.trace import TraceReader
from firmware_sim.scenario import get_scenario
from firmware_sim.simulation import Sitter, write_simulated_trace


def test_each_orientation_undoes_itself_and_the_back_carries_the_load():
    maps = np.random.default_rng(1).random((3, 16, 16))
    for name in ORIENTATIONS:
        np.testing.assert_array_equal(orient(orient(maps, name), name), maps)
    seated = np.zeros((1, 16, 16))
    seated[0, 10:14, 3:13] = 20.0  # the buttocks
    seated[0, 2:8, 4:12] = 4.0  # the thighs
    assert back_share(seated)[0] > 0.7
    assert back_share(orient(seated, "rotated_180"))[0] < 0.3
    assert back_share(orient(seated, "mirrored"))[0] > 0.7  # a mirror is not seen


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


def accuracy(trace, orientation: str, scenario) -> tuple[float, tuple[str, bool]]:
    config = load_config(None)
    config = dataclasses.replace(config, mat=dataclasses.replace(
        config.mat, orientation=orientation, zero_file=""))
    reader = TraceReader(trace)
    pipeline = Pipeline.for_sources(reader.header.sources, config, this_mat=True)
    seconds = EstimateSeconds.concat([pipeline.feed(batch)[0] for batch in batches(reader)]
                                     + [pipeline.finish()[0]])
    steady = ~scenario.in_transition(seconds.t_s)
    right = seconds.posture_names == scenario.posture_at(seconds.t_s)
    return float(right[steady].mean()), pipeline.estimator.mat_orientation


@pytest.mark.parametrize("body_model", ["standard", "anthropometric"])
def test_a_mat_the_other_way_round_reads_as_well_as_one_the_right_way(tmp_path, body_model):
    scenario = get_scenario("all_postures", seed=4)
    results = {}
    for lies in ("normal", "rotated_180", "mirrored"):
        trace = tmp_path / f"{lies}.jsonl.gz"
        write_simulated_trace(trace, Sitter(scenario, seed=4, body_model=body_model,
                                            mat_orientation=lies), duration_s=900)
        results[lies, "auto"] = accuracy(trace, "auto", scenario)
        results[lies, lies] = accuracy(trace, lies, scenario)
    normal = results["normal", "auto"][0]
    # Found and corrected: as good as the mat the right way round.
    assert results["rotated_180", "auto"] == (pytest.approx(normal, abs=0.01),
                                              ("rotated_180", True))
    # Configured, every way it lies reads the same.
    for lies in ("rotated_180", "mirrored"):
        assert results[lies, lies][0] == pytest.approx(normal, abs=0.01)
    # A mirror is not seen: configured, or left and right read swapped.
    assert results["mirrored", "auto"][1] == ("normal", True)
    assert results["mirrored", "auto"][0] < normal - 0.2
