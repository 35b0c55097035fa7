"""The SeatMat's firmware: pressure frames, a status report each second, wired IMUs.

`SeatMatFirmware` decides which packets are due at a scenario time and builds
their bytes (the same code feeds a pseudo-terminal live and a trace file
offline). `PtySeatMat` plays it onto a pseudo-terminal that the agent opens
with pyserial, exactly as it opens /dev/ttyACM0.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import tty
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from firmware_sim import packets
from firmware_sim.clock import SimClock

log = logging.getLogger(__name__)

FIRMWARE_VERSION = 0x0102
PressureFn = Callable[[np.ndarray], np.ndarray]
"""Scenario seconds (n,) -> ADC counts (n, rows, cols)."""
ImuFn = Callable[[int, np.ndarray], np.ndarray]
"""(placement, scenario seconds (n,)) -> samples (n, 6) int16."""


@dataclass(slots=True)
class SeatMatFirmware:
    """Packet scheduler and encoder. Packets are due in scenario time; bytes are exact."""

    pressure: PressureFn
    rate_hz: int = 20
    boot_ms: int = 0
    fault_flags: int = 0
    wired_imu: ImuFn | None = None
    imu_rate_hz: int = 50
    imu_samples_per_packet: int = 10
    _next_frame: int = 0
    _next_status: int = 0
    _next_imu: int = 0
    _seq: dict[int, int] = field(default_factory=dict)
    _imu_seq: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 5 <= self.rate_hz <= 50:
            raise ValueError(f"the SeatMat runs at 5..50 frames/s, got {self.rate_hz}")

    def device_ms(self, t_s: float) -> int:
        return (self.boot_ms + round(t_s * 1000)) & 0xFFFFFFFF

    def packets_until(self, t_s: float) -> list[tuple[float, bytes]]:
        """Every packet due up to scenario time `t_s`, as (due time, wire bytes), in order."""
        due: list[tuple[float, bytes]] = []
        frames = np.arange(self._next_frame, int(np.floor(t_s * self.rate_hz)) + 1)
        if frames.size:
            times = frames / self.rate_hz
            maps = self.pressure(times)
            for when, counts in zip(times.tolist(), maps):
                due.append((when, self._packet(packets.KIND_PRESSURE, when,
                                               packets.pressure_payload(counts))))
            self._next_frame = int(frames[-1]) + 1
        while self._next_status <= t_s:
            when = float(self._next_status)
            due.append((when, self._packet(packets.KIND_STATUS, when, packets.status_payload(
                FIRMWARE_VERSION, self.rate_hz, self.fault_flags))))
            self._next_status += 1
        if self.wired_imu is not None:
            due.extend(self._wired_imu_until(t_s))
        due.sort(key=lambda item: item[0])
        return due

    def _wired_imu_until(self, t_s: float) -> list[tuple[float, bytes]]:
        per = self.imu_samples_per_packet
        last = int(np.floor(t_s * self.imu_rate_hz)) + 1  # samples [0, last) are due
        due: list[tuple[float, bytes]] = []
        while self._next_imu + per <= last:
            index = np.arange(self._next_imu, self._next_imu + per)
            times = index / self.imu_rate_hz
            for placement in (packets.PLACEMENT_LEFT, packets.PLACEMENT_RIGHT):
                seq = self._imu_seq.get(placement, 0)
                self._imu_seq[placement] = (seq + 1) & 0xFFFF
                note = packets.imu_notification(placement, seq, self.device_ms(times[0]),
                                                self.wired_imu(placement, times))
                due.append((float(times[-1]), self._packet(
                    packets.KIND_IMU, float(times[-1]), packets.wired_imu_payload(placement, note))))
            self._next_imu += per
        return due

    def _packet(self, kind: int, t_s: float, payload: bytes) -> bytes:
        seq = self._seq.get(kind, 0)
        self._seq[kind] = (seq + 1) & 0xFFFF
        return packets.seatmat_packet(kind, seq, self.device_ms(t_s), payload)


def open_pty(link: str | os.PathLike[str] | None = None) -> tuple[int, int, str]:
    """A raw pseudo-terminal: (master fd, slave fd, the path pyserial opens).

    Raw mode matters: a cooked terminal would echo and translate the binary stream.
    With `link`, a symlink at that path points at the terminal, as udev names a device.
    """
    master, slave = os.openpty()
    tty.setraw(slave)
    tty.setraw(master)
    os.set_blocking(master, False)
    path = os.ttyname(slave)
    if link:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(link)
        os.symlink(path, link)
        path = os.fspath(link)
    return master, slave, path


@dataclass(slots=True)
class PtyStats:
    packets_sent: int = 0
    bytes_sent: int = 0
    packets_dropped: int = 0


class PtySeatMat:
    """Plays `SeatMatFirmware` onto a pseudo-terminal in (compressed) scenario time.

    Like a USB device whose host is not reading, it drops whole packets when the
    terminal's buffer is full rather than blocking the simulation.
    """

    def __init__(self, firmware: SeatMatFirmware, clock: SimClock, *, until_s: float,
                 link: str | os.PathLike[str] | None = None, tick_s: float = 0.01,
                 max_pending_bytes: int = 1 << 20):
        self.firmware = firmware
        self.clock = clock
        self.until_s = until_s
        self.link = link
        self.tick_s = tick_s
        self.max_pending_bytes = max_pending_bytes
        self.stats = PtyStats()
        self.master, self.slave, self.path = open_pty(link)
        self._pending = bytearray()

    async def run(self) -> None:
        """Write packets as they fall due until the scenario ends (or the task is cancelled)."""
        while True:
            now = min(self.clock.now_s(), self.until_s)
            for _, data in self.firmware.packets_until(now):
                if len(self._pending) + len(data) > self.max_pending_bytes:
                    self.stats.packets_dropped += 1
                    continue
                self._pending += data
                self.stats.packets_sent += 1
            self._flush()
            if now >= self.until_s and not self._pending:
                return
            await asyncio.sleep(self.tick_s)

    def _flush(self) -> None:
        while self._pending:
            try:
                written = os.write(self.master, self._pending[:65536])
            except BlockingIOError:
                return
            except OSError as error:  # EIO: nothing holds the terminal open
                if error.errno == errno.EIO:
                    return
                raise
            self.stats.bytes_sent += written
            del self._pending[:written]

    def close(self) -> None:
        """Unplug: the terminal disappears, as a USB device does when pulled."""
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self.link:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.link)
