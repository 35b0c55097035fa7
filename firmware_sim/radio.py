"""The simulated radio: LegIMU units on a bumble virtual link, and bleak backends to reach them.

Two halves, meeting at an HCI transport (a virtual USB dongle over TCP):

- `SimRadio` (the simulator's side) runs a bumble `LocalLink` carrying one
  controller per simulated unit (`firmware_sim.legimu.LegImuFirmware`) and
  serves an HCI transport, `tcp-server:<host>:<port>`. Every HCI client that
  connects gets its own adapter controller on that link, as if it had plugged
  in its own dongle; when it disconnects, its links to the units drop (they
  see a supervision timeout) and the units advertise again.
- `BumbleScanner` / `BumbleClient` (the agent's side) are bleak backends,
  passed with bleak's `backend=` argument. They speak HCI over
  `tcp-client:<host>:<port>` through a bumble host in the central role. The
  agent only ever calls `bleak.BleakScanner` / `bleak.BleakClient`, so its BLE
  code is exactly the code that runs on BlueZ.

Selecting the HCI transport (the agent side): a `bumble={"hci": "tcp-client:..."}`
keyword to `BleakScanner` / `BleakClient` (like bleak's `bluez={"adapter": ...}`),
else the `LEGWAKE_SIM_HCI` environment variable. `BleakClient` also takes
`mtu=<int>`: the ATT MTU to request right after connecting (BlueZ negotiates
on its own and ignores the keyword); without it the MTU stays 23.

One bumble host serves each (event loop, transport) pair, shared by every
scanner and client of that loop, as one dongle is shared on a real machine. It
opens on first use and closes when its last user stops or disconnects.

This module owns the virtual radio and the bleak <-> bumble adapter: bumble
types stop here. It knows nothing of `edge/`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
import weakref
from collections.abc import Callable, Iterable
from typing import Any, Self, TypedDict

from bleak.args import SizedBuffer
from bleak.assigned_numbers import CharacteristicPropertyName
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError, BleakGATTProtocolError
from bumble import att, core, gatt, hci, ll
from bumble.controller import Controller
from bumble.core import AdvertisingData
from bumble.device import Advertisement, Connection, Device, Peer
from bumble.gatt_client import CharacteristicProxy, Client
from bumble.link import LocalLink
from bumble.transport import Transport, open_transport
from bumble.transport.common import PacketParser

from firmware_sim.legimu import LegImuFirmware

logger = logging.getLogger(__name__)

HCI_ENV = "LEGWAKE_SIM_HCI"
DEFAULT_HCI_SERVER = "tcp-server:127.0.0.1:7455"
ATT_DEFAULT_MTU = 23
_CONNECTION_TIMEOUT_REASON = hci.HCI_CONNECTION_TIMEOUT_ERROR


# --- the simulator's side ----------------------------------------------------------------------


class _AdapterController(Controller):
    """The adapter's controller. Fixes bumble's LE Create Connection Cancel, which is a no-op:
    the pending connection must end with a Connection Complete event (status Unknown
    Connection Identifier), else the host waits for it forever and refuses the next connect."""

    def on_hci_le_create_connection_cancel_command(
            self, _command: hci.HCI_LE_Create_Connection_Cancel_Command,
    ) -> hci.HCI_StatusReturnParameters:
        pending, self.pending_le_connection = self.pending_le_connection, None
        if pending is None:
            return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR)
        failure = hci.HCI_LE_Connection_Complete_Event(
            status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR, connection_handle=0,
            role=hci.Role.CENTRAL, peer_address_type=pending.peer_address_type,
            peer_address=pending.peer_address, connection_interval=0, peripheral_latency=0,
            supervision_timeout=0, central_clock_accuracy=0)
        # After this command's Command Complete, as the spec orders them.
        asyncio.get_running_loop().call_soon(self.send_hci_packet, failure)
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)


class _HciPort(asyncio.Protocol):
    """One HCI client (a host) on the TCP server, with the adapter controller it drives."""

    def __init__(self, radio: SimRadio) -> None:
        self.radio = radio
        self.transport: asyncio.Transport | None = None
        self.controller: _AdapterController | None = None
        self.parser: PacketParser | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.radio._ports.add(self)
        self.controller = _AdapterController("adapter", host_sink=self, link=self.radio.link)
        self.controller.le_acl_data_packet_length = 251
        self.parser = PacketParser(self.controller)
        logger.info("HCI host attached from %s", transport.get_extra_info("peername"))

    def data_received(self, data: bytes) -> None:
        assert self.parser is not None
        try:
            self.parser.feed_data(data)
        except core.InvalidPacketError as error:
            logger.warning("bad HCI packet from the host, dropped: %s", error)
            self.parser.reset()

    def on_packet(self, packet: bytes) -> None:  # controller -> host
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(packet)

    def connection_lost(self, exc: Exception | None) -> None:
        logger.info("HCI host detached (%s)", exc or "closed")
        self.radio._ports.discard(self)
        controller, self.controller = self.controller, None
        if controller is None:
            return
        # The dongle is gone: its peers lose the link, and the link forgets it.
        controller.host = None
        controller.pending_le_connection = None
        controller.le_scan_enable = False
        for connection in list(controller.le_connections.values()):
            connection.send_ll_control_pdu(ll.TerminateInd(_CONNECTION_TIMEOUT_REASON))
        controller.le_connections.clear()
        controller.link.remove_controller(controller)


class SimRadio:
    """The air around the desk: simulated LegIMU units, and an HCI port for the agent's adapter.

    Usage::

        async with SimRadio([left, right], hci="tcp-server:127.0.0.1:0") as radio:
            scanner = BleakScanner(backend=BumbleScanner, bumble={"hci": radio.hci_client})

    Args:
        units: the LegIMU firmwares to power on (more can be added with `add`).
        hci: where to serve HCI, `tcp-server:<host>:<port>`; port 0 picks a free port
            (read it back from `hci_client` once started).
    """

    def __init__(self, units: Iterable[LegImuFirmware] = (), *,
                 hci: str = DEFAULT_HCI_SERVER) -> None:
        scheme, _, spec = hci.partition(":")
        host, _, port = spec.rpartition(":")
        if scheme != "tcp-server" or not host or not port.isdigit():
            raise ValueError(f"SimRadio serves HCI on 'tcp-server:<host>:<port>', got {hci!r}")
        self._bind = (host, int(port))
        self.units: list[LegImuFirmware] = list(units)
        self.link: LocalLink | None = None
        self._server: asyncio.Server | None = None
        self._ports: set[_HciPort] = set()

    @property
    def hci_client(self) -> str:
        """The transport an agent passes to the bleak backends: `tcp-client:<host>:<port>`."""
        if self._server is None:
            raise RuntimeError("the radio is not started")
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"tcp-client:{host}:{port}"

    async def start(self) -> None:
        if self._server is not None:
            return
        self.link = LocalLink()
        for unit in self.units:
            await unit.attach(self.link)
        host, port = self._bind
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _HciPort(self), host, port)
        logger.info("simulated radio: %d unit(s), HCI on %s", len(self.units), self.hci_client)

    async def add(self, unit: LegImuFirmware) -> None:
        """Power on one more unit (at once if the radio runs, else at `start`)."""
        self.units.append(unit)
        if self.link is not None:
            await unit.attach(self.link)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for port in list(self._ports):
            if port.transport is not None:
                port.transport.close()
        await server.wait_closed()
        await asyncio.sleep(0)  # let the closed ports run connection_lost
        for unit in self.units:
            await unit.detach()
        self.link = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()


# --- the agent's side: one bumble host per (event loop, transport) -----------------------------


class BumbleArgs(TypedDict, total=False):
    """The `bumble=` keyword of `BleakScanner` / `BleakClient` with these backends."""

    hci: str
    """HCI transport, e.g. "tcp-client:127.0.0.1:7455" (default: $LEGWAKE_SIM_HCI)."""


def _hci_spec(args: BumbleArgs | None) -> str:
    spec = (args or {}).get("hci") or os.environ.get(HCI_ENV)
    if not spec:
        raise BleakError(f"no simulated radio given: pass bumble={{'hci': 'tcp-client:HOST:PORT'}} "
                         f"or set {HCI_ENV}")
    return spec


class _Adapter:
    """A bumble host in the central role on one HCI transport: the agent's Bluetooth adapter."""

    def __init__(self, spec: str, transport: Transport, device: Device) -> None:
        self.spec = spec
        self.transport = transport
        self.device = device
        self.users = 0
        self.closed = False
        self.connect_lock = asyncio.Lock()  # the controller initiates one connection at a time
        self.scanners: set[BumbleScanner] = set()
        self.clients: set[BumbleClient] = set()
        self.seen: dict[str, hci.Address] = {}  # address string -> typed address, from adverts
        device.on(device.EVENT_ADVERTISEMENT, self._on_advertisement)

    @classmethod
    async def open(cls, spec: str) -> _Adapter:
        try:
            transport = await open_transport(spec)
        except (OSError, core.BaseBumbleError, ValueError) as error:
            raise BleakError(f"cannot open the simulated radio's HCI transport {spec!r}: "
                             f"{error}") from error
        device = Device.with_hci("legwake", hci.Address.ANY_RANDOM, transport.source,
                                 transport.sink)
        adapter = cls(spec, transport, device)
        terminated = getattr(transport.source, "terminated", None)
        if isinstance(terminated, asyncio.Future):
            terminated.add_done_callback(lambda _f: adapter._on_transport_lost())
        try:
            await asyncio.wait_for(device.power_on(), 10.0)
        except BaseException:
            await adapter.close()
            raise
        return adapter

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        self.seen[advertisement.address.to_string(False)] = advertisement.address
        for scanner in list(self.scanners):
            scanner._on_advertisement(advertisement)

    def _on_transport_lost(self) -> None:
        if self.closed:
            return
        logger.warning("the simulated radio's HCI transport %s was lost", self.spec)
        self._forget()
        for client in list(self.clients):
            client._on_link_lost(_CONNECTION_TIMEOUT_REASON)

    def _forget(self) -> None:
        self.closed = True
        adapters = _adapters.get(asyncio.get_running_loop(), {})
        if adapters.get(self.spec) is self:
            del adapters[self.spec]

    async def close(self) -> None:
        self._forget()
        await self.transport.close()
        await asyncio.sleep(0)  # let the socket's connection_lost run

    async def set_scanning(self, active: bool) -> None:
        """Start scanning with the first scanner, stop with the last (bumble scans once)."""
        wanted = bool(self.scanners)
        if self.closed or wanted == self.device.is_scanning:
            return
        if wanted:
            await self.device.start_scanning(active=active, filter_duplicates=False)
        else:
            await self.device.stop_scanning()


