"""A simulated person who says when a leg fell asleep: the truth the learning is tested on.

Why: the agent learns a person's sensitivity k only from what they report
(`edge.model.sensitivity`), and no real person's k is known. This person has a true k of
their own. Their nerves follow the nerve model under the pressures the sitting really put
on them (the body model's true seat pressure and the true posture, through the `[nerve]`
mapping), not under what the agent estimates; they say "my leg fell asleep" a few seconds
after it did (`REPORT_DELAY_S`), and sit on, ignoring alerts, until then.

`numb_episodes` builds the sitting such a person gives: crossings held until the top leg
falls asleep, with a stand-up after each report.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from edge.config import NerveConfig
from edge.estimate.labels import LEG_SITES
from edge.estimate.nerve import NerveMapping, site_pressures
from edge.model import FIBERS, Profile, simulate
from firmware_sim.scenario import Scenario, planned
from firmware_sim.simulation import Sitter

A_BETA = FIBERS.index("A_beta")
REPORT_DELAY_S = (5.0, 30.0)
"""How long after the leg falls asleep the person says so: uniform in this range."""
UPRIGHT_S = 120.0
STAND_S = 300.0
CROSSING = "crossed_left_over_right"  # the left leg on top: its peroneal nerve is loaded
LONGEST_CROSSING_S = 3600.0


@dataclass(frozen=True, slots=True)
class Report:
    """The person said, at `t_s` (scenario time), that `leg` fell asleep at `numb_s`."""

    t_s: float
    leg: str
    numb_s: float


def true_site_pressures(sitter: Sitter, nerve: NerveConfig) -> np.ndarray:
    """(T, 6) mmHg, one row a second of the scenario: what the sitting put on each nerve."""
    scenario = sitter.scenario
    t = np.arange(0.0, scenario.duration_s, 1.0)
    return site_pressures(sitter.body().pressure_kpa(scenario, t),
                          scenario.posture_index_at(t), NerveMapping.from_config(nerve),
                          weight_kg=sitter.weight_kg)


def numb_onsets(site_mmHg: np.ndarray, profile: Profile, leg: str) -> np.ndarray:
    """The seconds at which `leg` falls asleep (A-beta below half at one of its sites,
    having been above at all of them the second before)."""
    conduction = simulate(site_mmHg[:, list(LEG_SITES[leg])], dt_s=1.0,
                          profile=profile).conduction
    numb = (conduction[:, :, A_BETA] < 0.5).any(axis=1)
    return np.flatnonzero(numb & ~np.r_[False, numb[:-1]]).astype(float)


@dataclass(frozen=True, slots=True)
class ReportingPerson:
    """Someone of true sensitivity `k` who reports each time a leg falls asleep."""

    k: float
    seed: int = 1
    profile: Profile = dataclasses.field(default_factory=Profile)

    @property
    def true_profile(self) -> Profile:
        return dataclasses.replace(self.profile, sensitivity=self.k)

    def delays(self, count: int) -> np.ndarray:
        return np.random.default_rng(self.seed).uniform(*REPORT_DELAY_S, size=count)

    def reports(self, site_mmHg: np.ndarray, legs: tuple[str, ...] = ("left", "right")
                ) -> list[Report]:
        """What they say of a sitting's true nerve pressures (T, 6), in time order."""
        out = []
        for leg in legs:
            onsets = numb_onsets(site_mmHg, self.true_profile, leg)
            out += [Report(float(t + delay), leg, float(t))
                    for t, delay in zip(onsets, self.delays(len(onsets)), strict=True)]
        return sorted(out, key=lambda report: report.t_s)


def numb_episodes(person: ReportingPerson, episodes: int, *, weight_kg: float = 75.0,
                  seat: str = "cushioned", body_model: str = "standard",
                  nerve: NerveConfig | None = None, seed: int = 1) -> Sitter:
    """A sitting of `episodes` crossings, each held until the person's top (left) leg
    falls asleep and they have said so, then a stand-up of `STAND_S`: a crossing's length
    is found by running the true nerves through it held long."""
    nerve = nerve or NerveConfig()
    plan: list[tuple[str, str, float]] = []
    delays = person.delays(episodes)
    for episode in range(episodes):
        start = sum(step[2] for step in plan) + UPRIGHT_S
        trial = [*plan, ("upright", "still", UPRIGHT_S), (CROSSING, "still", LONGEST_CROSSING_S)]
        sitter = _sitter(trial, weight_kg, seat, body_model, seed)
        onsets = numb_onsets(true_site_pressures(sitter, nerve), person.true_profile, "left")
        after = onsets[onsets >= start]
        if not after.size:
            raise ValueError(f"the person (k {person.k:g}) does not fall asleep in "
                             f"{LONGEST_CROSSING_S / 60:g} min of crossing")
        held = float(after[0]) - start + float(delays[episode]) + 1.0
        plan += [("upright", "still", UPRIGHT_S), (CROSSING, "still", held),
                 ("standing", "still", STAND_S)]
    return _sitter(plan, weight_kg, seat, body_model, seed)


def _sitter(plan: list[tuple[str, str, float]], weight_kg: float, seat: str,
            body_model: str, seed: int) -> Sitter:
    scenario: Scenario = planned("numb_episodes", seed, plan)
    return Sitter(scenario, weight_kg=weight_kg, seat=seat, seed=seed, body_model=body_model)
