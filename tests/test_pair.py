"""`legwake pair` with two desks' thigh units on one simulated radio: the person's units
are the ones that move when told to shake, the configuration file gets their addresses
and keeps everything else, and an agent left to guess refuses to pick a neighbour's.

Nothing of ours is mocked: four LegIMU firmwares (two left, two right) on one SimRadio,
reached through bleak's API with the simulated-radio backend, as in tests/test_ble.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Self, TypeVar

import numpy as np
import pytest
from click.testing import CliRunner

from edge.cli import main as cli
from edge.config import ConfigError, load_config
from edge.pair import (
    Candidate,
    PairingError,
    UnitMotion,
    moving_unit,
    pair_units,
    set_imu_units,
    write_imu_units,
)
from edge.sources.ble import BleImuSource
from firmware_sim.clock import SimClock
from firmware_sim.legimu import LegImuFirmware
from firmware_sim.packets import PLACEMENT_LEFT, PLACEMENT_RIGHT
from firmware_sim.radio import BumbleClient, BumbleScanner, SimRadio

ROOT = Path(__file__).resolve().parent.parent
# This desk's units, and the neighbour's.
MY_LEFT, MY_RIGHT = "F0:00:00:00:12:AB", "F0:00:00:00:34:CD"
THEIR_LEFT, THEIR_RIGHT = "F0:00:00:00:56:EF", "F0:00:00:00:78:90"
UNITS = {MY_LEFT: PLACEMENT_LEFT, THEIR_LEFT: PLACEMENT_LEFT,
         MY_RIGHT: PLACEMENT_RIGHT, THEIR_RIGHT: PLACEMENT_RIGHT}
T = TypeVar("T")


def run(coroutine: Awaitable[T], timeout_s: float = 30.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coroutine, timeout_s)
    return asyncio.run(bounded())


def thigh(shaking: Callable[[], bool]) -> Callable[[np.ndarray], np.ndarray]:
    """A thigh at rest (gravity up its z axis, a few mg and 0.1 deg/s of sensor noise), or,
    while `shaking()`, a leg shaken at 4 Hz: +-600 mg along the thigh and +-150 deg/s."""
    def motion(t_s: np.ndarray) -> np.ndarray:
        t_s = np.asarray(t_s, dtype=np.float64)
        noise = np.rint(3 * np.sin(2 * np.pi * 7.3 * t_s))
        rest = np.stack([noise, -noise, 1000 + noise, noise, noise, -noise], axis=1)
        if shaking():
            phase = 2 * np.pi * 4.0 * t_s
            rest += np.stack([600 * np.sin(phase), 0 * t_s, 400 * np.cos(phase),
                              1500 * np.cos(phase), 0 * t_s, 0 * t_s], axis=1)
        return np.rint(rest).astype(np.int16)
    return motion


def two_desks(shakes: Callable[[str], bool], clock: SimClock) -> list[LegImuFirmware]:
    """Four units; `shakes(address)` says whether a unit's leg is shaken now."""
    return [LegImuFirmware(placement, thigh(lambda a=address: shakes(a)), clock=clock,
                           address=address) for address, placement in UNITS.items()]


def sim_backends(radio: SimRadio) -> dict[str, object]:
    return {"scanner_backend": BumbleScanner, "client_backend": BumbleClient,
            "backend_kwargs": {"bumble": {"hci": radio.hci_client}}}


# --- pairing on the radio ----------------------------------------------------------------------


