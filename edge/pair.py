"""`legwake pair`: which of the thigh units advertising nearby are this person's.

In an office many LegIMU units advertise, and a name prefix alone ("the first left unit
heard") may pick a neighbour's: the agent would then read the neighbour's leg and buzz
it. Pairing tells them apart by motion: every unit of one side is connected at once and
its IMU data recorded while the person shakes that leg; the one unit whose motion stands
out is theirs. None moving, or more than one, is refused with a message to try again.

Owns the pairing procedure (scan, record, decide) and the one change it makes to the
configuration file: the values of `[imu] left` and `[imu] right`, rewritten line by
line so that every comment and every other line stays as it was, then the file loaded
again with `edge.config.load_config` to prove it valid. It must not touch any other
setting, and holds no link after it returns. A unit connected to a running agent does
not advertise, so the agent is stopped while pairing.

The bleak backends come from the configuration (`edge.sources.configured.ble_backends`),
so pairing runs on BlueZ and on the simulated radio alike. The bytes are decoded by
`edge.wire`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import os
import re
import tempfile
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic

from edge.config import Config, ConfigError, load_config
from edge.sources.ble import scan_units
from edge.wire import IMU_DATA_UUID, PLACEMENTS, LegImuDecoder

__all__ = [
    "SIDES",
    "Candidate",
    "PairingError",
    "UnitMotion",
    "find_candidates",
    "motion_of",
    "moving_unit",
    "pair_units",
    "record_motion",
    "set_imu_units",
    "write_imu_units",
]

log = logging.getLogger(__name__)

SIDES = ("left", "right")
PLACEMENT_CODES = {name: code for code, name in PLACEMENTS.items()}

SHAKE_ACCEL_STD_MG = 100.0
"""A unit is moving when the spread (standard deviation) of its accelerometer magnitude
over the window is at least this. A thigh at rest reads a steady ~1000 mg (gravity) with
a few mg of noise and fidgeting; a leg shaken or jiggled swings it by hundreds of mg."""
SHAKE_GYRO_STD_DPS = 30.0
"""... or when its angular rate spreads by at least this (deg/s, over the three axes):
a thigh at rest turns by a few deg/s at most, a shaken one by tens to hundreds."""
MIN_SAMPLES = 10
"""Fewer samples than this in the window (about 0.2 s at 50 Hz) cannot tell shaking."""
MAX_NOTIFICATIONS = 20_000
"""Notifications kept per unit and window (a minute at 100 Hz, one sample each): a bound,
never reached in a window of seconds; beyond it, later ones are dropped."""
CONNECT_TIMEOUT_S = 20.0
DISCONNECT_TIMEOUT_S = 5.0


class PairingError(Exception):
    """Pairing could not tell the person's units: the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A LegIMU unit heard advertising."""

    name: str
    address: str
    placement: str
    rssi: int | None = None

    def __str__(self) -> str:
        return f"{self.name} ({self.address})"


@dataclass(frozen=True, slots=True)
class UnitMotion:
    """How much one unit moved in the shake window (or why it could not be read)."""

    unit: Candidate
    samples: int = 0
    accel_std_mg: float = math.nan
    gyro_std_dps: float = math.nan
    error: str | None = None

    @property
    def readable(self) -> bool:
        return self.error is None and self.samples >= MIN_SAMPLES

    @property
    def moving(self) -> bool:
        return self.readable and (self.accel_std_mg >= SHAKE_ACCEL_STD_MG
                                  or self.gyro_std_dps >= SHAKE_GYRO_STD_DPS)

    def describe(self) -> str:
        if self.error is not None:
            return f"{self.unit}: could not be read ({self.error})"
        if not self.readable:
            return f"{self.unit}: too little data ({self.samples} samples)"
        return (f"{self.unit}: {'moving' if self.moving else 'still'}, acceleration "
                f"+-{self.accel_std_mg:.0f} mg, rotation +-{self.gyro_std_dps:.0f} deg/s")


# --- deciding ----------------------------------------------------------------------------------


def motion_of(notifications: Sequence[bytes], placement: str) -> tuple[int, float, float]:
    """Samples, accelerometer-magnitude spread (mg) and angular-rate spread (deg/s) of a
    window of IMU notifications (`edge.wire` decodes them; other units' are ignored)."""
    decoder = LegImuDecoder(placement=PLACEMENT_CODES[placement])
    samples = decoder.feed(list(notifications), [0.0] * len(notifications))
    if samples is None or not len(samples):
        return 0, math.nan, math.nan
    accel_mg = samples.accel_mg.astype(np.float64)
    gyro_dps = samples.gyro_dps10.astype(np.float64) / 10.0
    accel_std = float(np.linalg.norm(accel_mg, axis=1).std())
    gyro_std = float(np.sqrt(gyro_dps.var(axis=0).sum()))
    return len(samples), accel_std, gyro_std


