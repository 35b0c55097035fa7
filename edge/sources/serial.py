"""The SeatMat's serial link, through pyserial.

Owns opening, reading and reopening the port. A USB mat that is unplugged
and plugged back in makes its device node vanish and reappear: the source
keeps trying to reopen it, forever, and the stream carries on (the decoder
resynchronises at the next packet delimiter).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import serial

from edge.sources.base import Clock, LinkHealth, Received, monotonic_clock

log = logging.getLogger(__name__)


class SerialSource:
    """Yields every read of the port as one `Received` chunk."""

    transport = "serial"

    def __init__(self, port: str, *, name: str = "mat", baudrate: int = 921600,
                 read_size: int = 4096, reopen_interval_s: float = 1.0,
                 imu_rate_hz: int | None = None,
                 clock: Clock = monotonic_clock):
        self.name = name
        self.port = port
        self.baudrate = baudrate
        self.read_size = read_size
        self.reopen_interval_s = reopen_interval_s
        self.imu_rate_hz = imu_rate_hz
        self.clock = clock
        self.health = LinkHealth()

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {"transport": self.transport, "port": self.port,
                                "baudrate": self.baudrate}
        if self.imu_rate_hz is not None:  # thigh units wired through the mat's link
            info["imu_rate_hz"] = self.imu_rate_hz
        return info

    async def stream(self) -> AsyncIterator[Received]:
        while True:
            port = await self._open()
            try:
                async for received in self._reads(port):
                    yield received
            except (serial.SerialException, OSError) as error:
                self.health.disconnects += 1
                self.health.last_error = str(error)
                log.warning("serial %s lost (%s); reopening", self.port, error)
            finally:
                port.close()

    async def _reads(self, port: serial.Serial) -> AsyncIterator[Received]:
        """Each read as the port becomes readable: the event loop watches the descriptor
        (no thread per read); a failed read ends the stream with its error."""
        loop = asyncio.get_running_loop()
        arrived: asyncio.Queue[tuple[float, bytes] | BaseException] = asyncio.Queue()

        def readable() -> None:
            try:
                data = port.read(self.read_size)
            except (serial.SerialException, OSError) as error:
                loop.remove_reader(port.fd)
                arrived.put_nowait(error)
                return
            if data:
                arrived.put_nowait((self.clock(), data))

        loop.add_reader(port.fd, readable)
        try:
            while True:
                item = await arrived.get()
                if isinstance(item, BaseException):
                    raise item
                yield Received(self.name, *item)
        finally:
            loop.remove_reader(port.fd)

    async def _open(self) -> serial.Serial:
        while True:
            try:
                # Non-blocking: reads happen when the event loop sees the port readable.
                port = serial.Serial(self.port, self.baudrate, timeout=0)
            except (serial.SerialException, OSError) as error:
                if self.health.last_error != str(error):
                    log.warning("cannot open serial %s (%s); retrying every %.1f s",
                                self.port, error, self.reopen_interval_s)
                self.health.last_error = str(error)
                await asyncio.sleep(self.reopen_interval_s)
                continue
            self.health.connects += 1
            self.health.last_error = ""
            log.info("serial %s open at %d baud", self.port, self.baudrate)
            return port
