"""The BLE path end to end: simulated LegIMU -> bumble link -> HCI over TCP -> bleak -> bytes.

Nothing of ours is mocked: the units are real bumble GATT servers, the agent side
is bleak's public API with the simulated-radio backend, and the bytes are checked
against the contract by decoding them (edge.wire) back into the motion they came from.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakGATTProtocolError, BleakGATTProtocolErrorCode
from click.testing import CliRunner

from edge.cli import main as cli
from edge.sources.ble import BleImuSource, scan_units
from edge.wire import LegImuDecoder
from firmware_sim.clock import SimClock
from firmware_sim.legimu import (
    IMU_CONFIG_UUID,
    IMU_DATA_UUID,
    IMU_SERVICE_UUID,
    LegImuFirmware,
)
from firmware_sim.packets import PLACEMENT_LEFT, PLACEMENT_RIGHT
from firmware_sim.radio import BumbleClient, BumbleScanner, SimRadio

ROOT = Path(__file__).resolve().parent.parent
LEFT_ADDRESS = "F0:00:00:00:12:AB"
RIGHT_ADDRESS = "F0:00:00:00:34:CD"
BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"
T = TypeVar("T")


def thigh_motion(t_s: np.ndarray) -> np.ndarray:
    """Test data: six distinct, deterministic channels of the sample time (whole ms)."""
    ms = np.rint(np.asarray(t_s, dtype=np.float64) * 1000.0).astype(np.int64)
    return np.stack([ms % 2000 - 1000, (ms // 7) % 3000 - 1500, 1000 + ms % 97,
                     -(ms % 3001), (ms * 3) % 32000, (ms // 3) % 500 - 250],
                    axis=1).astype(np.int16)


def run(coroutine: Awaitable[T], timeout_s: float = 20.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coroutine, timeout_s)
    return asyncio.run(bounded())


async def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.01)


def make_unit(placement: int, clock: SimClock, **kwargs: Any) -> LegImuFirmware:
    address = LEFT_ADDRESS if placement == PLACEMENT_LEFT else RIGHT_ADDRESS
    return LegImuFirmware(placement, thigh_motion, clock=clock, address=address, **kwargs)


def radio_of(*units: LegImuFirmware) -> SimRadio:
    return SimRadio(units, hci="tcp-server:127.0.0.1:0")  # port 0: a free port


def decode_and_check(notifications: list[bytes], *, boot_ms: int, rate_hz: int,
                     placement: int) -> np.ndarray:
    """Decode with the agent's decoder and check each sample is motion(its time)."""
    decoder = LegImuDecoder(rate_hz=rate_hz, placement=placement)
    samples = decoder.feed(notifications, [0.0] * len(notifications))
    assert samples is not None
    assert decoder.counters.bad_packets == 0 and decoder.counters.seq_gaps == 0
    t_s = (samples.device_ms - boot_ms) / 1000.0  # unwrapped device ms -> scenario s
    received = np.hstack([samples.accel_mg, samples.gyro_dps10])
    np.testing.assert_array_equal(received, thigh_motion(t_s))
    np.testing.assert_array_equal(np.diff(samples.device_ms), 1000.0 / rate_hz)
    return samples.device_ms


@pytest.mark.parametrize(("mtu", "per_notification"), [(23, 1), (247, 19)])
def test_notifications_are_what_the_unit_sent_and_decode_to_its_motion(mtu, per_notification):
    boot_ms = 2**32 - 6_000  # device_ms wraps 6 scenario seconds (0.6 s) in
    sent: list[bytes] = []
    received: list[bytearray] = []

    async def scenario() -> None:
        unit = make_unit(PLACEMENT_LEFT, SimClock(speed=10.0), boot_ms=boot_ms,
                         on_notify=sent.append)
        async with (radio_of(unit) as radio,
                    BleakClient(LEFT_ADDRESS, backend=BumbleClient, timeout=5.0,
                                bumble={"hci": radio.hci_client}, mtu=mtu) as client):
            assert client.mtu_size == mtu
            await client.start_notify(IMU_DATA_UUID, lambda _c, data: received.append(data))
            await wait_until(lambda: len(received) * per_notification >= 700)
            await client.stop_notify(IMU_DATA_UUID)

    run(scenario())
    assert all(type(chunk) is bytearray for chunk in received)  # as bleak promises
    assert len(received) >= 700 // per_notification
    assert [bytes(chunk) for chunk in received] == sent[:len(received)]
    assert {chunk[1] for chunk in received} == {per_notification}
    seqs = [int.from_bytes(chunk[2:4], "little") for chunk in received]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    raw_ms = [int.from_bytes(chunk[4:8], "little") for chunk in received]
    assert max(raw_ms) > 2**32 - 2_000 and min(raw_ms) < 10_000  # the u32 wrapped
    decode_and_check([bytes(c) for c in received], boot_ms=boot_ms, rate_hz=50,
                     placement=PLACEMENT_LEFT)


