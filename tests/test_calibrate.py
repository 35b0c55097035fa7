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
    zero, baseline = load(tmp_path / "cal.json")
    # The zero is the mat's own drift on the empty seat, to within its noise.
    drift = mat.body.drift_counts(np.array([10.0]))[0]
    assert np.median(np.abs(zero - drift)) < 10
    # An 80 kg sitter puts about 0.75 x 80 x 9.81 = 590 N on the seat.
    assert 400 < baseline.seat_load_n < 800
    assert 0 < baseline.ischial_load_n < baseline.seat_load_n
    assert json.loads((tmp_path / "cal.json").read_text())["format"] == \
        "legwake-mat-calibration"


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
    _zero, baseline = load(tmp_path / "cal.json")
    # The baseline is of the map the right way round whichever way the mat lies, as long as
    # the setting is right ("auto" or the way it lies).
    if setting in ("auto", lies):
        assert baseline.ischial_row > 8  # the tuberosities on the back half
