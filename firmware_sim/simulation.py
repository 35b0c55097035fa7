"""A whole simulated desk: one sitter, the SeatMat and both LegIMUs, on one scenario clock.

Owns putting the pieces together, live (a pseudo-terminal and the simulated
radio, for the agent to open like real hardware) or offline (straight to a
trace file). What the body does is `body.py`; what the devices send is their
firmware's.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

import numpy as np

from firmware_sim.anthropometry import AnthropometricBody
from firmware_sim.body import Body
from firmware_sim.clock import SimClock
from firmware_sim.legimu import LegImuFirmware
from firmware_sim.packets import PLACEMENT_LEFT, PLACEMENT_RIGHT
from firmware_sim.radio import SimRadio
from firmware_sim.scenario import Scenario
from firmware_sim.seatmat import PtySeatMat, SeatMatFirmware
from firmware_sim.tracegen import write_trace

IMU_TRANSPORTS = ("ble", "serial", "none")
BODY_MODELS: dict[str, type[Body | AnthropometricBody]] = {
    "standard": Body,                    # firmware_sim/body.py: the model the estimator grew up on
    "anthropometric": AnthropometricBody,  # firmware_sim/anthropometry.py: written independently
}
"""Body models by name (`legwake sim --body`, `[sim] body`); each takes weight_kg, seat, seed."""
MAT_ORIENTATIONS = {"normal": (False, False), "rotated_180": (True, True),
                    "mirrored": (False, True), "rotated_180_mirrored": (True, False)}
"""How the simulated mat lies, as (rows reversed, columns reversed) against the contract
(row 0 at the front edge, column 0 on the occupant's left): the cable at the back is
"rotated_180", the mat turned over left to right "mirrored"."""
# Fixed static random addresses, so a configured address keeps finding the same unit.
UNIT_ADDRESSES = {PLACEMENT_LEFT: "F1:E6:4A:00:1E:F7", PLACEMENT_RIGHT: "F1:E6:4A:00:21:6B"}


@dataclass(frozen=True, slots=True)
class Sitter:
    """Who sits, on what, in which scenario: everything that decides the sensor values."""

    scenario: Scenario
    weight_kg: float = 75.0
    seat: str = "cushioned"
    seed: int = 1
    body_model: str = "standard"
    mat_orientation: str = "normal"

    def __post_init__(self) -> None:
        if self.body_model not in BODY_MODELS:
            raise ValueError(f"unknown body model {self.body_model!r}; valid names: "
                             f"{', '.join(BODY_MODELS)}")
        if self.mat_orientation not in MAT_ORIENTATIONS:
            raise ValueError(f"unknown mat orientation {self.mat_orientation!r}; valid: "
                             f"{', '.join(MAT_ORIENTATIONS)}")

    def pressure(self, body: Body | AnthropometricBody
                 ) -> Callable[[np.ndarray], np.ndarray]:
        """The mat's counts at scenario times, as a mat lying `mat_orientation` reports them."""
        rows, cols = MAT_ORIENTATIONS[self.mat_orientation]

        def counts(t_s: np.ndarray) -> np.ndarray:
            frames = body.pressure_counts(self.scenario, t_s)
            if rows:
                frames = frames[..., ::-1, :]
            if cols:
                frames = frames[..., ::-1]
            return np.ascontiguousarray(frames)
        return counts

    def body(self) -> Body | AnthropometricBody:
        return BODY_MODELS[self.body_model](weight_kg=self.weight_kg, seat=self.seat,
                                            seed=self.seed)

    def meta(self) -> dict[str, Any]:
        """The trace header's `meta`: the sitter, the body model and the scenario's ground truth."""
        return {"simulated": True, "weight_kg": self.weight_kg, "seat": self.seat,
                "seed": self.seed, "body_model": self.body_model, "body": self.body().describe(),
                "mat_orientation": self.mat_orientation,
                "scenario": self.scenario.name,
                "scenario_plan": self.scenario.to_dict(),
                "ground_truth": self.scenario.ground_truth()}


def write_simulated_trace(path: str | os.PathLike[str], sitter: Sitter, *,
                          mat_rate_hz: int = 20, imu_rate_hz: int = 50, imu_mtu: int = 247,
                          imu_transport: str = "ble", duration_s: float | None = None) -> int:
    """The sitting as a trace file, as fast as the body model runs; returns the chunk count."""
    body, scenario = sitter.body(), sitter.scenario
    return write_trace(
        path, duration_s=duration_s if duration_s is not None else scenario.duration_s,
        pressure=sitter.pressure(body),
        motion=lambda placement, t: body.imu_samples(scenario, placement, t),
        meta=sitter.meta(), mat_rate_hz=mat_rate_hz, imu_rate_hz=imu_rate_hz, imu_mtu=imu_mtu,
        imu_transport=imu_transport)


class LiveDesk:
    """The simulated devices, live: the mat on a pseudo-terminal, the units on the radio."""

    def __init__(self, sitter: Sitter, *, speed: float = 1.0, mat_rate_hz: int = 20,
                 imu_transport: str = "ble", hci: str = "tcp-server:127.0.0.1:7455",
                 mat_link: str | os.PathLike[str] | None = None, boot_ms: int = 0,
                 until_s: float | None = None, haptic: bool = True,
                 on_buzz: Callable[[str, str, int], None] | None = None):
        """`haptic`: the units have the v1.1 haptic characteristic (False: v1 units);
        `on_buzz(unit name, pattern, intensity %)` for every pattern a unit plays."""
        if imu_transport not in IMU_TRANSPORTS:
            raise ValueError(f"imu_transport must be one of {IMU_TRANSPORTS}, got {imu_transport!r}")
        self.sitter = sitter
        self.clock = SimClock(speed)
        body, scenario = sitter.body(), sitter.scenario
        self.duration_s = scenario.duration_s if until_s is None else min(until_s,
                                                                          scenario.duration_s)

        def motion(placement: int, t):
            return body.imu_samples(scenario, placement, t)

        self.mat_firmware = SeatMatFirmware(
            pressure=sitter.pressure(body), rate_hz=mat_rate_hz,
            boot_ms=boot_ms, wired_imu=motion if imu_transport == "serial" else None)
        self.mat = PtySeatMat(self.mat_firmware, self.clock, until_s=self.duration_s,
                              link=mat_link)
        self.units: list[LegImuFirmware] = []
        for placement in (PLACEMENT_LEFT, PLACEMENT_RIGHT) if imu_transport == "ble" else ():
            unit = LegImuFirmware(placement, lambda t, p=placement: motion(p, t),
                                  clock=self.clock, address=UNIT_ADDRESSES[placement],
                                  boot_ms=boot_ms, haptic=haptic)
            if on_buzz is not None:
                unit.on_buzz = lambda name, pct, unit=unit: on_buzz(unit.name, name, pct)
            self.units.append(unit)
        self.radio = SimRadio(self.units, hci=hci) if self.units else None

    @property
    def serial_path(self) -> str:
        return self.mat.path

    @property
    def unit_names(self) -> list[str]:
        return [unit.name for unit in self.units]

    @property
    def hci_client(self) -> str | None:
        return self.radio.hci_client if self.radio else None

    async def start(self) -> None:
        if self.radio is not None:
            await self.radio.start()
        self.clock.restart()

    async def run(self) -> None:
        """Play the scenario to its end (the mat sets the pace; the units follow the clock)."""
        await self.mat.run()

    async def stop(self) -> None:
        self.mat.close()
        if self.radio is not None:
            await self.radio.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await asyncio.shield(self.stop())