def moving_unit(side: str, motions: Sequence[UnitMotion]) -> UnitMotion:
    """The one unit of `side` that moved; PairingError when none or more than one did."""
    moving = [m for m in motions if m.moving]
    if len(moving) == 1:
        return moving[0]
    seen = "; ".join(m.describe() for m in motions)
    if not moving:
        raise PairingError(f"no {side} thigh unit moved ({seen}): shake your {side} leg "
                           "hard, from the prompt to the end of the recording, and try again")
    raise PairingError(f"{len(moving)} {side} thigh units moved ({seen}): only the {side} "
                       "leg of the person pairing may move; try again while the others "
                       "keep still")


# --- the radio ---------------------------------------------------------------------------------


async def find_candidates(scan_s: float, *, scanner_backend: Any = None,
                          backend_kwargs: Mapping[str, Any] | None = None,
                          ) -> dict[str, list[Candidate]]:
    """The units advertising, by side ("left", "right"), each side sorted by name."""
    units = await scan_units(scan_s, scanner_backend, **dict(backend_kwargs or {}))
    found: dict[str, list[Candidate]] = {side: [] for side in SIDES}
    for unit in units:
        if unit["placement"] in found:
            found[unit["placement"]].append(Candidate(unit["name"], unit["address"],
                                                      unit["placement"], unit["rssi"]))
    return found