def test_pairing_picks_the_unit_of_the_leg_shaken_when_told():
    shaken: set[str] = set()  # the addresses whose leg moves now
    asked: list[tuple[str, list[str]]] = []
    recorded: list[str] = []

    async def ready(side: str, units: Sequence[Candidate]) -> None:
        asked.append((side, [unit.name for unit in units]))
        shaken.clear()  # the person shakes the leg asked for, and only that one
        shaken.add(MY_LEFT if side == "left" else MY_RIGHT)

    async def scenario() -> dict[str, UnitMotion]:
        async with SimRadio(two_desks(shaken.__contains__, SimClock()),
                            hci="tcp-server:127.0.0.1:0") as radio:
            chosen = await pair_units(scan_s=0.5, shake_s=1.0, ready=ready,
                                      on_recording=recorded.append, **sim_backends(radio))
            await asyncio.sleep(0.2)
            assert not any(unit.connected for unit in radio.units)  # every unit let go
            return chosen

    chosen = run(scenario())
    assert asked == [("left", ["LegIMU-L-12AB", "LegIMU-L-56EF"]),
                     ("right", ["LegIMU-R-34CD", "LegIMU-R-7890"])]
    assert recorded == ["left", "right"]
    assert {side: m.unit.address for side, m in chosen.items()} == {"left": MY_LEFT,
                                                                   "right": MY_RIGHT}
    for motion in chosen.values():
        assert motion.moving and motion.samples >= 19  # 1 s at 50 Hz, 19 a notification
        assert motion.accel_std_mg > 200 and motion.gyro_std_dps > 80


@pytest.mark.parametrize(("shaking", "refusal"), [
    (set(), "no left thigh unit moved"),
    ({MY_LEFT, THEIR_LEFT}, "2 left thigh units moved"),
])
def test_pairing_refuses_when_no_unit_or_more_than_one_moves(shaking, refusal):
    async def ready(_side: str, _units: Sequence[Candidate]) -> None:
        pass

    async def scenario() -> None:
        async with SimRadio(two_desks(shaking.__contains__, SimClock()),
                            hci="tcp-server:127.0.0.1:0") as radio:
            await pair_units(scan_s=0.5, shake_s=0.8, ready=ready, **sim_backends(radio))

    with pytest.raises(PairingError) as error:
        run(scenario())
    message = str(error.value)
    assert refusal in message and "try again" in message
    assert "LegIMU-L-12AB" in message and "LegIMU-L-56EF" in message  # what each did


def test_pairing_refuses_a_side_with_no_unit_advertising():
    async def ready(_side: str, _units: Sequence[Candidate]) -> None:
        raise AssertionError("nothing to shake")

    async def scenario() -> None:
        left_only = [u for u in two_desks(lambda _a: True, SimClock())
                     if u.placement == PLACEMENT_LEFT]
        async with SimRadio(left_only, hci="tcp-server:127.0.0.1:0") as radio:
            await pair_units(scan_s=0.5, shake_s=0.5, ready=ready, **sim_backends(radio))

    with pytest.raises(PairingError, match="no right thigh unit advertising.*try again"):
        run(scenario())


def test_moving_unit_needs_enough_data():
    unit = Candidate("LegIMU-L-12AB", MY_LEFT, "left")
    short = UnitMotion(unit, samples=3, accel_std_mg=500.0, gyro_std_dps=90.0)
    broken = UnitMotion(Candidate("LegIMU-L-56EF", THEIR_LEFT, "left"), error="TimeoutError")
    with pytest.raises(PairingError, match="too little data.*could not be read"):
        moving_unit("left", [short, broken])


# --- the agent with and without pairing --------------------------------------------------------


def test_the_agent_refuses_to_guess_between_two_left_units_and_reads_the_paired_one():
    async def first_chunk(source: BleImuSource):
        async with contextlib.aclosing(source.stream()) as stream:
            return await anext(stream)

    async def scenario() -> None:
        async with SimRadio(two_desks(lambda _a: False, SimClock()),
                            hci="tcp-server:127.0.0.1:0") as radio:
            backends = sim_backends(radio)
            guessing = BleImuSource("left", scan_timeout_s=5.0, backoff_initial_s=0.05,
                                    backoff_max_s=0.1, **backends)
            reader = asyncio.create_task(first_chunk(guessing))
            async with asyncio.timeout(10):
                while "legwake pair" not in guessing.health.last_error:
                    await asyncio.sleep(0.05)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            error = guessing.health.last_error
            assert error.startswith("AmbiguousUnitError: 2 left thigh units advertise")
            assert f"LegIMU-L-12AB ({MY_LEFT})" in error
            assert f"LegIMU-L-56EF ({THEIR_LEFT})" in error
            assert guessing.health.connects == 0
            assert not any(unit.connected for unit in radio.units)

            paired = BleImuSource("left", address=MY_LEFT, **backends)
            chunk = await first_chunk(paired)
            assert chunk.source == "imu_left" and chunk.data[0] == 0x11
            assert paired.describe()["address"] == MY_LEFT
            assert paired.describe()["name"] == "LegIMU-L-12AB"

    run(scenario())