_adapters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Adapter]] = (
    weakref.WeakKeyDictionary())
_adapter_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary())
_background: set[asyncio.Task[None]] = set()


async def _acquire(spec: str) -> _Adapter:
    loop = asyncio.get_running_loop()
    async with _adapter_locks.setdefault(loop, asyncio.Lock()):
        adapters = _adapters.setdefault(loop, {})
        adapter = adapters.get(spec)
        if adapter is None or adapter.closed:
            adapter = adapters[spec] = await _Adapter.open(spec)
        adapter.users += 1
        return adapter


async def _release(adapter: _Adapter) -> None:
    adapter.users -= 1
    if adapter.users == 0 and not adapter.closed:
        await adapter.close()


def _uuid_str(bumble_uuid: core.UUID) -> str:
    """A bumble UUID as bleak writes UUIDs: 128-bit, lower case."""
    return str(uuid.UUID(bytes=bumble_uuid.uuid_128_bytes[::-1]))


_UUID_LISTS = (  # AD type, bytes per UUID
    (AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, 2),
    (AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, 2),
    (AdvertisingData.COMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS, 4),
    (AdvertisingData.INCOMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS, 4),
    (AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS, 16),
    (AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS, 16),
)
_SERVICE_DATA = (
    (AdvertisingData.SERVICE_DATA_16_BIT_UUID, 2),
    (AdvertisingData.SERVICE_DATA_32_BIT_UUID, 4),
    (AdvertisingData.SERVICE_DATA_128_BIT_UUID, 16),
)