async def record_motion(units: Sequence[Candidate], seconds: float, *,
                        client_backend: Any = None,
                        backend_kwargs: Mapping[str, Any] | None = None, mtu: int = 247,
                        on_recording: Callable[[], None] | None = None,
                        ) -> list[UnitMotion]:
    """Connect to every unit at once, record `seconds` of IMU data from all of them in the
    same window (it starts once every unit that could be connected is subscribed; then
    `on_recording` is called), disconnect, and say how much each moved."""
    received: dict[str, list[bytes]] = {unit.address: [] for unit in units}
    recording = False

    def collector(address: str) -> Callable[[BleakGATTCharacteristic, bytearray], None]:
        def on_notification(_characteristic: BleakGATTCharacteristic, data: bytearray) -> None:
            # bleak's callback: keep the bytes, nothing else.
            kept = received[address]
            if recording and len(kept) < MAX_NOTIFICATIONS:
                kept.append(bytes(data))
        return on_notification

    async def subscribed(unit: Candidate, stack: contextlib.AsyncExitStack) -> None:
        client = BleakClient(unit.address, timeout=CONNECT_TIMEOUT_S, backend=client_backend,
                             mtu=mtu, **dict(backend_kwargs or {}))
        await client.connect()
        stack.push_async_callback(_disconnect, client)
        await client.start_notify(IMU_DATA_UUID, collector(unit.address))

    async with contextlib.AsyncExitStack() as stack:
        outcomes = await asyncio.gather(*(subscribed(unit, stack) for unit in units),
                                        return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
                raise outcome  # a cancellation, not a unit that failed
        if on_recording is not None:
            on_recording()
        recording = True
        await asyncio.sleep(seconds)
        recording = False
    motions = []
    for unit, outcome in zip(units, outcomes, strict=True):
        if isinstance(outcome, Exception):
            log.info("pairing: %s: %s", unit, outcome)
            motions.append(UnitMotion(unit, error=f"{type(outcome).__name__}: {outcome}"))
        else:
            motions.append(UnitMotion(unit, *motion_of(received[unit.address], unit.placement)))
    return motions


async def _disconnect(client: BleakClient) -> None:
    try:
        await asyncio.wait_for(client.disconnect(), DISCONNECT_TIMEOUT_S)
    except Exception as error:  # noqa: BLE001 - the unit is let go either way
        log.debug("pairing: disconnect %s: %s", client.address, error)


async def pair_units(*, scan_s: float, shake_s: float,
                     ready: Callable[[str, Sequence[Candidate]], Awaitable[None]],
                     on_recording: Callable[[str], None] | None = None,
                     scanner_backend: Any = None, client_backend: Any = None,
                     backend_kwargs: Mapping[str, Any] | None = None, mtu: int = 247,
                     ) -> dict[str, UnitMotion]:
    """Scan, then for each side in turn: `ready(side, candidates)` (the person is told to
    shake that leg and says when), record every candidate of that side, and keep the one
    that moved. Returns the chosen unit of each side; PairingError when a side has no
    unit advertising, or not exactly one moved."""
    candidates = await find_candidates(scan_s, scanner_backend=scanner_backend,
                                       backend_kwargs=backend_kwargs)
    for side in SIDES:
        if not candidates[side]:
            raise PairingError(
                f"no {side} thigh unit advertising within {scan_s:g} s: switch it on and "
                "bring it close; a unit connected to a running agent does not advertise "
                "(stop `legwake run` first); then try again")
    chosen: dict[str, UnitMotion] = {}
    for side in SIDES:
        await ready(side, candidates[side])
        motions = await record_motion(
            candidates[side], shake_s, client_backend=client_backend,
            backend_kwargs=backend_kwargs, mtu=mtu,
            on_recording=None if on_recording is None else functools.partial(on_recording,
                                                                              side))
        chosen[side] = moving_unit(side, motions)
    return chosen


# --- the configuration file --------------------------------------------------------------------

_TABLE = re.compile(r"^\s*\[")
_IMU_TABLE = re.compile(r"^\s*\[\s*imu\s*\]\s*(#.*)?$")
_KEY = re.compile(r"""^(?P<indent>\s*)(?P<quote>["']?)(?P<key>left|right)(?P=quote)"""
                  r"""(?P<equals>\s*=\s*)(?P<value>"(?:[^"\\]|\\.)*"|'[^']*')?"""
                  r"""(?P<rest>.*)$""", re.DOTALL)
_COMMENT_OR_BLANK = re.compile(r"^\s*(#.*)?$")


def set_imu_units(text: str, units: Mapping[str, str]) -> str:
    """The configuration text with `[imu] left` / `right` set to `units` ({"left": ...,
    "right": ...}, BLE addresses or unit names), every other line kept as it was (a
    value's trailing comment too). A key missing from [imu] is added after its last
    setting; a file without [imu] gets the section appended."""
    for side, value in units.items():
        if side not in SIDES or not re.fullmatch(r"[0-9A-Za-z:_-]+", value):
            raise ValueError(f"[imu] {side}: not a unit address or name: {value!r}")
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    start = next((i for i, line in enumerate(lines) if _IMU_TABLE.match(line.rstrip("\r\n"))),
                 None)
    if start is None:
        if lines and not lines[-1].endswith(("\n", "\r")):
            lines[-1] += newline
        added = [f"{side} = \"{units[side]}\"{newline}" for side in SIDES if side in units]
        return "".join([*lines, *([newline] if lines else []), f"[imu]{newline}", *added])
    end = next((i for i in range(start + 1, len(lines)) if _TABLE.match(lines[i])), len(lines))
    missing = dict(units)
    last_setting = start
    for i in range(start + 1, end):
        body = lines[i].rstrip("\r\n")
        ending = lines[i][len(body):]
        if not _COMMENT_OR_BLANK.match(body):
            last_setting = i
        match = _KEY.match(body)
        if match is None or match["key"] not in missing:
            continue
        rest = match["rest"] if match["value"] is not None else ""
        if rest and not _COMMENT_OR_BLANK.match(rest):
            rest = ""  # not a value this function understands: the whole value goes
        lines[i] = (f"{match['indent']}{match['quote']}{match['key']}{match['quote']}"
                    f"{match['equals']}\"{missing.pop(match['key'])}\"{rest}{ending or newline}")
    if missing:
        if not lines[last_setting].endswith(("\n", "\r")):
            lines[last_setting] += newline
        lines[last_setting + 1:last_setting + 1] = [
            f"{side} = \"{value}\"{newline}" for side, value in missing.items()]
    return "".join(lines)


def write_imu_units(path: str | os.PathLike[str], units: Mapping[str, str]) -> Config:
    """Set `[imu] left` / `right` in the configuration file at `path` (created if missing)
    and load it again: the configuration as the agent will read it. The file is replaced
    atomically, keeping its permissions; if the result does not load, or does not read
    back the values written, the file is left as it was and ConfigError says why."""
    target = Path(path)
    before = target.read_text(encoding="utf-8") if target.exists() else None
    _replace(target, set_imu_units(before or "", units))
    try:
        config = load_config(target)
        wrong = [f"[imu] {side} reads {getattr(config.imu, side)!r}, not {value!r}"
                 for side, value in units.items() if getattr(config.imu, side) != value]
        if wrong:
            raise ConfigError([f"{target}: {line} after writing it (set it by hand)"
                               for line in wrong])
    except ConfigError:
        if before is None:
            target.unlink(missing_ok=True)
        else:
            _replace(target, before)
        raise
    return config


def _replace(target: Path, text: str) -> None:
    """Write `text` to `target` through a temporary file beside it, then rename: a crash
    leaves the old file or the new one, never half of one. Mode and owner are kept."""
    # Created private (it may hold the MQTT password and push URLs), then given the mode of
    # the file it replaces.
    descriptor, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".pairing",
                                        dir=target.parent)
    partial = Path(name)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as file:
            file.write(text)
        if target.exists():
            status = target.stat()
            os.chmod(partial, status.st_mode & 0o7777)
            with contextlib.suppress(PermissionError):  # only root may give a file away
                os.chown(partial, status.st_uid, status.st_gid)
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
