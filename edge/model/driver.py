"""The nerve model's public face: validate, allocate, call the kernels.

Owns input checking (every bad input is a ValueError that says what was
wrong), the model state carried between calls, and the rest state a fresh
nerve starts from. The mathematics is in `kernels.py`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from edge.model import backend
from edge.model.params import A_BETA, FIBERS, KernelParameters, Profile, kernel_parameters

MIN_DT_S = 0.1
MAX_DT_S = 10.0
NUMBNESS_STEP_S = 1.0
NUMB_CONDUCTION = 0.5
_REST_SETTLE_S = 6 * 3600.0
DEFAULT_PROFILE = Profile()


@dataclass(frozen=True, slots=True)
class NerveState:
    """Where each site is: blood flow (S,), and its fibres' ATP, depolarisation and sodium
    load, each (S, 4); all in 0..1."""

    flow: np.ndarray
    energy: np.ndarray
    depolarisation: np.ndarray
    sodium: np.ndarray

    @property
    def sites(self) -> int:
        return self.energy.shape[0]

    def copy(self) -> NerveState:
        return NerveState(self.flow.copy(), self.energy.copy(), self.depolarisation.copy(),
                          self.sodium.copy())


@dataclass(frozen=True, slots=True)
class SimulationResult:
    t_s: np.ndarray  # (T,) time at the end of each step
    conduction: np.ndarray  # (T, S, 4) in FIBERS order, 0..1
    ectopic: np.ndarray  # (T, S, 4) in FIBERS order, 0..1
    final_state: NerveState


@functools.lru_cache(maxsize=64)
def _parameters(profile: Profile) -> KernelParameters:
    return kernel_parameters(profile)


def run_kernel(params: KernelParameters, pressure: np.ndarray, dt_s: float, state: NerveState
               ) -> tuple[np.ndarray, np.ndarray]:
    """Advance `state` in place through pressure (T, S); conduction and ectopic (T, S, 4).

    No validation: `simulate` checks its inputs; calibration calls this with trial parameters.
    """
    conduction = np.empty((*pressure.shape, len(FIBERS)))
    ectopic = np.empty_like(conduction)
    # The kernel keeps fibre-major (4, S) state so that sites vectorise.
    energy, depol, sodium = (np.ascontiguousarray(a.T) for a in
                             (state.energy, state.depolarisation, state.sodium))
    backend.kernels().simulate_kernel(np.ascontiguousarray(pressure, dtype=np.float64), float(dt_s),
                            params.shared, params.atp_use, params.block, params.ectopic_gain,
                            params.tingle_gain, params.conduction_hill, state.flow, energy,
                            depol, sodium, conduction, ectopic)
    state.energy[:], state.depolarisation[:], state.sodium[:] = energy.T, depol.T, sodium.T
    return conduction, ectopic


def settle(params: KernelParameters) -> NerveState:
    """One site's resting state: the model run to equilibrium at 0 mmHg from full ATP."""
    state = NerveState(np.ones(1), np.ones((1, 4)), np.zeros((1, 4)), np.zeros((1, 4)))
    run_kernel(params, np.zeros((int(_REST_SETTLE_S / MAX_DT_S), 1)), MAX_DT_S, state)
    return state


@functools.lru_cache(maxsize=64)
def _rest(profile: Profile) -> NerveState:
    return settle(_parameters(profile))


def rest_state(sites: int = 1, profile: Profile = DEFAULT_PROFILE) -> NerveState:
    """A fresh, uncompressed nerve at every site."""
    rest = _rest(profile)
    return NerveState(np.tile(rest.flow, sites), np.tile(rest.energy, (sites, 1)),
                      np.tile(rest.depolarisation, (sites, 1)), np.tile(rest.sodium, (sites, 1)))


def _check_profile(profile: Profile) -> None:
    if not isinstance(profile, Profile):
        # The API promises ValueError for every bad input, a wrong type included.
        raise ValueError(  # noqa: TRY004
            f"profile must be an edge.model.Profile, got {type(profile).__name__}")


def _check_pressure(values: np.ndarray, what: str) -> None:
    if values.size and not np.all(np.isfinite(values)):
        raise ValueError(f"{what} contains NaN or infinity")
    if values.size and values.min() < 0:
        raise ValueError(f"{what} must be >= 0 mmHg, got {values.min():g}")


def _state_for(state: NerveState | None, sites: int, profile: Profile) -> NerveState:
    if state is None:
        return rest_state(sites, profile)
    if not isinstance(state, NerveState):
        raise ValueError(f"state must be a NerveState (a result's final_state), "  # noqa: TRY004
                         f"got {type(state).__name__}")
    for name, shape in (("flow", (sites,)), ("energy", (sites, len(FIBERS))),
                        ("depolarisation", (sites, len(FIBERS))),
                        ("sodium", (sites, len(FIBERS)))):
        array = getattr(state, name)
        if np.shape(array) != shape:
            raise ValueError(f"state.{name} has shape {np.shape(array)}, expected {shape} "
                             f"for {sites} site(s)")
    return state.copy()