def _advertisement_data(advertisement: Advertisement) -> AdvertisementData:
    """bumble's advertisement as bleak's AdvertisementData (UUIDs as bleak writes them)."""
    data = advertisement.data
    service_uuids: list[str] = []
    for ad_type, size in _UUID_LISTS:
        for raw in data.get_all(ad_type, raw=True):
            service_uuids.extend(_uuid_str(core.UUID.from_bytes(raw[i:i + size]))
                                 for i in range(0, len(raw) - size + 1, size))
    service_data: dict[str, bytes] = {}
    for ad_type, size in _SERVICE_DATA:
        for raw in data.get_all(ad_type, raw=True):
            service_data.setdefault(_uuid_str(core.UUID.from_bytes(raw[:size])), raw[size:])
    manufacturer_data: dict[int, bytes] = {}
    for raw in data.get_all(AdvertisingData.MANUFACTURER_SPECIFIC_DATA, raw=True):
        manufacturer_data.setdefault(int.from_bytes(raw[:2], "little"), raw[2:])
    return AdvertisementData(
        local_name=(data.get(AdvertisingData.COMPLETE_LOCAL_NAME)
                    or data.get(AdvertisingData.SHORTENED_LOCAL_NAME)),
        manufacturer_data=manufacturer_data,
        service_data=service_data,
        service_uuids=list(dict.fromkeys(service_uuids)),  # a scan response may repeat them
        tx_power=data.get(AdvertisingData.TX_POWER_LEVEL),
        rssi=advertisement.rssi,
        platform_data=(advertisement,),
    )