def test_config_and_battery_characteristics():
    async def scenario() -> None:
        unit = make_unit(PLACEMENT_RIGHT, SimClock(speed=5.0), battery_pct=87.0)
        received: list[bytearray] = []
        async with (radio_of(unit) as radio,
                    BleakClient(RIGHT_ADDRESS, backend=BumbleClient, timeout=5.0,
                                bumble={"hci": radio.hci_client}) as client):
            assert client.mtu_size == 23  # no MTU exchange unless asked
            service = client.services.get_service(IMU_SERVICE_UUID)
            config = service.get_characteristic(IMU_CONFIG_UUID) if service else None
            assert config is not None and set(config.properties) == {"read", "write"}
            assert await client.read_gatt_char(IMU_CONFIG_UUID) == bytes([50, 0, 2])
            assert await client.read_gatt_char(BATTERY_LEVEL_UUID) == bytes([87])

            await client.write_gatt_char(IMU_CONFIG_UUID, (100).to_bytes(2, "little"),
                                         response=True)
            assert await client.read_gatt_char(IMU_CONFIG_UUID) == bytes([100, 0, 2])
            # Writing back what was read is allowed: the placement is unchanged.
            await client.write_gatt_char(IMU_CONFIG_UUID, bytes([25, 0, 2]), response=True)
            await client.write_gatt_char(IMU_CONFIG_UUID, bytes([100, 0, 2]), response=True)
            for bad, code in [((30).to_bytes(2, "little"),
                               BleakGATTProtocolErrorCode.VALUE_NOT_ALLOWED),
                              (bytes([50, 0, 1]),
                               BleakGATTProtocolErrorCode.WRITE_NOT_PERMITTED),
                              (bytes([50]),
                               BleakGATTProtocolErrorCode.INVALID_ATTRIBUTE_VALUE_LENGTH)]:
                with pytest.raises(BleakGATTProtocolError) as error:
                    await client.write_gatt_char(IMU_CONFIG_UUID, bad, response=True)
                assert error.value.code == code
            assert await client.read_gatt_char(IMU_CONFIG_UUID) == bytes([100, 0, 2])

            await client.start_notify(IMU_DATA_UUID, lambda _c, data: received.append(data))
            await wait_until(lambda: len(received) >= 20)
        # The new rate took effect: samples 10 ms apart.
        decode_and_check([bytes(c) for c in received], boot_ms=0, rate_hz=100,
                         placement=PLACEMENT_RIGHT)

    run(scenario())


def test_battery_level_drains_and_is_notified():
    async def scenario() -> None:
        # 180 %/h at speed 100: one percent every 20 scenario seconds, 0.2 s of wall time.
        unit = make_unit(PLACEMENT_LEFT, SimClock(speed=100.0), battery_drain_pct_per_h=180.0)
        levels: list[int] = []
        async with (radio_of(unit) as radio,
                    BleakClient(LEFT_ADDRESS, backend=BumbleClient, timeout=5.0,
                                bumble={"hci": radio.hci_client}) as client):
            first = (await client.read_gatt_char(BATTERY_LEVEL_UUID))[0]
            await client.start_notify(BATTERY_LEVEL_UUID, lambda _c, data: levels.extend(data))
            await wait_until(lambda: len(levels) >= 3)
        assert 90 <= first <= 100
        assert first > levels[0] > levels[1] > levels[2]  # a notification at each drop

    run(scenario())


