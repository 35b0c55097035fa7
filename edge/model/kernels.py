"""Every @njit kernel of the nerve model, and the one place its compile flags live.

Each kernel is a plain loop over caller-allocated arrays; `driver.py`
validates and allocates. Parameters come in as arguments, never as module
globals (numba would freeze those into its cache). The equations, per site
and fibre class, with F the nerve's blood flow, E the ATP, J the pump activity, D the
depolarisation and N the intra-axonal sodium load (docs/model.md):

    q = 1 / (1 + (P / P_half)^n_q)                    perfusion the pressure allows
    dF/dt = (q - F) / tau_F                            flow F follows it in seconds
                                                       (tau_F: closing if q < F, else reopening)
    dE/dt = k_s F (1 - E) / ((1 - E) + K_adp)  -  u_f E / (E + K_use)
    J = E^2 (1 + K_J^2) / (E^2 + K_J^2)
    dD/dt = k_d (1 - J) (1 - D)  -  k_r J D
    dN/dt = k_n (1 - J) (1 - N)  -  k_c J N
    conduction c = 1 / (1 + (D / D_f)^m)
    ectopic    e = x / (1 + x),  x = c (g_f J N + h_f 4 r (1 - r)^+),  r = D / D_f

Each relaxation is advanced by a linearised implicit Euler step (rates
frozen at the start of the step), which is unconditionally stable and keeps
every variable within 0..1; steps longer than MAX_SUBSTEP_S are split.
`reference.py` is the same mathematics in plain numpy, for the tests.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from edge.model.params import (
    K_ADP,
    K_DEPOL,
    K_FLOW_CLOSE,
    K_FLOW_OPEN,
    K_NA_CLEAR,
    K_NA_LOAD,
    K_PUMP_HALF,
    K_REPOL,
    K_SENSITIVITY,
    K_SUPPLY,
    K_USE_HALF,
    P_HALF,
    P_HILL,
)

MAX_SUBSTEP_S = 2.0
# fastmath without the no-NaN/no-inf assumptions: the numbness search returns inf.
JIT_OPTIONS = {"cache": True, "nogil": True, "error_model": "numpy", "boundscheck": False,
               "fastmath": {"nsz", "arcp", "contract", "afn", "reassoc"}}
jit = numba.njit(**JIT_OPTIONS)


@jit
def substeps(dt_s: float) -> int:
    return max(1, math.ceil(dt_s / MAX_SUBSTEP_S - 1e-9))


@jit
def perfusion(pressure_mmHg: float, shared: np.ndarray) -> float:
    if pressure_mmHg <= 0.0:
        return 1.0
    return 1.0 / (1.0 + (pressure_mmHg / shared[P_HALF]) ** shared[P_HILL])


@jit
def advance_flow(flow: float, q: float, h: float, shared: np.ndarray) -> float:
    """Blood flow relaxing towards what the pressure allows: vessels close within seconds,
    and reopen more slowly."""
    rate = h / (shared[K_FLOW_OPEN] if q > flow else shared[K_FLOW_CLOSE])
    return (flow + rate * q) / (1.0 + rate)


@jit
def advance(q: float, h: float, energy: float, depol: float, sodium: float, atp_use: float,
            shared: np.ndarray) -> tuple[float, float, float, float]:
    """One implicit step of one fibre: (energy, depolarisation, sodium, pump) after h seconds."""
    supply = shared[K_SUPPLY] * atp_use * q / ((1.0 - energy) + shared[K_ADP])
    use = shared[K_SENSITIVITY] * atp_use / (energy + shared[K_USE_HALF])
    energy = (energy + h * supply) / (1.0 + h * (supply + use))
    e2 = energy * energy
    k2 = shared[K_PUMP_HALF] * shared[K_PUMP_HALF]
    pump = e2 * (1.0 + k2) / (e2 + k2)
    gain = shared[K_DEPOL] * (1.0 - pump)
    loss = shared[K_REPOL] * pump
    depol = (depol + h * gain) / (1.0 + h * (gain + loss))
    gain = shared[K_NA_LOAD] * (1.0 - pump)
    loss = shared[K_NA_CLEAR] * pump
    sodium = (sodium + h * gain) / (1.0 + h * (gain + loss))
    return energy, depol, sodium, pump


@jit
def conduction_of(depol: float, block: float, hill: int) -> float:
    ratio = depol / block
    power = 1.0
    for _ in range(hill):
        power *= ratio
    return 1.0 / (1.0 + power)


@jit
def ectopic_of(depol: float, sodium: float, pump: float, conduction: float, block: float,
               ectopic_gain: float, tingle_gain: float) -> float:
    ratio = depol / block
    band = 4.0 * ratio * (1.0 - ratio) if ratio < 1.0 else 0.0
    drive = conduction * (ectopic_gain * pump * sodium + tingle_gain * band)
    return drive / (1.0 + drive)


@jit
def simulate_kernel(pressure: np.ndarray, dt_s: float, shared: np.ndarray, atp_use: np.ndarray,
                    block: np.ndarray, ectopic_gain: np.ndarray, tingle_gain: np.ndarray,
                    hill: int, flow: np.ndarray, energy: np.ndarray, depol: np.ndarray,
                    sodium: np.ndarray, conduction_out: np.ndarray,
                    ectopic_out: np.ndarray) -> None:
    """Advance the state (flow (S,); energy, depolarisation, sodium (4, S), fibre-major)
    through pressure (T, S); write conduction and ectopic (T, S, 4).

    Sites are the innermost loop, so the compiler can run several sites at once (SIMD);
    perfusion is recomputed only when a site's pressure changes."""
    n_steps, n_sites = pressure.shape
    n_sub = substeps(dt_s)
    h = dt_s / n_sub
    q = np.empty(n_sites)
    last_pressure = np.full(n_sites, -1.0)
    blood = np.empty((n_sub, n_sites))
    pump = np.empty(n_sites)
    for t in range(n_steps):
        for s in range(n_sites):
            if pressure[t, s] != last_pressure[s]:
                last_pressure[s] = pressure[t, s]
                q[s] = perfusion(pressure[t, s], shared)
        for k in range(n_sub):
            for s in range(n_sites):
                flow[s] = advance_flow(flow[s], q[s], h, shared)
                blood[k, s] = flow[s]
        for f in range(4):
            use_f, block_f = atp_use[f], block[f]
            gain_f, tingle_f = ectopic_gain[f], tingle_gain[f]
            for k in range(n_sub):
                for s in range(n_sites):
                    energy[f, s], depol[f, s], sodium[f, s], pump[s] = advance(
                        blood[k, s], h, energy[f, s], depol[f, s], sodium[f, s], use_f, shared)
            for s in range(n_sites):
                c = conduction_of(depol[f, s], block_f, hill)
                conduction_out[t, s, f] = c
                ectopic_out[t, s, f] = ectopic_of(depol[f, s], sodium[f, s], pump[s], c,
                                                  block_f, gain_f, tingle_f)