# --- the bleak backends ------------------------------------------------------------------------


class BumbleScanner(BaseBleakScanner):
    """bleak scanner backend over the simulated radio (`BleakScanner(backend=BumbleScanner)`).

    Keyword: `bumble={"hci": "tcp-client:HOST:PORT"}` (else $LEGWAKE_SIM_HCI).
    `BLEDevice.details` is the bumble address (with its type), which `BumbleClient` uses.
    """

    def __init__(self, detection_callback: AdvertisementDataCallback | None,
                 service_uuids: list[str] | None, scanning_mode: str = "active", *,
                 bumble: BumbleArgs | None = None, **_kwargs: Any) -> None:
        super().__init__(detection_callback, service_uuids)
        self._hci = _hci_spec(bumble)
        self._active = scanning_mode != "passive"
        self._adapter: _Adapter | None = None

    async def start(self) -> None:
        if self._adapter is not None:
            return
        self.seen_devices = {}
        adapter = await _acquire(self._hci)
        adapter.scanners.add(self)
        self._adapter = adapter
        try:
            await adapter.set_scanning(self._active)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        adapter, self._adapter = self._adapter, None
        if adapter is None:
            return
        adapter.scanners.discard(self)
        try:
            await adapter.set_scanning(self._active)
        finally:
            await _release(adapter)

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        advertisement_data = _advertisement_data(advertisement)
        if not self.is_allowed_uuid(advertisement_data.service_uuids):
            return
        address = advertisement.address.to_string(False)
        device = self.create_or_update_device(address, address, advertisement_data.local_name,
                                              advertisement.address, advertisement_data)
        self.call_detection_callbacks(device, advertisement_data)


_PROPERTY_NAMES: tuple[tuple[gatt.Characteristic.Properties, CharacteristicPropertyName], ...] = (
    (gatt.Characteristic.Properties.BROADCAST, "broadcast"),
    (gatt.Characteristic.Properties.READ, "read"),
    (gatt.Characteristic.Properties.WRITE_WITHOUT_RESPONSE, "write-without-response"),
    (gatt.Characteristic.Properties.WRITE, "write"),
    (gatt.Characteristic.Properties.NOTIFY, "notify"),
    (gatt.Characteristic.Properties.INDICATE, "indicate"),
    (gatt.Characteristic.Properties.AUTHENTICATED_SIGNED_WRITES, "authenticated-signed-writes"),
    (gatt.Characteristic.Properties.EXTENDED_PROPERTIES, "extended-properties"),
)


