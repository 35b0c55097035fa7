"""The nerve model's equations in plain numpy: the reference the numba kernels are tested against.

Same mathematics and the same step rule as `kernels.py`, written for clarity
(vectorised over sites and fibre classes, a Python loop over time), not speed.
"""

from __future__ import annotations

import math

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
    KernelParameters,
)


def perfusion(pressure_mmHg: np.ndarray, shared: np.ndarray) -> np.ndarray:
    pressure = np.maximum(np.asarray(pressure_mmHg, np.float64), 0.0)
    return 1.0 / (1.0 + (pressure / shared[P_HALF]) ** shared[P_HILL])


def advance_flow(flow, q, h, shared):
    rate = h / np.where(q > flow, shared[K_FLOW_OPEN], shared[K_FLOW_CLOSE])
    return (flow + rate * q) / (1.0 + rate)


def advance(q, h, energy, depol, sodium, atp_use, shared):
    supply = shared[K_SUPPLY] * atp_use * q / ((1.0 - energy) + shared[K_ADP])
    use = shared[K_SENSITIVITY] * atp_use / (energy + shared[K_USE_HALF])
    energy = (energy + h * supply) / (1.0 + h * (supply + use))
    k2 = shared[K_PUMP_HALF] ** 2
    pump = energy**2 * (1.0 + k2) / (energy**2 + k2)
    gain, loss = shared[K_DEPOL] * (1.0 - pump), shared[K_REPOL] * pump
    depol = (depol + h * gain) / (1.0 + h * (gain + loss))
    gain, loss = shared[K_NA_LOAD] * (1.0 - pump), shared[K_NA_CLEAR] * pump
    sodium = (sodium + h * gain) / (1.0 + h * (gain + loss))
    return energy, depol, sodium, pump


def simulate(pressure: np.ndarray, dt_s: float, params: KernelParameters, flow: np.ndarray,
             energy: np.ndarray, depol: np.ndarray, sodium: np.ndarray, max_substep_s: float):
    """pressure (T, S); flow (S,) and the other state arrays (S, 4) are updated in place.
    Returns conduction and ectopic, (T, S, 4)."""
    n_steps, n_sites = pressure.shape
    n_sub = max(1, math.ceil(dt_s / max_substep_s - 1e-9))
    h = dt_s / n_sub
    conduction = np.empty((n_steps, n_sites, 4))
    ectopic = np.empty((n_steps, n_sites, 4))
    for t in range(n_steps):
        q = perfusion(pressure[t], params.shared)
        pump = np.ones_like(energy)
        for _ in range(n_sub):
            flow[:] = advance_flow(flow, q, h, params.shared)
            energy[:], depol[:], sodium[:], pump = advance(flow[:, None], h, energy, depol,
                                                           sodium, params.atp_use, params.shared)
        ratio = depol / params.block
        c = 1.0 / (1.0 + ratio**params.conduction_hill)
        band = np.where(ratio < 1.0, 4.0 * ratio * (1.0 - ratio), 0.0)
        drive = c * (params.ectopic_gain * pump * sodium + params.tingle_gain * band)
        conduction[t] = c
        ectopic[t] = drive / (1.0 + drive)
    return conduction, ectopic