def test_one_unit_of_the_side_is_taken_without_pairing():
    async def scenario() -> None:
        units = [u for u in two_desks(lambda _a: False, SimClock())
                 if u.address.to_string(False) != THEIR_RIGHT]
        async with SimRadio(units, hci="tcp-server:127.0.0.1:0") as radio:
            source = BleImuSource("right", **sim_backends(radio))
            async with contextlib.aclosing(source.stream()) as stream:
                await anext(stream)
            assert source.describe()["address"] == MY_RIGHT

    run(scenario())


# --- the configuration file --------------------------------------------------------------------


PAIRED = {"left": MY_LEFT, "right": MY_RIGHT}


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    old, new = before.splitlines(), after.splitlines()
    assert len(old) == len(new)
    return [(a, b) for a, b in zip(old, new, strict=True) if a != b]


def test_the_sample_configuration_changes_in_two_values_only():
    sample = (ROOT / "config.toml").read_text(encoding="utf-8")
    paired = set_imu_units(sample, PAIRED)
    assert changed_lines(sample, paired) == [('left = ""', f'left = "{MY_LEFT}"'),
                                             ('right = ""', f'right = "{MY_RIGHT}"')]


def test_other_sections_keys_and_trailing_comments_are_kept():
    text = ('[mat]\nport = ""  # no mat\n\n[imu]\n# which units\nleft = "LegIMU-L-0000"  '
            '# guessed\n"right" = \'\'\nrate_hz = 25\n\n# the BLE stack\n[ble]\nleft = 1\n')
    paired = set_imu_units(text, PAIRED)
    assert changed_lines(text, paired) == [
        ('left = "LegIMU-L-0000"  # guessed', f'left = "{MY_LEFT}"  # guessed'),
        ("\"right\" = ''", f'"right" = "{MY_RIGHT}"')]


def test_missing_keys_and_a_missing_section_are_added():
    text = '[imu]\n# the units\nrate_hz = 25\n\n[ble]\nbackend = "sim"\n'
    assert set_imu_units(text, PAIRED) == (
        f'[imu]\n# the units\nrate_hz = 25\nleft = "{MY_LEFT}"\nright = "{MY_RIGHT}"\n'
        '\n[ble]\nbackend = "sim"\n')
    assert set_imu_units('[desk]\ndesk = "d-7"', PAIRED) == (
        f'[desk]\ndesk = "d-7"\n\n[imu]\nleft = "{MY_LEFT}"\nright = "{MY_RIGHT}"\n')
    assert set_imu_units("", PAIRED) == f'[imu]\nleft = "{MY_LEFT}"\nright = "{MY_RIGHT}"\n'
    windows = '[imu]\r\nleft = ""\r\n'
    assert set_imu_units(windows, PAIRED) == (
        f'[imu]\r\nleft = "{MY_LEFT}"\r\nright = "{MY_RIGHT}"\r\n')


