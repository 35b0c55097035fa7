"""A simulated sitting, written straight to a trace file, faster than real time.

It produces what the agent would have received from the live simulated
devices, without running them: the SeatMat's bytes cut into serial reads as
a 921600-baud line delivers them, and one line per LegIMU notification at
the moment a BLE connection event would carry it. The bytes come from the
same firmware code the live devices run (`SeatMatFirmware`, the LegIMU's
packing); only the transport is modelled.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge.sources.base import Received
from edge.sources.trace import TraceWriter
from firmware_sim import packets
from firmware_sim.seatmat import SeatMatFirmware

LINE_BYTES_PER_S = 921600 / 10  # 8N1: ten bits a byte
BLE_CONNECTION_INTERVAL_S = 0.015
IMU_SOURCES = {packets.PLACEMENT_LEFT: "imu_left", packets.PLACEMENT_RIGHT: "imu_right"}
PLACEMENT_NAMES = {packets.PLACEMENT_LEFT: "left", packets.PLACEMENT_RIGHT: "right"}


@dataclass(slots=True)
class SerialLine:
    """Packets due at times -> the reads a host polling every `read_interval_s` would get."""

    read_interval_s: float = 0.01
    read_size: int = 4096
    _free_at: float = 0.0
    _bytes: bytearray = field(default_factory=bytearray)
    _arrivals: list[np.ndarray] = field(default_factory=list)
    _next_read: int = 1

    def send(self, due: list[tuple[float, bytes]]) -> None:
        """Queue packets on the line; each starts when due and when the line is free."""
        for when, data in due:
            start = max(when, self._free_at)
            done = start + np.arange(1, len(data) + 1) / LINE_BYTES_PER_S
            self._free_at = float(done[-1])
            self._bytes += data
            self._arrivals.append(done)

    def reads_until(self, t_s: float) -> list[tuple[float, bytes]]:
        """Non-empty reads at the poll times up to `t_s`, each holding what had arrived."""
        if not self._bytes:
            self._next_read = max(self._next_read, int(t_s / self.read_interval_s) + 1)
            return []
        arrivals = np.concatenate(self._arrivals)
        last_read = int(t_s / self.read_interval_s)
        read_times = np.arange(self._next_read, last_read + 1) * self.read_interval_s
        self._next_read = last_read + 1
        cuts = np.searchsorted(arrivals, read_times, side="right")
        reads: list[tuple[float, bytes]] = []
        taken = 0
        for when, cut in zip(read_times.tolist(), cuts.tolist()):
            while cut > taken:
                size = min(cut - taken, self.read_size)
                reads.append((when, bytes(self._bytes[taken:taken + size])))
                taken += size
        del self._bytes[:taken]
        self._arrivals = [arrivals[taken:]] if taken < len(arrivals) else []
        return reads


@dataclass(slots=True)
class NotificationPacker:
    """One LegIMU's notification stream: n samples a notification, on the scenario ms grid."""

    placement: int
    motion: Callable[[np.ndarray], np.ndarray]
    rate_hz: int = 50
    mtu: int = 247
    boot_ms: int = 0
    _next_sample: int = 0
    _seq: int = 0

    def notifications_until(self, t_s: float) -> list[tuple[float, bytes]]:
        """Notifications whose last sample is taken by `t_s`, at their arrival times."""
        step_ms = 1000 // self.rate_hz
        n = packets.samples_per_notification(self.mtu)
        last_sample = int(t_s * 1000 // step_ms)
        count = (last_sample + 1 - self._next_sample) // n
        if count <= 0:
            return []
        index = self._next_sample + np.arange(count * n)
        samples = np.asarray(self.motion(index * step_ms / 1000.0)).reshape(count, n, 6)
        out: list[tuple[float, bytes]] = []
        for k in range(count):
            first_ms = int(index[k * n]) * step_ms
            sent_s = (first_ms + (n - 1) * step_ms) / 1000.0
            # Delivered at the next connection event after the last sample is taken.
            arrival = (np.floor(sent_s / BLE_CONNECTION_INTERVAL_S) + 1) * BLE_CONNECTION_INTERVAL_S
            out.append((float(arrival), packets.imu_notification(
                self.placement, self._seq, (self.boot_ms + first_ms) & 0xFFFFFFFF, samples[k])))
            self._seq = (self._seq + 1) & 0xFFFF
        self._next_sample += count * n
        return out


def simulated_chunks(*, duration_s: float, pressure: Callable[[np.ndarray], np.ndarray],
                     motion: Callable[[int, np.ndarray], np.ndarray], mat_rate_hz: int = 20,
                     imu_rate_hz: int = 50, imu_mtu: int = 247, imu_transport: str = "ble",
                     boot_ms: int = 0, window_s: float = 10.0) -> Iterator[Received]:
    """Every chunk the agent would receive, in arrival order, `t` in scenario seconds."""
    wired = imu_transport == "serial"
    mat = SeatMatFirmware(pressure=pressure, rate_hz=mat_rate_hz, boot_ms=boot_ms,
                          wired_imu=motion if wired else None, imu_rate_hz=imu_rate_hz)
    line = SerialLine()
    units = [] if wired or imu_transport == "none" else [
        NotificationPacker(placement, lambda t, p=placement: motion(p, t), rate_hz=imu_rate_hz,
                           mtu=imu_mtu, boot_ms=boot_ms + 1234 * placement)
        for placement in IMU_SOURCES]
    t = 0.0
    while t < duration_s:
        t = min(t + window_s, duration_s)
        line.send(mat.packets_until(t))
        streams = [[Received("mat", when, data) for when, data in line.reads_until(t)]]
        streams += [[Received(IMU_SOURCES[unit.placement], when, data)
                     for when, data in unit.notifications_until(t)] for unit in units]
        yield from heapq.merge(*streams, key=lambda r: r.arrival_s)
    # Let the line finish sending what the last window queued.
    yield from (Received("mat", when, data) for when, data in line.reads_until(duration_s + 1.0))


def source_descriptions(imu_transport: str, imu_rate_hz: int, imu_mtu: int) -> dict[str, dict]:
    """The trace header's sources, as the live agent describes them: the mat names an
    `imu_rate_hz` only when the thigh units are wired through it (a reader takes that to
    mean both thighs are fitted)."""
    mat: dict[str, Any] = {"transport": "serial", "port": "sim"}
    if imu_transport == "serial":
        mat["imu_rate_hz"] = imu_rate_hz
    sources: dict[str, dict[str, Any]] = {"mat": mat}
    if imu_transport == "ble":
        for placement, name in IMU_SOURCES.items():
            sources[name] = {"transport": "ble", "placement": PLACEMENT_NAMES[placement],
                             "rate_hz": imu_rate_hz, "mtu": imu_mtu}
    return sources


def write_trace(path: str | os.PathLike[str], *, duration_s: float,
                pressure: Callable[[np.ndarray], np.ndarray],
                motion: Callable[[int, np.ndarray], np.ndarray], meta: dict[str, Any],
                mat_rate_hz: int = 20, imu_rate_hz: int = 50, imu_mtu: int = 247,
                imu_transport: str = "ble", started: str | None = None) -> int:
    """Write the simulated sitting as a trace v1 file; returns the number of chunks."""
    sources = source_descriptions(imu_transport, imu_rate_hz, imu_mtu)
    with TraceWriter(path, sources, meta=meta, started=started) as writer:
        for received in simulated_chunks(duration_s=duration_s, pressure=pressure, motion=motion,
                                         mat_rate_hz=mat_rate_hz, imu_rate_hz=imu_rate_hz,
                                         imu_mtu=imu_mtu, imu_transport=imu_transport):
            writer.write(received)
        return writer.chunks
