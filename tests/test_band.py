"""How sure the time to numbness is (edge/model/band.py): the band, and alerts on its edge."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edge.agent import replay_trace
from edge.config import load_config
from edge.model import Profile
from edge.model.band import BAND, CENTRE, NerveBand, pressure_scale
from edge.model.sensitivity import Evidence, Learner, Posterior
from edge.sources.trace import TraceReader
from firmware_sim.scenario import get_scenario
from firmware_sim.simulation import Sitter, write_simulated_trace
from tests.kept import Kept


def test_the_pressure_scale_is_the_mappings_spread_at_each_quantile() -> None:
    assert pressure_scale(CENTRE) == 1.0
    assert pressure_scale(0.1) == pytest.approx(1.25)
    assert pressure_scale(0.9) == pytest.approx(0.8)
    assert pressure_scale(0.05) > pressure_scale(0.1) > 1.0


def band_at(posterior: Posterior, mmHg: float) -> dict[float, float]:
    band = NerveBand(1, Profile(), posterior, BAND, horizon_s=3600.0)
    return {q: float(ttn[0, 0]) for q, ttn in band.advance(np.full((1, 1), mmHg)).items()}


def test_the_band_brackets_the_centre_and_narrows_as_the_person_is_learned() -> None:
    prior = Posterior(1.0, Evidence())
    learner, evidence = Learner(Profile()), Evidence()
    onset = np.zeros((1200, 3))
    onset[120:, 2] = 150.0
    for _ in range(5):  # five crossings, each numb after 7.6 min (a k of about 1.6)
        evidence, verdict = learner.numb(evidence, onset[:120 + 456 + 15])
        assert verdict.used
    learned = Posterior(1.0, evidence)
    wide, narrow = band_at(prior, 150.0), band_at(learned, 150.0)
    for band in (wide, narrow):
        assert band[0.1] < band[CENTRE] < band[0.9]
    assert narrow[0.9] - narrow[0.1] < 0.5 * (wide[0.9] - wide[0.1])
    assert narrow[CENTRE] < wide[CENTRE]
    # Near the threshold the late edge may never numb: the band is open there.
    assert band_at(prior, 50.0)[0.9] == np.inf


@pytest.fixture(scope="module")
def crossed(tmp_path_factory):
    path = tmp_path_factory.mktemp("band") / "crossed.jsonl.gz"
    write_simulated_trace(path, Sitter(get_scenario("crossed_legs", seed=7), weight_kg=82,
                                       seat="cushioned", seed=7))
    return path


def first_alert(trace, quantile: float) -> tuple[dict, Kept]:
    config = load_config(None)
    config = dataclasses.replace(config, policy=dataclasses.replace(config.policy,
                                                                    quantile=quantile))
    kept = Kept()
    replay_trace(TraceReader(trace), config, [kept], batch_size=256)
    return next(e for e in kept.events if e["event"] == "alert"), kept


def test_alerts_fire_on_the_quantile_configured(crossed) -> None:
    centre, kept = first_alert(crossed, CENTRE)
    early, _ = first_alert(crossed, 0.1)
    assert early["site"] == centre["site"] == "peroneal_left"
    # With nothing learned of the person the early edge is minutes sooner (k up to 1.64).
    assert centre["t"] - early["t"] > 120
    assert early["time_to_numbness_s"] <= 181 and centre["time_to_numbness_s"] <= 181
    # The state carries the band; at the centre's alert, its early edge is well ahead of it.
    state = min((s for s in kept.states if s["t"] >= centre["t"]), key=lambda s: s["t"])
    site = state["sites"]["peroneal_left"]
    low, high = site["time_to_numbness_band_s"]
    assert low < site["time_to_numbness_s"] < high
    for state in kept.states:
        for values in state["sites"].values():
            ahead, (low, high) = values["time_to_numbness_s"], values["time_to_numbness_band_s"]
            if ahead is not None:
                assert low is not None and low <= ahead and (high is None or ahead <= high)