def test_writing_proves_the_file_valid_and_keeps_its_mode(tmp_path):
    path = tmp_path / "config.toml"
    sample = (ROOT / "config.toml").read_text(encoding="utf-8")
    path.write_text(sample, encoding="utf-8")
    path.chmod(0o640)
    config = write_imu_units(path, PAIRED)
    assert (config.imu.left, config.imu.right) == (MY_LEFT, MY_RIGHT)
    assert load_config(path).imu.left == MY_LEFT
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]  # no temporary file left
    # A result that does not load is not kept: the file stays as it was.
    with pytest.raises(ConfigError, match="a unit other than left's"):
        write_imu_units(path, {"left": MY_LEFT, "right": MY_LEFT.lower()})
    assert load_config(path).imu.right == MY_RIGHT
    with pytest.raises(ValueError, match="not a unit address"):
        set_imu_units(sample, {"left": 'x" # injected'})
    # A file not there yet is made, with the [imu] section only.
    fresh = write_imu_units(tmp_path / "new.toml", PAIRED)
    assert (fresh.imu.left, fresh.imu.right) == (MY_LEFT, MY_RIGHT)
    assert (tmp_path / "new.toml").read_text(encoding="utf-8").startswith("[imu]\n")


# --- the command -------------------------------------------------------------------------------


class RadioThread:
    """The simulated radio in a thread of its own (its own event loop), as the simulator
    would run beside the agent, so that the command runs its own asyncio.run."""

    def __init__(self, units: Callable[[], list[LegImuFirmware]]) -> None:
        self._units = units
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.hci_client = ""
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        async with SimRadio(self._units(), hci="tcp-server:127.0.0.1:0") as radio:
            self.hci_client = radio.hci_client
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> Self:
        self._thread.start()
        assert self._ready.wait(10), "the simulated radio did not start"
        return self

    def __exit__(self, *_exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@pytest.fixture
def office() -> Iterator[RadioThread]:
    """Both desks' units; this person shakes a leg (each of theirs) the whole time, the
    neighbour sits still: each side's window sees exactly one unit move."""
    with RadioThread(lambda: two_desks({MY_LEFT, MY_RIGHT}.__contains__, SimClock())) as radio:
        yield radio


def test_pair_command_writes_the_shaken_units_to_the_configuration(office, tmp_path):
    path = tmp_path / "desk.toml"
    sample = (ROOT / "config.toml").read_text(encoding="utf-8")
    sample = sample.replace('backend = "system"', 'backend = "sim"').replace(
        'sim_hci = "tcp-client:127.0.0.1:7455"', f'sim_hci = "{office.hci_client}"')
    path.write_text(sample, encoding="utf-8")
    result = CliRunner().invoke(cli, ["pair", "--config", str(path), "--seconds", "1",
                                      "--scan-seconds", "0.5", "--yes"], input="\n\n")
    assert result.exit_code == 0, result.output
    assert "Start shaking your LEFT leg" in result.output
    assert "Start shaking your RIGHT leg" in result.output
    assert result.output.index("LEFT leg") < result.output.index("RIGHT leg")
    assert "left thigh: 2 units advertising (LegIMU-L-12AB, LegIMU-L-56EF)" in result.output
    assert result.output.rstrip().splitlines()[-1] == (
        f'{path}: [imu] left = "{MY_LEFT}" (LegIMU-L-12AB), '
        f'right = "{MY_RIGHT}" (LegIMU-R-34CD)')
    after = path.read_text(encoding="utf-8")
    assert changed_lines(sample, after) == [('left = ""', f'left = "{MY_LEFT}"'),
                                            ('right = ""', f'right = "{MY_RIGHT}"')]
    config = load_config(path)
    assert (config.imu.left, config.imu.right) == (MY_LEFT, MY_RIGHT)


def test_pair_command_asks_before_writing_and_refuses_a_serial_setup(office, tmp_path):
    path = tmp_path / "desk.toml"
    text = f'[ble]\nbackend = "sim"\nsim_hci = "{office.hci_client}"\n'
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["pair", "--config", str(path), "--seconds", "0.5",
                                      "--scan-seconds", "0.5"], input="\n\nn\n")
    assert result.exit_code == 1 and "Aborted" in result.output
    assert f'Write [imu] left = "{MY_LEFT}" and right = "{MY_RIGHT}"' in result.output
    assert path.read_text(encoding="utf-8") == text

    serial = tmp_path / "serial.toml"
    serial.write_text('[imu]\ntransport = "serial"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["pair", "--config", str(serial)])
    assert result.exit_code == 1 and "nothing to pair" in result.output