def simulate(pressure_mmHg: np.ndarray | list[float], dt_s: float = 1.0,
             profile: Profile = DEFAULT_PROFILE,
             state: NerveState | None = None) -> SimulationResult:
    """Advance the nerves through nerve (tissue) pressure, one value per step of dt_s.

    `pressure_mmHg` is (T,) for one site or (T, S) for S sites. Conduction and ectopic
    activity come back as (T, S, 4) in FIBERS order; pass `final_state` back as `state`
    to continue where this call ended.
    """
    _check_profile(profile)
    try:
        pressure = np.array(pressure_mmHg, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"pressure_mmHg must be numbers: {error}") from None
    if pressure.ndim == 1:
        pressure = pressure[:, None]
    if pressure.ndim != 2 or pressure.shape[1] == 0:
        raise ValueError(f"pressure_mmHg must be (T,) or (T, S) with S >= 1, got shape "
                         f"{np.shape(pressure_mmHg)}")
    _check_pressure(pressure, "pressure_mmHg")
    if isinstance(dt_s, bool) or not isinstance(dt_s, (int, float)) \
            or not MIN_DT_S <= dt_s <= MAX_DT_S:
        raise ValueError(f"dt_s must be a number from {MIN_DT_S} to {MAX_DT_S} seconds, "
                         f"got {dt_s!r}")
    current = _state_for(state, pressure.shape[1], profile)
    conduction, ectopic = run_kernel(_parameters(profile), pressure, float(dt_s), current)
    t_s = np.arange(1, pressure.shape[0] + 1) * float(dt_s)
    return SimulationResult(t_s, conduction, ectopic, current)


def time_to_numbness(pressure_mmHg: float | np.ndarray, profile: Profile = DEFAULT_PROFILE,
                     state: NerveState | None = None, horizon_s: float = 3600.0
                     ) -> float | np.ndarray:
    """Seconds until A-beta conduction first falls below 0.5 with the pressure held constant.

    From `state` (a fresh nerve when None); `math.inf` when not within `horizon_s`.
    A scalar pressure gives a float; an (S,) array gives an (S,) array.
    """
    _check_profile(profile)
    scalar = np.ndim(pressure_mmHg) == 0
    try:
        pressure = np.atleast_1d(np.array(pressure_mmHg, dtype=np.float64))
    except (TypeError, ValueError) as error:
        raise ValueError(f"pressure_mmHg must be numbers: {error}") from None
    if pressure.ndim != 1 or pressure.size == 0:
        raise ValueError(f"pressure_mmHg must be a number or an (S,) array, got shape "
                         f"{np.shape(pressure_mmHg)}")
    _check_pressure(pressure, "pressure_mmHg")
    if isinstance(horizon_s, bool) or not isinstance(horizon_s, (int, float)) \
            or not 0 < horizon_s < math.inf:
        raise ValueError(f"horizon_s must be a positive finite number, got {horizon_s!r}")
    params = _parameters(profile)
    current = _state_for(state, pressure.size, profile)
    out = np.empty(pressure.size)
    backend.kernels().numbness_kernel(pressure, NUMBNESS_STEP_S, float(horizon_s), params.shared,
                            float(params.atp_use[A_BETA]), float(params.block[A_BETA]),
                            current.flow, np.ascontiguousarray(current.energy[:, A_BETA]),
                            np.ascontiguousarray(current.depolarisation[:, A_BETA]),
                            np.ascontiguousarray(current.sodium[:, A_BETA]), out)
    return float(out[0]) if scalar else out


def warmup() -> None:
    """Compile (or load from the cache) every kernel, so the first real call is fast."""
    result = simulate(np.zeros(2), dt_s=1.0)
    time_to_numbness(0.0, state=result.final_state, horizon_s=2.0)


@dataclass(slots=True)
class NerveTracker:
    """The nerves of one person followed through time, step by step, with the prediction
    the alerts need after every step: the live agent's and the replay's use of the model.

    `advance` takes pressures (T, S) one step of `dt_s` each (validated as `simulate`
    does) and returns the conduction and ectopic activity (T, S, 4) and the time to
    numbness (T, S) from the state after each step, with that step's pressure held.
    """

    sites: int
    profile: Profile = DEFAULT_PROFILE
    dt_s: float = 1.0
    horizon_s: float = 3600.0
    state: NerveState = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        _check_profile(self.profile)
        if self.state is None:
            self.state = rest_state(self.sites, self.profile)

    def advance(self, pressure_mmHg: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pressure = np.asarray(pressure_mmHg, dtype=np.float64)
        if pressure.ndim != 2 or pressure.shape[1] != self.sites:
            raise ValueError(f"pressure_mmHg must be (T, {self.sites}), got {pressure.shape}")
        _check_pressure(pressure, "pressure_mmHg")
        params = _parameters(self.profile)
        conduction = np.empty((*pressure.shape, len(FIBERS)))
        ectopic = np.empty_like(conduction)
        ttn = np.empty(pressure.shape)
        state = self.state
        energy, depol, sodium = (np.ascontiguousarray(a.T) for a in
                                 (state.energy, state.depolarisation, state.sodium))
        backend.kernels().tracking_kernel(np.ascontiguousarray(pressure), self.dt_s, params.shared,
                                params.atp_use, params.block, params.ectopic_gain,
                                params.tingle_gain, params.conduction_hill, state.flow,
                                energy, depol, sodium, conduction, ectopic, A_BETA,
                                NUMBNESS_STEP_S, self.horizon_s, ttn)
        state.energy[:], state.depolarisation[:], state.sodium[:] = energy.T, depol.T, sodium.T
        return conduction, ectopic, ttn