def test_scan_finds_both_units_with_their_names():
    async def scenario() -> None:
        clock = SimClock()
        async with radio_of(make_unit(PLACEMENT_LEFT, clock),
                            make_unit(PLACEMENT_RIGHT, clock)) as radio:
            units = await scan_units(0.5, BumbleScanner, bumble={"hci": radio.hci_client})
            assert [(u["name"], u["address"], u["placement"]) for u in units] == [
                ("LegIMU-L-12AB", LEFT_ADDRESS, "left"),
                ("LegIMU-R-34CD", RIGHT_ADDRESS, "right")]
            assert all(isinstance(u["rssi"], int) for u in units)
            # The service filter is applied: no unit matches another service.
            async with BleakScanner(service_uuids=["0000180d-0000-1000-8000-00805f9b34fb"],
                                    backend=BumbleScanner,
                                    bumble={"hci": radio.hci_client}) as scanner:
                await asyncio.sleep(0.3)
                assert scanner.discovered_devices == []

    run(scenario())


def test_source_reconnects_after_the_link_drops_and_delivers_in_order():
    chunks = []

    async def scenario() -> None:
        clock = SimClock(speed=5.0)
        left, right = make_unit(PLACEMENT_LEFT, clock), make_unit(PLACEMENT_RIGHT, clock)
        async with radio_of(left, right) as radio:
            source = BleImuSource("right", scanner_backend=BumbleScanner,
                                  client_backend=BumbleClient,
                                  backend_kwargs={"bumble": {"hci": radio.hci_client}},
                                  backoff_initial_s=0.05, backoff_max_s=0.2,
                                  scan_timeout_s=2.0, connect_timeout_s=2.0)
            async with contextlib.aclosing(source.stream()) as stream:
                async for chunk in stream:
                    chunks.append(chunk)
                    if len(chunks) == 3:
                        assert source.describe() == {
                            "transport": "ble", "placement": "right", "address": RIGHT_ADDRESS,
                            "name": "LegIMU-R-34CD", "rate_hz": 50, "mtu": 247,
                            "haptic": True}
                        await right.drop_link()
                    if len(chunks) == 10:
                        break
            assert (source.health.connects, source.health.disconnects) == (2, 2)
            assert "lost" in source.health.last_error
            await wait_until(lambda: not right.connected)  # closing the stream disconnected
            assert not left.connected  # the right unit was chosen, by its name prefix

    run(scenario())
    assert {chunk.source for chunk in chunks} == {"imu_right"}
    arrivals = [chunk.arrival_s for chunk in chunks]
    assert arrivals == sorted(arrivals)
    seqs = [int.from_bytes(chunk.data[2:4], "little") for chunk in chunks]
    assert seqs == list(range(seqs[0], seqs[0] + 10))  # seq continues across the reconnect
    assert all(chunk.data[0] == 0x12 and chunk.data[1] == 19 for chunk in chunks)


def test_a_connection_to_an_absent_unit_times_out_and_the_adapter_stays_usable():
    async def scenario() -> None:
        async with radio_of(make_unit(PLACEMENT_LEFT, SimClock())) as radio:
            kwargs: dict[str, Any] = {"backend": BumbleClient, "bumble": {"hci": radio.hci_client}}
            with pytest.raises(TimeoutError):
                await BleakClient("F0:00:00:00:99:99", timeout=0.3, **kwargs).connect()
            async with BleakClient(LEFT_ADDRESS, timeout=5.0, **kwargs) as client:
                assert await client.read_gatt_char(IMU_CONFIG_UUID) == bytes([50, 0, 1])

    run(scenario())


def test_source_survives_a_simulator_restart():
    async def scenario() -> None:
        unit = make_unit(PLACEMENT_LEFT, SimClock(speed=5.0))
        radio = radio_of(unit)
        await radio.start()
        hci_client = radio.hci_client
        source = BleImuSource("left", scanner_backend=BumbleScanner, client_backend=BumbleClient,
                              backend_kwargs={"bumble": {"hci": hci_client}},
                              backoff_initial_s=0.05, backoff_max_s=0.1)
        try:
            async with contextlib.aclosing(source.stream()) as stream:
                await anext(stream)
                await radio.stop()  # the simulator goes away: its HCI port with it
                await wait_until(lambda: source.health.disconnects == 1)
                await asyncio.sleep(0.3)  # a few failed attempts (connection refused)
                assert source.health.connects == 1
                radio = SimRadio([unit], hci=hci_client.replace("tcp-client", "tcp-server"))
                await radio.start()
                while source.health.connects < 2:
                    await anext(stream)
                await anext(stream)
        finally:
            await radio.stop()
        assert source.health.disconnects == 2

    run(scenario())


