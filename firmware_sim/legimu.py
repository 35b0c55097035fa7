"""The LegIMU thigh sensor's firmware: a real GATT server on a bumble device.

This module owns the unit's behaviour as `spec/hardware.md` section 2 states
it: advertising, the GATT table, the config characteristic's rules, the v1.1
haptic characteristic (a unit built with `haptic=False` is a v1 unit without
it), and the notification stream (samples on the scenario clock, packed to the negotiated
ATT MTU). It owns no radio: `firmware_sim.radio.SimRadio` gives it a bumble
`LocalLink` to live on. It must not touch `edge/`: the bytes come from
`firmware_sim.packets`, so the agent's decoder is checked against the contract.

Motion is injected: `motion(t_s) -> (n, 6) int16` for an array of scenario
seconds, so the values a unit sends are exactly `motion(t)` at the sample times.
Sample k of the stream is taken at scenario millisecond `m_k` on a grid of
`1000 / rate_hz` ms, sent with `device_ms = boot_ms + m_k` (mod 2**32), and its
value is `motion(m_k / 1000)`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import struct
from collections.abc import Callable

import numpy as np
from bumble import att, gatt, hci
from bumble.controller import Controller
from bumble.core import UUID, AdvertisingData
from bumble.device import (
    AdvertisingEventProperties,
    AdvertisingParameters,
    AdvertisingSet,
    Connection,
    Device,
)
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from firmware_sim.clock import SimClock
from firmware_sim.packets import (
    PLACEMENT_LEFT,
    PLACEMENT_RIGHT,
    imu_notification,
    samples_per_notification,
)

logger = logging.getLogger(__name__)

IMU_SERVICE_UUID = "f0fb1000-ea9f-46e8-af22-1f45a4807835"
IMU_DATA_UUID = "f0fb1001-ea9f-46e8-af22-1f45a4807835"
IMU_CONFIG_UUID = "f0fb1002-ea9f-46e8-af22-1f45a4807835"
IMU_HAPTIC_UUID = "f0fb1003-ea9f-46e8-af22-1f45a4807835"
HAPTIC_PATTERNS = {0: "stop", 1: "tap", 2: "double tap", 3: "insist"}
"""spec/hardware.md section 2, v1.1: pattern codes; 4..255 are reserved (ignored)."""
HAPTIC_PULSES_MS = {0: (), 1: (150,), 2: (150, 150), 3: (400, 400, 400)}
HAPTIC_GAPS_MS = {0: 0, 1: 0, 2: 150, 3: 300}
BATTERY_SERVICE_UUID16 = 0x180F
BATTERY_LEVEL_UUID16 = 0x2A19
RATES_HZ = (25, 50, 100)
DEFAULT_RATE_HZ = 50

Motion = Callable[[np.ndarray], np.ndarray]
"""motion(t_s: float64 array of scenario seconds) -> (n, 6) int16: ax, ay, az mg; gx, gy, gz 0.1 deg/s."""

_NAME_PREFIX = {PLACEMENT_LEFT: "LegIMU-L-", PLACEMENT_RIGHT: "LegIMU-R-"}
_CONFIG = struct.Struct("<HB")  # rate_hz, placement
_MAX_ATT_MTU = 247  # what a typical nRF52 build with data length extension accepts
_ADVERTISING_INTERVAL_MS = 100.0
_REMOTE_USER_TERMINATED = hci.HCI_REMOTE_USER_TERMINATED_CONNECTION_ERROR


def haptic_duration_ms(pattern: int) -> int:
    """How long a pattern plays: its pulses and the gaps between them."""
    pulses = HAPTIC_PULSES_MS.get(pattern, ())
    return sum(pulses) + HAPTIC_GAPS_MS.get(pattern, 0) * max(0, len(pulses) - 1)


class LegImuFirmware:
    """One simulated LegIMU unit. Attach it to a link (SimRadio does) to power it on.

    Args:
        placement: PLACEMENT_LEFT or PLACEMENT_RIGHT (fixed at the factory).
        motion: the thigh's motion as a function of scenario time (see module doc).
        clock: the scenario clock shared with the other simulated devices.
        address: static random address "XX:XX:XX:XX:XX:XX" (top two bits set); a
            fresh one when None. The name ends with its last 4 hex digits.
        boot_ms: device_ms at scenario time 0 (set near 2**32 to test the wrap).
        rate_hz: initial sample rate (25, 50 or 100).
        battery_pct: initial battery level; drains `battery_drain_pct_per_h` per
            scenario hour, never below 0.
        fifo_s: how far (scenario seconds) the sender may fall behind before the
            oldest samples are dropped, as a sensor FIFO overflows; the stream
            then resumes at the present, `seq` unbroken, `device_ms` jumping.
        on_notify: called with every notification value just after it is queued
            to the central (tests compare it with what the agent received).
        haptic: whether the unit has a vibration motor and the v1.1 haptic
            characteristic; False simulates a v1 unit.
        on_buzz: called with (pattern name, intensity %) for every pattern started;
            every one is also logged and kept in `buzzes` as (scenario s, name, %).
    """

    def __init__(self, placement: int, motion: Motion, *, clock: SimClock,
                 address: str | None = None, boot_ms: int = 0, rate_hz: int = DEFAULT_RATE_HZ,
                 battery_pct: float = 100.0, battery_drain_pct_per_h: float = 4.0,
                 fifo_s: float = 2.0, on_notify: Callable[[bytes], None] | None = None,
                 haptic: bool = True,
                 on_buzz: Callable[[str, int], None] | None = None) -> None:
        if placement not in _NAME_PREFIX:
            raise ValueError(f"placement must be {PLACEMENT_LEFT} (left) or {PLACEMENT_RIGHT} "
                             f"(right), got {placement}")
        if rate_hz not in RATES_HZ:
            raise ValueError(f"rate_hz must be one of {RATES_HZ}, got {rate_hz}")
        if not 0 <= boot_ms < 2**32:
            raise ValueError(f"boot_ms is a u32, got {boot_ms}")
        self.address = (hci.Address(address, hci.Address.RANDOM_DEVICE_ADDRESS) if address
                        else hci.Address.generate_static_address())
        if self.address.address_bytes[5] & 0xC0 != 0xC0:
            raise ValueError(f"{address} is not a static random address "
                             "(the first byte must be C0..FF)")
        self.placement = placement
        self.motion = motion
        self.clock = clock
        self.boot_ms = boot_ms
        self.rate_hz = rate_hz
        self.battery_start_pct = battery_pct
        self.battery_drain_pct_per_h = battery_drain_pct_per_h
        self.fifo_s = fifo_s
        self.on_notify = on_notify
        self.haptic = haptic
        self.on_buzz = on_buzz
        self.buzzes: list[tuple[float, str, int]] = []
        self.seq = 0  # of the next notification; +1 per notification, kept across connections
        self.notifications_sent = 0
        self.samples_dropped = 0
        self._device: Device | None = None
        self._controller: Controller | None = None
        self._advertising: AdvertisingSet | None = None
        self._streams: dict[Connection, asyncio.Task[None]] = {}
        self._battery_task: asyncio.Task[None] | None = None
        self._data_char: gatt.Characteristic[bytes] = gatt.Characteristic(
            IMU_DATA_UUID, gatt.Characteristic.Properties.NOTIFY,
            gatt.Characteristic.Permissions(0), b"")
        self._config_char: gatt.Characteristic[bytes] = gatt.Characteristic(
            IMU_CONFIG_UUID,
            gatt.Characteristic.Properties.READ | gatt.Characteristic.Properties.WRITE,
            gatt.Characteristic.READABLE | gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue(read=self._read_config, write=self._write_config))
        self._battery_char: gatt.Characteristic[bytes] = gatt.Characteristic(
            UUID.from_16_bits(BATTERY_LEVEL_UUID16),
            gatt.Characteristic.Properties.READ | gatt.Characteristic.Properties.NOTIFY,
            gatt.Characteristic.READABLE,
            gatt.CharacteristicValue(read=lambda _connection: bytes([self.battery_level()])))
        self._haptic_char: gatt.Characteristic[bytes] = gatt.Characteristic(
            IMU_HAPTIC_UUID,
            gatt.Characteristic.Properties.WRITE
            | gatt.Characteristic.Properties.WRITE_WITHOUT_RESPONSE,
            gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue(write=self._write_haptic))
        self._data_char.on(self._data_char.EVENT_SUBSCRIPTION, self._on_data_subscription)

    @property
    def name(self) -> str:
        """The advertised local name, LegIMU-L-XXXX or LegIMU-R-XXXX."""
        return _NAME_PREFIX[self.placement] + self.address.to_string(False).replace(":", "")[-4:]

    @property
    def connected(self) -> bool:
        return bool(self._device and self._device.connections)

    def battery_level(self) -> int:
        """Battery percent now (scenario time)."""
        hours = max(0.0, self.clock.now_s()) / 3600.0
        return max(0, min(100, math.ceil(self.battery_start_pct
                                         - hours * self.battery_drain_pct_per_h)))

    def advertising_data(self) -> bytes:
        """Flags, the IMU service UUID and the complete local name, in one advertisement.

        Name and 128-bit UUID need 36 bytes, more than a legacy advertisement's 31, so the
        unit advertises with an extended (Bluetooth 5) advertising set.
        """
        return bytes(AdvertisingData([
            (AdvertisingData.FLAGS, bytes([AdvertisingData.LE_GENERAL_DISCOVERABLE_MODE_FLAG
                                           | AdvertisingData.BR_EDR_NOT_SUPPORTED_FLAG])),
            (AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
             UUID(IMU_SERVICE_UUID).to_bytes()),
            (AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode()),
        ]))

    # --- life cycle ---------------------------------------------------------------------------

    async def attach(self, link: LocalLink) -> None:
        """Power on: a controller on `link`, the GATT table, and advertising."""
        if self._device is not None:
            raise RuntimeError(f"{self.name} is already attached")
        controller = Controller(self.name, link=link)
        # A controller with data length extension: one ACL fragment per notification.
        controller.le_acl_data_packet_length = 251
        device = Device(name=self.name, address=self.address,
                        host=Host(controller, AsyncPipeSink(controller)))
        device.gatt_server.max_mtu = _MAX_ATT_MTU
        device.add_services([
            gatt.Service(IMU_SERVICE_UUID, [self._data_char, self._config_char,
                                            *([self._haptic_char] if self.haptic else [])]),
            gatt.Service(UUID.from_16_bits(BATTERY_SERVICE_UUID16), [self._battery_char]),
        ])
        device.on(device.EVENT_CONNECTION, self._on_connection)
        self._controller, self._device = controller, device
        await device.power_on()
        self._advertising = await device.create_advertising_set(
            advertising_parameters=AdvertisingParameters(
                advertising_event_properties=AdvertisingEventProperties(
                    is_connectable=True, is_scannable=False, is_legacy=False),
                primary_advertising_interval_min=_ADVERTISING_INTERVAL_MS,
                primary_advertising_interval_max=_ADVERTISING_INTERVAL_MS),
            advertising_data=self.advertising_data(),
            auto_restart=True)  # re-advertise after every disconnection
        self._battery_task = asyncio.create_task(self._battery_loop(), name=f"{self.name} battery")

    async def detach(self) -> None:
        """Power off: drop any connection, stop advertising, leave the link."""
        device, controller = self._device, self._controller
        if device is None or controller is None:
            return
        if self._advertising is not None:
            self._advertising.auto_restart = False
        await self.drop_link()
        for task in [*self._streams.values(), self._battery_task]:
            if task is not None:
                task.cancel()
        await asyncio.gather(*self._streams.values(), *(t for t in [self._battery_task] if t),
                             return_exceptions=True)
        self._streams.clear()
        self._battery_task = None
        if self._advertising is not None and self._advertising.enabled:
            await self._advertising.stop()
        self._advertising = None
        controller.link.remove_controller(controller)
        self._device = self._controller = None

    async def drop_link(self, reason: int = _REMOTE_USER_TERMINATED) -> None:
        """Terminate the connection to the central, if any (as walking out of range would).

        The unit then advertises again, and the central may reconnect.
        """
        if self._device is None:
            return
        for connection in list(self._device.connections.values()):
            try:
                await connection.disconnect(reason)
            except hci.HCI_Error as error:  # already gone
                logger.debug("%s: disconnect: %s", self.name, error)

    # --- GATT ---------------------------------------------------------------------------------

    def _read_config(self, _connection: Connection) -> bytes:
        return _CONFIG.pack(self.rate_hz, self.placement)

    def _write_config(self, _connection: Connection, value: bytes) -> None:
        # The value is u16 rate_hz, optionally followed by the (read-only) placement, which
        # must then be the unit's own: a central may write back what it read.
        if len(value) not in (2, 3):
            raise att.ATT_Error(att.ErrorCode.INVALID_ATTRIBUTE_LENGTH,
                                message="config is u16 rate_hz [+ u8 placement]")
        (rate_hz,) = struct.unpack_from("<H", value)
        if len(value) == 3 and value[2] != self.placement:
            raise att.ATT_Error(att.ErrorCode.WRITE_NOT_PERMITTED,
                                message="placement is read-only")
        if rate_hz not in RATES_HZ:
            raise att.ATT_Error(att.ErrorCode.VALUE_NOT_ALLOWED,
                                message=f"rate_hz must be one of {RATES_HZ}")
        if rate_hz != self.rate_hz:
            logger.info("%s: rate %d Hz -> %d Hz", self.name, self.rate_hz, rate_hz)
            self.rate_hz = rate_hz

    def _write_haptic(self, _connection: Connection, value: bytes) -> None:
        # u8 pattern, u8 intensity (percent). The unit ignores what it cannot play, and
        # echoes nothing (spec/hardware.md section 2, v1.1).
        if len(value) != 2 or value[0] not in HAPTIC_PATTERNS or value[1] > 100:
            logger.info("%s: haptic write %s ignored", self.name, value.hex())
            return
        name, intensity = HAPTIC_PATTERNS[value[0]], value[1]
        self.buzzes.append((self.clock.now_s(), name, intensity))
        logger.info("%s: buzz %s at %d%% (%d ms)", self.name, name, intensity,
                    haptic_duration_ms(value[0]))
        if self.on_buzz is not None:
            self.on_buzz(name, intensity)

    def _on_connection(self, connection: Connection) -> None:
        logger.info("%s: connected to %s", self.name, connection.peer_address)
        connection.on(connection.EVENT_DISCONNECTION,
                      lambda reason: self._on_disconnection(connection, reason))

    def _on_disconnection(self, connection: Connection, reason: int) -> None:
        logger.info("%s: disconnected from %s (reason 0x%02X)", self.name,
                    connection.peer_address, reason)
        self._stop_stream(connection)

    def _on_data_subscription(self, connection: Connection, notify: bool,
                              _indicate: bool) -> None:
        if notify and connection not in self._streams:
            self._streams[connection] = asyncio.create_task(
                self._stream(connection), name=f"{self.name} stream")
        elif not notify:
            self._stop_stream(connection)

    def _stop_stream(self, connection: Connection) -> None:
        if task := self._streams.pop(connection, None):
            task.cancel()

    # --- the sample stream --------------------------------------------------------------------

    async def _stream(self, connection: Connection) -> None:
        """Notify samples while subscribed: on the scenario clock, n per notification."""
        assert self._device is not None
        device = self._device
        step_ms = 1000 // self.rate_hz
        next_ms = math.ceil(self.clock.now_s() * 1000.0 / step_ms) * step_ms
        while True:
            if 1000 // self.rate_hz != step_ms:  # the rate changed: move to the new grid
                step_ms = 1000 // self.rate_hz
                next_ms = math.ceil(next_ms / step_ms) * step_ms
            n = samples_per_notification(connection.att_mtu)
            last_ms = next_ms + (n - 1) * step_ms
            behind_ms = self.clock.now_s() * 1000.0 - last_ms
            if behind_ms > self.fifo_s * 1000.0:
                skip = int(behind_ms // step_ms)
                self.samples_dropped += skip
                next_ms += skip * step_ms
                last_ms += skip * step_ms
            delay = self.clock.wall_delay(last_ms / 1000.0)
            if delay > 0:
                await asyncio.sleep(delay)
            t_s = (next_ms + step_ms * np.arange(n, dtype=np.int64)) / 1000.0
            samples = np.asarray(self.motion(t_s))
            value = imu_notification(self.placement, self.seq,
                                     (self.boot_ms + next_ms) & 0xFFFFFFFF,
                                     samples.astype(np.int16, casting="same_kind", copy=False))
            await device.notify_subscriber(connection, self._data_char, value)
            self.seq = (self.seq + 1) & 0xFFFF
            self.notifications_sent += 1
            if self.on_notify is not None:
                self.on_notify(value)
            next_ms = last_ms + step_ms
            # Pace on the controller's completions; this also yields when behind.
            await connection.drain()
            await asyncio.sleep(0)

    async def _battery_loop(self) -> None:
        """Notify the battery level each time it drops a percent."""
        assert self._device is not None
        level = self.battery_level()
        while level > 0 and self.battery_drain_pct_per_h > 0:
            # ceil(start - h * drain) reaches level - 1 at h = (start - level + 1) / drain
            next_drop_s = ((self.battery_start_pct - level + 1)
                           / self.battery_drain_pct_per_h * 3600.0)
            await asyncio.sleep(max(self.clock.wall_delay(next_drop_s), 0.05))
            if (now := self.battery_level()) != level:
                level = now
                await self._device.notify_subscribers(self._battery_char, bytes([level]))
