"""One LegIMU over BLE, through bleak: notifications in, `Received` chunks out.

This module owns the link to one thigh unit: finding it (scan by the IMU service
UUID), connecting, reading (and optionally setting) its config, subscribing to
its IMU data, reconnecting forever when the link drops, and playing haptic patterns on
units that have the v1.1 haptic characteristic (found by GATT discovery). Each notification
becomes one `Received` chunk, exactly its bytes (`spec/hardware.md` section 3:
"for a BLE source a chunk is exactly one notification's value"). It never
decodes (that is `edge.wire`'s job).

It imports bleak only. The bleak backends are injected: None means bleak's
platform backend (BlueZ on the Pi); the simulated radio passes
`firmware_sim.radio.BumbleScanner` / `BumbleClient` and
`backend_kwargs={"bumble": {"hci": ...}}`. The agent's code is the same for both.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import AsyncGenerator, Mapping
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner

from edge.sources.base import Clock, LinkHealth, Received, monotonic_clock
from edge.wire import (
    IMU_CONFIG_UUID,
    IMU_DATA_UUID,
    IMU_HAPTIC_UUID,
    IMU_RATES_HZ,
    IMU_SERVICE_UUID,
    PLACEMENTS,
)

BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"  # GATT Battery Level

log = logging.getLogger(__name__)

NAME_PREFIXES = {1: "LegIMU-L-", 2: "LegIMU-R-"}
"""Advertised local name prefix by placement code (1 left thigh, 2 right thigh)."""

_CONFIG = struct.Struct("<HB")  # rate_hz, placement (read only)
_STOP = object()  # queued when the link task ends
HAPTIC_WRITE_TIMEOUT_S = 2.0


def placement_of_name(name: str | None) -> str | None:
    """"left" / "right" from an advertised name (LegIMU-L-XXXX / LegIMU-R-XXXX), else None."""
    for code, prefix in NAME_PREFIXES.items():
        if name and name.startswith(prefix):
            return PLACEMENTS[code]
    return None


UNIT_SETTLE_S = 2.0
"""With no unit configured, how long the scan goes on after the first unit of the side is
heard, to learn whether another one (a neighbour's) advertises too."""


class AmbiguousUnitError(LookupError):
    """No unit is configured and more than one of the side advertises: `legwake pair`."""


class BleImuSource:
    """A `Source` for one LegIMU unit (the left or right thigh), reconnecting forever.

    Args:
        placement: 1 / "left" or 2 / "right"; the source is named "imu_left" / "imu_right".
        address: connect to this unit only (as bleak reports addresses).
        unit_name: else, to the unit advertising this full name (LegIMU-L-12AB);
            else to the one unit advertising the placement's name prefix (more than one
            is refused: `legwake pair` finds the person's own).
        rate_hz: if given (25, 50 or 100), written to the unit on every connection;
            else the unit's own rate is kept. Either way it is read back into `describe()`.
        mtu: ATT MTU requested where the backend takes an `mtu` keyword (the simulated
            radio); BlueZ negotiates the MTU itself at connection and ignores it.
        scanner_backend, client_backend: bleak backend classes; None is the platform's.
        backend_kwargs: extra keywords for both BleakScanner and BleakClient.
        scan_timeout_s, connect_timeout_s: bounds of one scan and one connection attempt.
        backoff_initial_s, backoff_max_s: delay before retry k (from 0) after a failure is
            min(backoff_max_s, backoff_initial_s * 2**k); k restarts at 0 once connected.
        queue_size: notifications buffered between the BLE callback and the consumer;
            when full the oldest is dropped and counted in `health.dropped_chunks`.
        clock: stamps `Received.arrival_s` when a notification is received.

    `health.connects - health.disconnects` is 1 while connected, else 0.
    Consume with `contextlib.aclosing(source.stream())` so that leaving the loop
    disconnects at once; cancelling the consuming task does too.
    """

    transport = "ble"

    def __init__(self, placement: int | str, *, address: str | None = None,
                 unit_name: str | None = None, rate_hz: int | None = None, mtu: int = 247,
                 scanner_backend: type[BaseBleakScanner] | None = None,
                 client_backend: type[BaseBleakClient] | None = None,
                 backend_kwargs: Mapping[str, Any] | None = None,
                 scan_timeout_s: float = 10.0, connect_timeout_s: float = 20.0,
                 backoff_initial_s: float = 0.5, backoff_max_s: float = 30.0,
                 queue_size: int = 1024, clock: Clock = monotonic_clock) -> None:
        codes = {name: code for code, name in PLACEMENTS.items()}
        code = placement if placement in PLACEMENTS else codes.get(str(placement).lower())
        if code is None:
            raise ValueError(f"placement must be 1 / 'left' or 2 / 'right', got {placement!r}")
        if rate_hz is not None and rate_hz not in IMU_RATES_HZ:
            raise ValueError(f"rate_hz must be one of {IMU_RATES_HZ}, got {rate_hz}")
        if not 0 < backoff_initial_s <= backoff_max_s:
            raise ValueError("backoff needs 0 < backoff_initial_s <= backoff_max_s, got "
                             f"{backoff_initial_s} and {backoff_max_s}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, got {queue_size}")
        self.placement = int(code)
        self.name = f"imu_{PLACEMENTS[self.placement]}"
        self.address = address
        self.unit_name = unit_name
        self.rate_hz = rate_hz
        self.mtu = mtu
        self.scanner_backend = scanner_backend
        self.client_backend = client_backend
        self.backend_kwargs = dict(backend_kwargs or {})
        self.scan_timeout_s = scan_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.queue_size = queue_size
        self.clock = clock
        self.health = LinkHealth()
        self._unit: dict[str, Any] = {"address": address, "name": unit_name, "rate_hz": rate_hz,
                                      "mtu": None}
        self._queue: asyncio.Queue[Any] | None = None
        self._client: BleakClient | None = None
        # With no unit configured, the one connected first: reconnections go to it alone.
        self._first_unit: str | None = None
        self._haptic: BleakGATTCharacteristic | None = None
        self._haptic_said: set[str] = set()  # why buzzes failed, each logged once

    def describe(self) -> dict[str, Any]:
        """Transport, placement, and what is known of the unit (address, name, rate_hz, mtu)."""
        return {"transport": self.transport, "placement": PLACEMENTS[self.placement],
                **self._unit}

    def backoff_s(self, failures: int) -> float:
        """The delay before the next attempt after `failures` consecutive failures (from 0)."""
        return min(self.backoff_max_s, self.backoff_initial_s * 2.0 ** min(failures, 60))

    async def stream(self) -> AsyncGenerator[Received, None]:
        """One `Received` per notification, in arrival order, until cancelled or closed."""
        queue: asyncio.Queue[Any] = asyncio.Queue(self.queue_size)
        self._queue = queue
        link = asyncio.create_task(self._keep_linked(), name=f"{self.name} link")
        link.add_done_callback(lambda _task: self._enqueue(_STOP, queue))
        try:
            while True:
                item = await queue.get()
                if item is _STOP:
                    link.result()  # the link task only ends by failing: raise its error
                    return
                yield item
        finally:
            link.cancel()
            await asyncio.gather(link, return_exceptions=True)
            self._queue = None

    # --- the link ---------------------------------------------------------------------------

    async def _keep_linked(self) -> None:
        failures = 0
        while True:
            try:
                await self._session()
                failures = 0  # it was connected, then lost: start the backoff again
            except Exception as error:  # noqa: BLE001 - any link failure means: retry
                self.health.last_error = f"{type(error).__name__}: {error}"
            log.warning("%s: %s; retrying in %.2g s", self.name, self.health.last_error,
                        self.backoff_s(failures))
            await asyncio.sleep(self.backoff_s(failures))
            failures += 1

    async def _session(self) -> None:
        """Find, connect, subscribe, and wait for the link to drop (raise on any failure)."""
        device = await self._find_unit()
        lost = asyncio.Event()
        client = BleakClient(device, disconnected_callback=lambda _client: lost.set(),
                             timeout=self.connect_timeout_s, backend=self.client_backend,
                             mtu=self.mtu, **self.backend_kwargs)
        await client.connect()
        self.health.connects += 1
        try:
            log.info("%s: connected to %s (%s), MTU %d", self.name, device.name,
                     device.address, client.mtu_size)
            self._unit.update(address=device.address, name=device.name, mtu=client.mtu_size)
            self._first_unit = self._first_unit or device.address
            self._find_haptic(client)
            await self._configure(client)
            await self._watch_battery(client)
            await client.start_notify(IMU_DATA_UUID, self._on_notification)
            self._client = client
            await lost.wait()
            self.health.last_error = f"link to {device.name} ({device.address}) lost"
        finally:
            self._client = None
            self.health.disconnects += 1
            try:  # also when cancelled: the unit must not stay connected
                await asyncio.wait_for(client.disconnect(), 5.0)
            except Exception as error:  # noqa: BLE001 - the link is gone either way
                log.debug("%s: disconnect: %s", self.name, error)

    async def _find_unit(self) -> BLEDevice:
        """The configured unit; with none configured, the one unit of this side advertising.

        With only the name prefix to go by, a neighbour's unit fits as well as the person's
        own: the scan goes on for UNIT_SETTLE_S after the first one is heard (within
        scan_timeout_s), and if another unit of this side was heard meanwhile, it refuses
        (AmbiguousUnitError) rather than read, and buzz, someone else's leg. Once a unit was
        connected, reconnections look for that unit alone, without the wait.
        """
        loop = asyncio.get_running_loop()
        found: asyncio.Future[BLEDevice] = loop.create_future()
        heard: dict[str, str | None] = {}  # address -> name, of every unit that fits

        def on_advertisement(device: BLEDevice, advertisement: AdvertisementData) -> None:
            if self._is_our_unit(device, advertisement):
                heard.setdefault(device.address.upper(), advertisement.local_name or device.name)
                if not found.done():
                    found.set_result(device)

        deadline = loop.time() + self.scan_timeout_s
        async with BleakScanner(on_advertisement, service_uuids=[IMU_SERVICE_UUID],
                                backend=self.scanner_backend, **self.backend_kwargs):
            try:
                device = await asyncio.wait_for(found, self.scan_timeout_s)
            except TimeoutError:
                raise TimeoutError(f"no {self._wanted()} advertising within "
                                   f"{self.scan_timeout_s:g} s") from None
            if self.address is None and self.unit_name is None and self._first_unit is None:
                await asyncio.sleep(max(0.0, min(UNIT_SETTLE_S, deadline - loop.time())))
        if len(heard) > 1:
            raise AmbiguousUnitError(self._ambiguity(heard))
        return device

    def _is_our_unit(self, device: BLEDevice, advertisement: AdvertisementData) -> bool:
        name = advertisement.local_name or device.name
        if (address := self.address or self._first_unit) is not None:
            return device.address.upper() == address.upper()
        if self.unit_name is not None:
            return name == self.unit_name
        return name is not None and name.startswith(NAME_PREFIXES[self.placement])

    def _wanted(self) -> str:
        return (f"LegIMU at {self.address}" if self.address else self.unit_name
                or f"{NAME_PREFIXES[self.placement]}* unit")

    def _ambiguity(self, heard: Mapping[str, str | None]) -> str:
        side = PLACEMENTS[self.placement]
        units = ", ".join(f"{name or '?'} ({address})" for address, name in sorted(
            heard.items(), key=lambda unit: (unit[1] or "", unit[0])))
        return (f"{len(heard)} {side} thigh units advertise: {units}; [imu] {side} = \"\" "
                f"cannot tell which is this person's: run `legwake pair`")

    async def _configure(self, client: BleakClient) -> None:
        """Check the unit's placement; set the configured rate; read back the rate in use."""
        if self.rate_hz is not None:
            await client.write_gatt_char(IMU_CONFIG_UUID, struct.pack("<H", self.rate_hz),
                                         response=True)
        rate_hz, placement = _CONFIG.unpack_from(await client.read_gatt_char(IMU_CONFIG_UUID))
        if placement != self.placement:
            raise ValueError(f"{client.address} is a {PLACEMENTS.get(placement, placement)} "
                             f"unit, this source reads the {PLACEMENTS[self.placement]} thigh")
        self._unit["rate_hz"] = rate_hz

    async def _watch_battery(self, client: BleakClient) -> None:
        """The unit's battery level now and as it changes (for the log's device health);
        a unit without the Battery service just has none."""
        def on_level(_characteristic: BleakGATTCharacteristic, data: bytearray) -> None:
            if data:
                self.health.battery_pct = data[0]

        try:
            level = await client.read_gatt_char(BATTERY_LEVEL_UUID)
            self.health.battery_pct = level[0] if level else None
            await client.start_notify(BATTERY_LEVEL_UUID, on_level)
        except Exception as error:  # noqa: BLE001 - the battery level is optional
            log.info("%s: no battery level (%s)", self.name, error)

    # --- haptic (v1.1) ---------------------------------------------------------------------

    @property
    def can_buzz(self) -> bool | None:
        """Whether the unit connected now has the haptic characteristic; None when no unit
        is connected."""
        return None if self._client is None else self._haptic is not None

    def _find_haptic(self, client: BleakClient) -> None:
        try:
            self._haptic = client.services.get_characteristic(IMU_HAPTIC_UUID)
        except Exception as error:  # noqa: BLE001 - a confused GATT table: no buzz, still data
            self._haptic = None
            log.warning("%s: the haptic characteristic is unusable (%s)", self.name, error)
        self._unit["haptic"] = self._haptic is not None
        if self._haptic is None:
            self._say_once("absent", "%s: %s has no haptic characteristic (a v1 unit): it"
                           " will not buzz", self.name, client.address)

    async def buzz(self, pattern: int, intensity: int) -> bool:
        """Start `pattern` (spec/hardware.md section 2, v1.1) at `intensity` percent; True
        when the unit took the write. Never raises and never waits long: a unit without the
        characteristic, one not connected, or a failed write is logged once (until a buzz
        succeeds again) and returns False."""
        client, characteristic = self._client, self._haptic
        if client is None:
            return self._say_once("unlinked", "%s: not connected, so it cannot buzz",
                                  self.name)
        if characteristic is None:
            return False  # said at discovery
        try:
            await asyncio.wait_for(
                client.write_gatt_char(characteristic, bytes([pattern, intensity]),
                                       response=False), HAPTIC_WRITE_TIMEOUT_S)
        except Exception as error:  # noqa: BLE001 - a buzz that fails is no failure of ours
            return self._say_once("failed", "%s: a haptic write failed (%s: %s); nudges go"
                                  " on without the buzz", self.name, type(error).__name__,
                                  error)
        self._haptic_said.discard("unlinked")
        self._haptic_said.discard("failed")
        return True

    def _say_once(self, reason: str, message: str, *args: Any) -> bool:
        if reason not in self._haptic_said:
            self._haptic_said.add(reason)
            log.warning(message, *args)
        return False

    def _on_notification(self, _characteristic: BleakGATTCharacteristic, data: bytearray) -> None:
        # Runs in bleak's callback: stamp and enqueue, nothing else.
        self._enqueue(Received(self.name, self.clock(), bytes(data)))

    def _enqueue(self, item: Any, queue: asyncio.Queue[Any] | None = None) -> None:
        queue = queue if queue is not None else self._queue
        if queue is None:
            return
        if queue.full():
            queue.get_nowait()  # drop the oldest
            self.health.dropped_chunks += 1
            if self.health.dropped_chunks == 1 or self.health.dropped_chunks % 100 == 0:
                log.warning("%s: consumer too slow, %d notification(s) dropped so far",
                            self.name, self.health.dropped_chunks)
        queue.put_nowait(item)


async def scan_units(timeout_s: float = 5.0, backend: type[BaseBleakScanner] | None = None,
                     **backend_kwargs: Any) -> list[dict[str, Any]]:
    """LegIMU units advertising the IMU service: name, address, placement, rssi; by name."""
    async with BleakScanner(service_uuids=[IMU_SERVICE_UUID], backend=backend,
                            **backend_kwargs) as scanner:
        await asyncio.sleep(timeout_s)
    units = []
    for device, advertisement in scanner.discovered_devices_and_advertisement_data.values():
        name = advertisement.local_name or device.name
        units.append({"name": name, "address": device.address,
                      "placement": placement_of_name(name), "rssi": advertisement.rssi})
    return sorted(units, key=lambda unit: (unit["name"] or "", unit["address"]))