def test_a_slow_consumer_loses_the_oldest_notifications_counted():
    async def scenario() -> None:
        unit = make_unit(PLACEMENT_LEFT, SimClock(speed=20.0))
        async with radio_of(unit) as radio:
            source = BleImuSource(1, address=LEFT_ADDRESS, rate_hz=100, mtu=23, queue_size=4,
                                  scanner_backend=BumbleScanner, client_backend=BumbleClient,
                                  backend_kwargs={"bumble": {"hci": radio.hci_client}})
            async with contextlib.aclosing(source.stream()) as stream:
                first = await anext(stream)
                await asyncio.sleep(0.3)  # 2000 samples/s arrive meanwhile
                later = [await anext(stream) for _ in range(4)]
            assert source.health.dropped_chunks > 100
            assert source.describe()["rate_hz"] == 100  # the configured rate was written
            seqs = [int.from_bytes(c.data[2:4], "little") for c in [first, *later]]
            assert seqs[1] - seqs[0] > 100 and seqs[1:] == list(range(seqs[1], seqs[1] + 4))

    run(scenario())


def test_cancelling_the_consumer_disconnects_the_unit():
    async def scenario() -> None:
        unit = make_unit(PLACEMENT_LEFT, SimClock(speed=5.0))
        async with radio_of(unit) as radio:
            source = BleImuSource("left", unit_name="LegIMU-L-12AB",
                                  scanner_backend=BumbleScanner, client_backend=BumbleClient,
                                  backend_kwargs={"bumble": {"hci": radio.hci_client}})
            received: list[Any] = []

            async def consume() -> None:
                async for chunk in source.stream():
                    received.append(chunk)

            consumer = asyncio.create_task(consume())
            await wait_until(lambda: len(received) >= 2)
            consumer.cancel()
            with pytest.raises(asyncio.CancelledError):
                await consumer
            assert (source.health.connects, source.health.disconnects) == (1, 1)
            await wait_until(lambda: not unit.connected)

    run(scenario())


_SIMULATOR = """
import asyncio, sys
import numpy as np
from firmware_sim.clock import SimClock
from firmware_sim.legimu import LegImuFirmware
from firmware_sim.radio import SimRadio

async def main():
    clock = SimClock()
    still = lambda t: np.tile(np.array([0, 0, 1000, 0, 0, 0], np.int16), (len(t), 1))
    units = [LegImuFirmware(1, still, clock=clock, address="F0:00:00:00:12:AB"),
             LegImuFirmware(2, still, clock=clock, address="F0:00:00:00:34:CD")]
    async with SimRadio(units, hci="tcp-server:127.0.0.1:0") as radio:
        print(radio.hci_client, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""


def test_scan_command_across_processes():
    simulator = subprocess.Popen([sys.executable, "-c", _SIMULATOR], cwd=ROOT, text=True,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert simulator.stdout is not None
        hci = simulator.stdout.readline().strip()
        assert hci.startswith("tcp-client:127.0.0.1:"), hci
        started = time.monotonic()
        result = CliRunner().invoke(cli, ["scan", "--timeout", "0.5", "--sim-hci", hci])
        assert result.exit_code == 0, result.output
        assert result.output.splitlines() == [
            f"LegIMU-L-12AB\t{LEFT_ADDRESS}\tleft\t-50 dBm",
            f"LegIMU-R-34CD\t{RIGHT_ADDRESS}\tright\t-50 dBm"]
        assert time.monotonic() - started < 5
    finally:
        assert simulator.stdin is not None and simulator.stdout is not None
        simulator.stdin.close()
        simulator.wait(timeout=10)
        simulator.stdout.close()
    assert simulator.returncode == 0


def test_scan_command_reports_an_absent_radio():
    result = CliRunner().invoke(cli, ["scan", "--timeout", "0.2",
                                      "--sim-hci", "tcp-client:127.0.0.1:1"])
    assert result.exit_code == 1
    assert "scan failed" in result.output