class BumbleClient(BaseBleakClient):
    """bleak client backend over the simulated radio (`BleakClient(..., backend=BumbleClient)`).

    Keywords: `bumble={"hci": "tcp-client:HOST:PORT"}` (else $LEGWAKE_SIM_HCI), and
    `mtu=<23..517>`: the ATT MTU to request right after connecting (default: no exchange,
    the MTU stays 23). Errors: an ATT error response raises `BleakGATTProtocolError`, a
    request cut by a disconnection raises `BleakError`, a connect timeout `TimeoutError`.
    Pairing is not simulated (`pair`/`unpair` raise NotImplementedError).
    """

    def __init__(self, address_or_ble_device: BLEDevice | str, services: set[str] | None = None,
                 *, disconnected_callback: Callable[[], None] | None, timeout: float,
                 bumble: BumbleArgs | None = None, mtu: int | None = None,
                 **_kwargs: Any) -> None:
        super().__init__(address_or_ble_device, disconnected_callback=disconnected_callback,
                         timeout=timeout)
        if mtu is not None and not ATT_DEFAULT_MTU <= mtu <= 517:
            raise ValueError(f"an ATT MTU is 23..517, got {mtu}")
        self._hci = _hci_spec(bumble)
        self._mtu_request = mtu
        self._requested_services = services
        self._device_name: str | None = None
        self._typed_address: hci.Address | None = None
        if isinstance(address_or_ble_device, BLEDevice):
            self._device_name = address_or_ble_device.name
            if isinstance(address_or_ble_device.details, hci.Address):
                self._typed_address = address_or_ble_device.details
        self._adapter: _Adapter | None = None
        self._connection: Connection | None = None
        self._disconnecting = False
        self._subscribers: dict[int, Callable[[bytes], None]] = {}

    @property
    def name(self) -> str:
        return self._device_name or self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        return self._connection.att_mtu if self._connection is not None else ATT_DEFAULT_MTU

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    async def connect(self, pair: bool, **_kwargs: Any) -> None:
        if self._connection is not None:
            return
        if pair:
            logger.warning("the simulated radio does not pair; connecting without pairing")
        adapter = await _acquire(self._hci)
        try:
            async with adapter.connect_lock:
                address = (self._typed_address or adapter.seen.get(self.address.upper())
                           or hci.Address(self.address, hci.Address.RANDOM_DEVICE_ADDRESS))
                try:
                    connection = await adapter.device.connect(address, timeout=self._timeout)
                except core.TimeoutError as error:
                    raise TimeoutError(f"{self.address}: no connection within "
                                       f"{self._timeout} s") from error
                except (core.ConnectionError, hci.HCI_Error) as error:
                    raise BleakError(f"{self.address}: connection failed: {error}") from error
            self._adapter, self._connection = adapter, connection
            adapter.clients.add(self)
            connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        except BaseException:
            await _release(adapter)
            raise
        try:
            if (mtu := self._mtu_request) is not None:
                await self._gatt(lambda _client: Peer(connection).request_mtu(mtu))
            self.services = await self._discover()
        except BaseException:
            await self.disconnect()
            raise

    async def _discover(self) -> BleakGATTServiceCollection:
        """Every service, characteristic and descriptor, as bleak's collection."""
        wanted = [core.UUID(s) for s in self._requested_services or ()]
        services = await self._gatt(lambda client: client.discover_services(wanted))
        collection = BleakGATTServiceCollection()
        for service in services:
            characteristics = await self._gatt(
                lambda _client: service.discover_characteristics())  # noqa: B023 - awaited here
            bleak_service = BleakGATTService(service, service.handle, _uuid_str(service.uuid))
            collection.add_service(bleak_service)
            for characteristic in characteristics:
                descriptors = await self._gatt(
                    lambda _client: characteristic.discover_descriptors())  # noqa: B023
                bleak_characteristic = BleakGATTCharacteristic(
                    characteristic, characteristic.handle, _uuid_str(characteristic.uuid),
                    [name for flag, name in _PROPERTY_NAMES if characteristic.properties & flag],
                    lambda: self.mtu_size - 3, bleak_service)
                collection.add_characteristic(bleak_characteristic)
                for descriptor in descriptors:
                    collection.add_descriptor(BleakGATTDescriptor(
                        descriptor, descriptor.handle, _uuid_str(descriptor.type),
                        bleak_characteristic))
        return collection

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None:
            return
        self._disconnecting = True
        try:
            await connection.disconnect()
        except (hci.HCI_Error, core.BaseBumbleError) as error:
            logger.debug("%s: disconnect: %s", self.address, error)
        finally:
            self._disconnecting = False
            await self._forget_connection()

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("the simulated radio does not simulate pairing "
                                  "(the LegIMU contract needs none)")

    async def unpair(self) -> None:
        raise NotImplementedError("the simulated radio does not simulate pairing "
                                  "(the LegIMU contract needs none)")

    def _on_disconnection(self, reason: int) -> None:
        if self._disconnecting:
            return  # disconnect() finishes the job
        self._on_link_lost(reason)

    def _on_link_lost(self, reason: int) -> None:
        """An unsolicited disconnection: forget the link, then tell bleak's callback."""
        if self._connection is None:
            return
        logger.info("%s: disconnected (reason 0x%02X)", self.address, reason)
        task = asyncio.get_running_loop().create_task(self._forget_connection())
        _background.add(task)
        task.add_done_callback(_background.discard)
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    async def _forget_connection(self) -> None:
        adapter, self._adapter, self._connection = self._adapter, None, None
        self._subscribers.clear()
        if adapter is not None:
            adapter.clients.discard(self)
            await _release(adapter)

    async def _gatt(self, request: Callable[[Client], Any]) -> Any:
        """Run one GATT procedure, converting bumble's errors to bleak's."""
        connection = self._connection
        if connection is None:
            raise BleakError(f"{self.address}: not connected")
        try:
            return await request(connection.gatt_client)
        except att.ATT_Error as error:
            raise BleakGATTProtocolError(error.error_code) from error
        except core.TimeoutError as error:
            raise TimeoutError(f"{self.address}: GATT request timed out") from error
        except asyncio.CancelledError:
            # bumble cancels the pending request when the link drops; only a cancellation
            # of our own task is a cancellation.
            task = asyncio.current_task()
            if self._connection is not connection and task is not None and not task.cancelling():
                raise BleakError(f"{self.address}: disconnected during a GATT request") from None
            raise

    async def read_gatt_char(self, characteristic: BleakGATTCharacteristic, *,
                             use_cached: bool = False, **_kwargs: Any) -> bytearray:
        handle = characteristic.handle
        if use_cached and self._connection is not None:
            cached = self._connection.gatt_client.cached_values.get(handle)
            if cached is not None:
                return bytearray(cached[1])
        return bytearray(await self._gatt(lambda client: client.read_value(handle)))

    async def read_gatt_descriptor(self, descriptor: BleakGATTDescriptor, *,
                                   use_cached: bool = False, **_kwargs: Any) -> bytearray:
        handle = descriptor.handle
        return bytearray(await self._gatt(lambda client: client.read_value(handle)))

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data: SizedBuffer,
                              response: bool) -> None:
        value, handle = bytes(data), characteristic.handle
        await self._gatt(lambda client: client.write_value(handle, value, with_response=response))

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor,
                                    data: SizedBuffer) -> None:
        value, handle = bytes(data), descriptor.handle
        await self._gatt(lambda client: client.write_value(handle, value, with_response=True))

    async def start_notify(self, characteristic: BleakGATTCharacteristic,
                           callback: NotifyCallback, **_kwargs: Any) -> None:
        proxy: CharacteristicProxy[bytes] = characteristic.obj

        def subscriber(value: bytes) -> None:
            callback(bytearray(value))

        self._subscribers[characteristic.handle] = subscriber
        await self._gatt(lambda client: client.subscribe(proxy, subscriber, prefer_notify=True))

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        proxy: CharacteristicProxy[bytes] = characteristic.obj
        subscriber = self._subscribers.pop(characteristic.handle, None)
        await self._gatt(lambda client: client.unsubscribe(proxy, subscriber))
