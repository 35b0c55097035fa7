"""`legwake calibrate` on the simulated mat: the empty-seat zero and the upright baseline."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Self

import numpy as np
import pytest
from click.testing import CliRunner

from edge.calibrate import load
from edge.cli import main
from edge.estimate.features import FEATURES
from edge.estimate.mat_features import MAT_FEATURES
from firmware_sim.clock import SimClock
from firmware_sim.scenario import Scenario, Segment
from firmware_sim.seatmat import PtySeatMat, SeatMatFirmware
from firmware_sim.simulation import Sitter


class MatInThread:
    """The simulated mat playing a sitting on its own event loop, while the CLI runs."""

    def __init__(self, sitter: Sitter, speed: float):
        body, scenario = sitter.body(), sitter.scenario
        self.body = body
        self.mat = PtySeatMat(SeatMatFirmware(pressure=sitter.pressure(body)),
                              SimClock(speed), until_s=scenario.duration_s)
        self.thread = threading.Thread(target=lambda: asyncio.run(self.mat.run()), daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.mat.until_s = 0.0
        self.thread.join(timeout=10)
        self.mat.close()


def config(tmp_path, port: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(f'[mat]\nport = "{port}"\nzero_file = "{tmp_path / "cal.json"}"\n')
    return str(path)


def test_calibrate_zeroes_the_empty_seat_and_records_the_upright_sitter(tmp_path):
    plan = Scenario(name="calibration", seed=3, segments=(
        Segment("empty", "still", 40.0), Segment("upright", "still", 300.0, transition_s=2.0)))
    sitter = Sitter(plan, weight_kg=80.0, seat="cushioned", seed=3)
    with MatInThread(sitter, speed=10.0) as mat:
        result = CliRunner().invoke(main, ["calibrate", "--yes", "--empty-seconds", "1",
                                           "--upright-seconds", "1",
                                           "--config", config(tmp_path, mat.mat.path)])
    assert result.exit_code == 0, result.output
    assert "Saved to" in result.output
    zero, baseline, upright, _sitter = load(tmp_path / "cal.json")
    # The zero is the mat's own drift on the empty seat, to within its noise.
    drift = mat.body.drift_counts(np.array([10.0]))[0]
    assert np.median(np.abs(zero - drift)) < 10
    # An 80 kg sitter puts about 0.75 x 80 x 9.81 = 590 N on the seat.
    assert 400 < baseline.seat_load_n < 800
    assert 0 < baseline.ischial_load_n < baseline.seat_load_n
    assert json.loads((tmp_path / "cal.json").read_text())["format"] == \
        "legwake-mat-calibration"
    # The upright seat features the posture is read against: the mat's, as the estimator
    # computes them; the thighs' are the agent's to learn.
    assert upright is not None and upright.known("mat")
    assert not upright.known("imu_left") and not upright.known("imu_right")
    values = dict(zip(FEATURES, upright.values.tolist(), strict=True))
    assert abs(values["balance_lr"]) < 0.15  # upright: about as much on each side
    assert 60 < values["ischial_y_mm"] < 180  # the tuberosities on the back half
    assert values["reach_left_mm"] > 150 and values["reach_right_mm"] > 150


def _calibration_file(tmp_path, **changes):
    document = {"format": "legwake-mat-calibration", "version": 2,
                "zero_counts": [[0.0] * 16] * 16, "baseline": None,
                "upright_features": {name: 0.5 for name in MAT_FEATURES}}
    document.update(changes)
    (tmp_path / "cal.json").write_text(json.dumps(document))
    return tmp_path / "cal.json"


def test_a_calibration_of_the_zero_alone_or_from_before_has_no_upright_features(tmp_path):
    # Version 1 files had no upright features: they still load, and the posture is read
    # against the average body until the agent has learnt this one.
    path = _calibration_file(tmp_path, version=1)
    document = json.loads(path.read_text())
    del document["upright_features"]
    path.write_text(json.dumps(document))
    assert load(path).person is None
    assert load(_calibration_file(tmp_path, upright_features=None)).person is None
    upright = load(_calibration_file(tmp_path)).person
    assert upright is not None and upright.known("mat") and not upright.known("imu_left")


def test_the_upright_features_are_only_for_the_person_they_were_measured_on(tmp_path):
    calibrated = load(_calibration_file(tmp_path, person="p-1"))
    assert calibrated.upright_of("p-1") is calibrated.person is not None
    assert calibrated.upright_of("p-2") is None  # someone else sits here now: recalibrate
    with pytest.raises(ValueError, match="person must be text"):
        load(_calibration_file(tmp_path, person=["p-1"]))


@pytest.mark.parametrize(("changes", "says"), [
    ({"version": 99}, "version 99 is not one this legwake reads"),
    ({"zero_counts": [[]]}, "zero_counts must be a 2-D table"),
    ({"zero_counts": [[1.0, float("nan")]]}, "zero_counts must be finite numbers"),
    ({"zero_counts": [[1.0, 1e400]]}, "zero_counts must be finite numbers"),
    ({"zero_counts": [[10 ** 400]]}, "cannot read the mat calibration"),
    ({"baseline": {"ischial_load_n": 200.0, "seat_load_n": 500.0, "ischial_row": "back",
                   "frames": 20}}, "ischial_row must be a number"),
    ({"baseline": {"ischial_load_n": 200.0, "seat_load_n": 10 ** 400, "ischial_row": 12.0,
                   "frames": 20}}, "seat_load_n must be a positive number"),
    ({"baseline": {"ischial_load_n": 200.0, "seat_load_n": 500.0, "ischial_row": 12.0,
                   "frames": 2.5}}, "frames must be a whole number"),
    ({"upright_features": {**{name: 0.5 for name in MAT_FEATURES}, "log_load": 10 ** 400}},
     "upright_features.log_load must be a finite number"),
])
def test_a_damaged_calibration_is_refused_with_its_reason(tmp_path, changes, says):
    with pytest.raises(ValueError, match="cal.json: cannot read the mat calibration") as caught:
        load(_calibration_file(tmp_path, **changes))
    assert says in str(caught.value)


@pytest.mark.parametrize(("features", "says"), [
    ([1, 2, 3], "upright_features must be a table"),
    ({"balance_lr": 0.0}, "missing log_load"),
    ({**{name: 0.5 for name in MAT_FEATURES}, "tilt": 1.0}, "unknown tilt"),
    ({**{name: 0.5 for name in MAT_FEATURES}, "peak_ratio": "high"},
     "upright_features.peak_ratio must be a finite number"),
    ({**{name: 0.5 for name in MAT_FEATURES}, "peak_ratio": True},
     "upright_features.peak_ratio must be a finite number"),
    ({**{name: 0.5 for name in MAT_FEATURES}, "reach_left_mm": float("inf")},
     "upright_features.reach_left_mm must be a finite number"),
])
def test_damaged_upright_features_are_named(tmp_path, features, says):
    with pytest.raises(ValueError, match="cal.json: cannot read the mat calibration") as caught:
        load(_calibration_file(tmp_path, upright_features=features))
    assert says in str(caught.value)


def test_calibrate_refuses_an_occupied_seat(tmp_path):
    plan = Scenario(name="occupied", seed=4, segments=(Segment("upright", "still", 300.0),))
    with MatInThread(Sitter(plan, seed=4), speed=10.0) as mat:
        result = CliRunner().invoke(main, ["calibrate", "--yes", "--empty-seconds", "1",
                                           "--config", config(tmp_path, mat.mat.path)])
    assert result.exit_code == 1
    assert "the seat does not look empty" in result.output
    assert not (tmp_path / "cal.json").exists()


def test_a_damaged_calibration_file_is_named(tmp_path):
    (tmp_path / "cal.json").write_text("{not json")
    with pytest.raises(ValueError, match="cal.json: cannot read the mat calibration"):
        load(tmp_path / "cal.json")


@pytest.mark.parametrize(("lies", "setting", "says"), [
    ("normal", "auto", "it lies the right way round; [mat] orientation = \"auto\" follows it"),
    ("rotated_180", "auto", "its front is at the back (rotated by 180 degrees"),
    ("rotated_180", "rotated_180", "[mat] orientation = \"rotated_180\" agrees"),
    ("rotated_180", "normal", "says otherwise: set \"rotated_180\""),
])
def test_calibrate_says_how_the_mat_lies(tmp_path, lies, setting, says):
    plan = Scenario(name="calibration", seed=5, segments=(
        Segment("empty", "still", 40.0), Segment("upright", "still", 300.0, transition_s=2.0)))
    sitter = Sitter(plan, weight_kg=70.0, seat="cushioned", seed=5, mat_orientation=lies)
    with MatInThread(sitter, speed=10.0) as mat:
        path = config(tmp_path, mat.mat.path)
        with open(path, "a") as file:
            file.write(f'orientation = "{setting}"\n')
        result = CliRunner().invoke(main, ["calibrate", "--yes", "--empty-seconds", "1",
                                           "--upright-seconds", "1", "--config", path])
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.output.splitlines() if line.startswith("Mat orientation")]
    assert says in line, line
    baseline = load(tmp_path / "cal.json").baseline
    # The baseline is of the map the right way round whichever way the mat lies, as long as
    # the setting is right ("auto" or the way it lies).
    if setting in ("auto", lies):
        assert baseline.ischial_row > 8  # the tuberosities on the back half
