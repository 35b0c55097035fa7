"""A person, not an average: a calibration's upright seat features read the posture against
the sitter, on the body model the posture model was not fitted on."""

from __future__ import annotations

import numpy as np
import pytest

from edge import calibrate as cal
from edge.config import Config, load_config
from edge.decode import Decoders
from edge.estimate.estimator import Estimator
from edge.estimate.labels import POSTURE_INDEX, SITE_INDEX
from edge.sources.replay import batches
from edge.sources.trace import TraceReader
from firmware_sim.scenario import Scenario, Segment
from firmware_sim.simulation import Sitter, write_simulated_trace
from tests.estimated import estimated

CALIBRATION_S = (60.0, 120.0)  # within the first upright segment, as `legwake calibrate` reads
SEATED = ("upright", "leaning_left", "slouched", "leaning_right", "foot_under_left")


def _sitting(seed: int) -> Scenario:
    segments = [Segment("empty", "still", 30.0), Segment("upright", "still", 150.0, 2.0)]
    segments += [Segment(p, "still", 150.0, 2.0) for p in SEATED[1:]]
    return Scenario(name="person", seed=seed, segments=tuple(segments))


def _calibrated(tmp_path, sitter: Sitter) -> tuple[TraceReader, Config]:
    """The sitting as a trace, and a config whose calibration file holds what `legwake
    calibrate` measures: the empty seat's zero, then a minute sitting upright."""
    trace = tmp_path / "sitting.jsonl.gz"
    write_simulated_trace(trace, sitter)
    (tmp_path / "config.toml").write_text(f'[mat]\nzero_file = "{tmp_path / "cal.json"}"\n')
    config = load_config(tmp_path / "config.toml")
    body = sitter.body()
    offsets = body.drift_counts(np.array([10.0]))[0].astype(np.float64)
    frames = body.pressure_counts(sitter.scenario, np.arange(*CALIBRATION_S, 0.05))
    upright = cal.upright_features(frames, offsets, config,
                                   seconds=CALIBRATION_S[1] - CALIBRATION_S[0])
    cal.save(tmp_path / "cal.json", offsets, None, upright=upright)
    return TraceReader(trace), config


@pytest.mark.parametrize(("weight_kg", "seed"), [(48.0, 5), (125.0, 7)])
def test_a_calibration_reads_leans_and_slouches_on_a_body_not_fitted_on(tmp_path, weight_kg,
                                                                         seed):
    plan = _sitting(seed)
    sitter = Sitter(plan, weight_kg=weight_kg, seat="cushioned", seed=seed,
                    body_model="anthropometric")
    reader, config = _calibrated(tmp_path, sitter)
    est, pipeline = estimated(reader, config, this_mat=True)
    estimator = pipeline.estimator
    assert estimator.person is not None
    # The thighs' upright was learnt from the minutes the mat showed upright.
    assert estimator.person.reference.known("imu_left")
    assert estimator.person.reference.known("imu_right")
    assert estimator.person_windows > 500
    truth = plan.posture_index_at(np.minimum(est.t_s - 0.5, plan.duration_s - 1e-6))
    for name in SEATED[:4]:
        during = truth == POSTURE_INDEX[name]
        assert (est.posture[during] == truth[during]).mean() >= 0.9, name
    # The tucked foot loads its leg's peroneal nerve, whatever the label.
    tucked = truth == POSTURE_INDEX["foot_under_left"]
    assert (est.site_mmHg[tucked, SITE_INDEX["peroneal_left"]] > 0).mean() >= 0.9


def test_without_the_thigh_units_a_calibrated_mat_keeps_the_general_model(tmp_path):
    # Against the sitter's upright the mat alone tells a tucked foot from a lean less well
    # (bench/estimate.py --person calibrated_mat --modes mat_only): it stays with the
    # general model, which loads the tucked foot's leg more often.
    plan = _sitting(3)
    sitter = Sitter(plan, weight_kg=70.0, seat="cushioned", seed=3)
    reader, config = _calibrated(tmp_path, sitter)
    decoders = Decoders(reader.header.sources)
    estimator = Estimator(config.estimate, present={"mat": True, "imu_left": False,
                                                    "imu_right": False},
                          person=cal.load(tmp_path / "cal.json").person, learn_person=True)
    for batch in batches(reader):
        estimator.feed(decoders.feed(batch))
    estimator.flush()
    assert estimator.person is not None and estimator.person.reference.known("mat")
    assert estimator.person_windows == 0
