"""The buzz on the thigh, through the real bleak path over the simulated radio: the agent
finds the v1.1 haptic characteristic by GATT discovery, plays the pattern an alert asks
for on the leg at risk, and lives with a v1 unit (no characteristic) or a lost link by
logging once, never failing and never waiting."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import pytest

from edge.config import HapticConfig
from edge.nudge.haptic import HapticSink, pattern_for
from edge.sources.ble import BleImuSource
from edge.wire import HAPTIC_DOUBLE_TAP, HAPTIC_INSIST, HAPTIC_TAP
from firmware_sim.clock import SimClock
from firmware_sim.legimu import haptic_duration_ms
from firmware_sim.packets import PLACEMENT_LEFT, PLACEMENT_RIGHT
from firmware_sim.radio import BumbleClient, BumbleScanner
from tests.test_ble import make_unit, radio_of, run, wait_until


def source_for(side: str, radio) -> BleImuSource:
    return BleImuSource(side, scanner_backend=BumbleScanner, client_backend=BumbleClient,
                        backend_kwargs={"bumble": {"hci": radio.hci_client}},
                        backoff_initial_s=0.05, backoff_max_s=0.2, scan_timeout_s=2.0,
                        connect_timeout_s=2.0)


async def streaming(source: BleImuSource, stack: contextlib.AsyncExitStack) -> None:
    """Consume the source in the background until the stack closes; wait until linked."""
    async def consume() -> None:
        async with contextlib.aclosing(source.stream()) as stream:
            async for _chunk in stream:
                pass

    task = asyncio.create_task(consume())
    stack.push_async_callback(lambda: _cancel(task))
    await wait_until(lambda: source.can_buzz is not None)


async def _cancel(task: asyncio.Task) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def numbness(site: str, *, reminder: int = 0, numb: bool = False) -> dict:
    return {"event": "alert", "id": "A-1", "kind": "numbness", "site": site,
            "reminder": reminder, "numb": numb, "time_to_numbness_s": 0.0 if numb else 170.0}


def test_patterns_follow_the_alert():
    assert pattern_for(numbness("peroneal_left")) == (HAPTIC_TAP, ("left",))
    assert pattern_for(numbness("sciatic_right", reminder=1)) == (HAPTIC_DOUBLE_TAP, ("right",))
    assert pattern_for(numbness("thigh_left", reminder=2, numb=True)) == (HAPTIC_INSIST,
                                                                          ("left",))
    assert pattern_for({"event": "alert", "kind": "break", "site": None})[1] == ("left", "right")
    assert [haptic_duration_ms(p) for p in (0, 1, 2, 3)] == [0, 150, 450, 1800]


def test_an_alert_buzzes_the_leg_at_risk_and_a_break_both_legs():
    async def scenario() -> tuple[list, list]:
        clock = SimClock(speed=1.0)
        left, right = make_unit(PLACEMENT_LEFT, clock), make_unit(PLACEMENT_RIGHT, clock)
        async with radio_of(left, right) as radio, contextlib.AsyncExitStack() as stack:
            units = {"left": source_for("left", radio), "right": source_for("right", radio)}
            for unit in units.values():
                await streaming(unit, stack)
            assert units["left"].can_buzz and units["right"].can_buzz
            sink = HapticSink(HapticConfig(intensity=55), units)
            sink.event(numbness("peroneal_left"))
            sink.event(numbness("peroneal_left", reminder=1))
            sink.event(numbness("peroneal_left", reminder=2, numb=True))
            await sink.drain()
            await wait_until(lambda: len(left.buzzes) == 3)
            sink.event({"event": "alert", "id": "B-1", "kind": "break", "site": None})
            await sink.drain()
            await wait_until(lambda: len(left.buzzes) == 4 and len(right.buzzes) == 1)
            assert sink.played == 5 and sink.missed == 0
            return left.buzzes, right.buzzes

    left, right = run(scenario())
    assert [(name, pct) for _t, name, pct in left] == [
        ("tap", 55), ("double tap", 55), ("insist", 55), ("double tap", 55)]
    assert [(name, pct) for _t, name, pct in right] == [("double tap", 55)]


def test_settings_choose_whether_and_which_alerts_buzz():
    async def scenario() -> tuple[int, int]:
        clock = SimClock(speed=1.0)
        left = make_unit(PLACEMENT_LEFT, clock)
        async with radio_of(left) as radio, contextlib.AsyncExitStack() as stack:
            unit = source_for("left", radio)
            await streaming(unit, stack)
            off = HapticSink(HapticConfig(enabled=False), {"left": unit})
            breaks_only = HapticSink(HapticConfig(kinds=("break",)), {"left": unit})
            for sink in (off, breaks_only):
                sink.event(numbness("peroneal_left"))
                sink.event({"event": "alert", "id": "B", "kind": "break", "site": None})
                await sink.drain()
            await asyncio.sleep(0.3)
            return len(left.buzzes), off.played + breaks_only.played

    assert run(scenario()) == (1, 1)


def test_a_v1_unit_without_the_characteristic_is_logged_once_and_never_fails(caplog):
    caplog.set_level(logging.INFO)

    async def scenario() -> list[bool]:
        clock = SimClock(speed=1.0)
        left = make_unit(PLACEMENT_LEFT, clock, haptic=False)
        async with radio_of(left) as radio, contextlib.AsyncExitStack() as stack:
            unit = source_for("left", radio)
            await streaming(unit, stack)
            assert unit.can_buzz is False and unit.describe()["haptic"] is False
            started = time.monotonic()
            results = [await unit.buzz(HAPTIC_TAP, 50) for _ in range(5)]
            assert time.monotonic() - started < 0.5  # no write is even tried
            return results

    assert run(scenario()) == [False] * 5
    said = [r for r in caplog.records if "haptic" in r.getMessage()]
    assert len(said) == 1 and "v1 unit" in said[0].getMessage()


def test_a_lost_link_is_logged_once_and_the_buzz_comes_back_with_the_link(caplog):
    caplog.set_level(logging.INFO)

    async def scenario() -> tuple[list[bool], bool, int]:
        clock = SimClock(speed=1.0)
        left = make_unit(PLACEMENT_LEFT, clock)
        async with radio_of(left) as radio, contextlib.AsyncExitStack() as stack:
            unit = source_for("left", radio)
            await streaming(unit, stack)
            await left.detach()  # the unit is switched off
            await wait_until(lambda: unit.can_buzz is None)
            while_gone = [await unit.buzz(HAPTIC_TAP, 50) for _ in range(3)]
            await radio.add(left)  # and on again: the source reconnects
            await wait_until(lambda: unit.can_buzz is True, timeout_s=10)
            back = await unit.buzz(HAPTIC_TAP, 50)
            await wait_until(lambda: len(left.buzzes) == 1)
            return while_gone, back, len(left.buzzes)

    while_gone, back, played = run(scenario(), timeout_s=30)
    assert while_gone == [False] * 3 and back and played == 1
    said = [r for r in caplog.records if "cannot buzz" in r.getMessage()]
    assert len(said) == 1


def test_invalid_writes_are_ignored_by_the_unit():
    async def scenario() -> list:
        from bleak import BleakClient

        from firmware_sim.legimu import IMU_HAPTIC_UUID
        left = make_unit(PLACEMENT_LEFT, SimClock())
        async with radio_of(left) as radio, BleakClient(
                left.address.to_string(False), backend=BumbleClient, timeout=5.0,
                bumble={"hci": radio.hci_client}) as client:
            for value in (b"\x04\x10", b"\x01\x65", b"\x01", b"\x02\x20\x00", b"\x00\x00"):
                await client.write_gatt_char(IMU_HAPTIC_UUID, value, response=True)
            return left.buzzes

    assert [(name, pct) for _t, name, pct in run(scenario())] == [("stop", 0)]


@pytest.mark.parametrize("side", ["left", "right"])
def test_a_unit_reports_what_it_played_to_a_listener(side):
    heard: list[tuple[str, int]] = []

    async def scenario() -> None:
        placement = PLACEMENT_LEFT if side == "left" else PLACEMENT_RIGHT
        unit = make_unit(placement, SimClock(), on_buzz=lambda *a: heard.append(a))
        async with radio_of(unit) as radio, contextlib.AsyncExitStack() as stack:
            source = source_for(side, radio)
            await streaming(source, stack)
            assert await source.buzz(HAPTIC_INSIST, 100)
            await wait_until(lambda: bool(heard))

    run(scenario())
    assert heard == [("insist", 100)]


@pytest.mark.parametrize("haptic", [True, False])
def test_the_simulated_desk_reports_each_buzz_as_legwake_sim_prints_it(haptic):
    """`legwake sim` prints what LiveDesk's on_buzz hears; `--no-haptic` plays v1 units."""
    from firmware_sim.scenario import get_scenario
    from firmware_sim.simulation import LiveDesk, Sitter

    heard: list[tuple[str, str, int]] = []

    async def scenario() -> bool | None:
        desk = LiveDesk(Sitter(get_scenario("crossed_legs", seed=1), seed=1),
                        hci="tcp-server:127.0.0.1:0", haptic=haptic,
                        on_buzz=lambda *a: heard.append(a))
        async with desk, contextlib.AsyncExitStack() as stack:
            source = BleImuSource("right", scanner_backend=BumbleScanner,
                                  client_backend=BumbleClient,
                                  backend_kwargs={"bumble": {"hci": desk.hci_client}},
                                  scan_timeout_s=5.0, connect_timeout_s=5.0)
            await streaming(source, stack)
            played = await source.buzz(HAPTIC_DOUBLE_TAP, 40)
            if haptic:
                await wait_until(lambda: bool(heard))
            return played

    assert run(scenario(), timeout_s=30) is haptic
    assert heard == ([("LegIMU-R-216B", "double tap", 40)] if haptic else [])
