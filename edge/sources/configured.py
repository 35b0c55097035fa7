"""The live sources a configuration names: the mat's serial port and the two thigh units.

Owns the mapping from settings to source objects, including which bleak
backend reaches the units: the platform's (BlueZ on the Pi) or the simulated
radio's. Nothing else in the agent knows that the radio can be simulated.
"""

from __future__ import annotations

import re
from typing import Any

from edge.config import Config
from edge.sources.base import Clock, Source, monotonic_clock
from edge.sources.ble import BleImuSource
from edge.sources.serial import SerialSource

_ADDRESS = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")


def ble_backends(config: Config) -> dict[str, Any]:
    """Keyword arguments selecting the bleak backends for `[ble] backend`."""
    if config.ble.backend != "sim":
        return {}
    from firmware_sim.radio import BumbleClient, BumbleScanner

    return {"scanner_backend": BumbleScanner, "client_backend": BumbleClient,
            "backend_kwargs": {"bumble": {"hci": config.ble.sim_hci}}}


def configured_sources(config: Config, *, clock: Clock = monotonic_clock) -> list[Source]:
    """Every source the configuration enables, named as in traces: mat, imu_left, imu_right.

    `clock` stamps arrival times (a scaled one for time-compressed simulated devices)."""
    sources: list[Source] = []
    if config.mat.port:
        sources.append(SerialSource(config.mat.port, baudrate=config.mat.baudrate,
                                    read_size=config.mat.read_size,
                                    reopen_interval_s=config.mat.reopen_interval_s,
                                    imu_rate_hz=config.imu.rate_hz
                                    if config.imu.transport == "serial" else None,
                                    clock=clock))
    if config.imu.transport == "ble":
        for placement, wanted in (("left", config.imu.left), ("right", config.imu.right)):
            is_address = bool(_ADDRESS.match(wanted))
            sources.append(BleImuSource(
                placement, address=wanted if is_address else None,
                unit_name=wanted if wanted and not is_address else None,
                rate_hz=config.imu.rate_hz, mtu=config.imu.mtu,
                scan_timeout_s=config.imu.scan_timeout_s,
                backoff_initial_s=config.imu.reconnect_initial_s,
                backoff_max_s=config.imu.reconnect_max_s, clock=clock, **ble_backends(config)))
    return sources