@jit
def depolarisation_target(pump: float, shared: np.ndarray) -> float:
    """Where depolarisation heads at this pump activity (its equation's fixed point)."""
    gain = shared[K_DEPOL] * (1.0 - pump)
    return gain / (gain + shared[K_REPOL] * pump)


@jit
def numbness_kernel(pressure: np.ndarray, step_s: float, horizon_s: float, shared: np.ndarray,
                    atp_use: float, block: float, flow: np.ndarray, energy: np.ndarray,
                    depol: np.ndarray, sodium: np.ndarray, out: np.ndarray) -> None:
    """Seconds until one fibre class's conduction falls below 0.5 (depolarisation above its
    block level) at constant pressure (S,), from the state (S,); inf when not within horizon.

    The crossing is interpolated linearly within the step. The search stops early, exactly,
    once the nerve can no longer block: flow no longer falling and ATP no longer falling
    mean pump activity only rises, so depolarisation stays below the larger of where it is
    and where the pump now drives it; if both are below the block level, it never blocks."""
    n_steps = math.ceil(horizon_s / step_s - 1e-9)
    for s in range(pressure.shape[0]):
        blood, e, d, n = flow[s], energy[s], depol[s], sodium[s]
        out[s] = math.inf
        if d >= block:
            out[s] = 0.0
            continue
        q = perfusion(pressure[s], shared)
        for k in range(n_steps):
            blood_next = advance_flow(blood, q, step_s, shared)
            e_next, d_next, n, pump = advance(blood_next, step_s, e, d, n, atp_use, shared)
            if d_next >= block:
                t = k * step_s + step_s * (block - d) / (d_next - d)
                if t <= horizon_s:
                    out[s] = t
                break
            # (1e-12: at equilibrium, rounding must not read as "falling")
            if (blood_next >= blood - 1e-12 and e_next >= e - 1e-12
                    and depolarisation_target(pump, shared) < block):
                break
            blood, e, d = blood_next, e_next, d_next


@jit
def tracking_kernel(pressure: np.ndarray, dt_s: float, shared: np.ndarray, atp_use: np.ndarray,
                    block: np.ndarray, ectopic_gain: np.ndarray, tingle_gain: np.ndarray,
                    hill: int, flow: np.ndarray, energy: np.ndarray, depol: np.ndarray,
                    sodium: np.ndarray, conduction_out: np.ndarray, ectopic_out: np.ndarray,
                    numbness_fibre: int, step_s: float, horizon_s: float,
                    time_to_numbness_out: np.ndarray) -> None:
    """`simulate_kernel`, and after every step the time to numbness (T, S) from the state
    reached, with that step's pressure held: what the live agent asks each second."""
    for t in range(pressure.shape[0]):
        simulate_kernel(pressure[t:t + 1], dt_s, shared, atp_use, block, ectopic_gain,
                        tingle_gain, hill, flow, energy, depol, sodium,
                        conduction_out[t:t + 1], ectopic_out[t:t + 1])
        numbness_kernel(pressure[t], step_s, horizon_s, shared, atp_use[numbness_fibre],
                        block[numbness_fibre], flow, energy[numbness_fibre],
                        depol[numbness_fibre], sodium[numbness_fibre],
                        time_to_numbness_out[t])
