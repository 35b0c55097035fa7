"""The agent's settings: `config.toml` -> frozen dataclasses, one per section.

Owns the one definition of every setting: its name, default, and what is valid
(a check object in the field's metadata), plus rules that tie settings together.
`config.toml` at the repository root is the commented sample; a test keeps it
equal to the defaults here. Loading never writes a file and never opens a device:
whether a port or a certificate exists is the business of the adapter that uses it.

To add a setting: one `setting(...)` line in its section, and its line in
`config.toml`. To add a section: one dataclass below and one field in `Config`.
"""

from __future__ import annotations

import difflib
import math
import operator
import os
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, TypeGuard

from edge.calibration import DEFAULT_TABLE

__all__ = [
    "DEFAULT_CALIBRATION",
    "BleConfig",
    "Config",
    "ConfigError",
    "DeskConfig",
    "EstimateConfig",
    "ImuConfig",
    "MatConfig",
    "ModelConfig",
    "MqttConfig",
    "NerveConfig",
    "PolicyConfig",
    "RecordConfig",
    "SimConfig",
    "config_to_toml",
    "default_config_path",
    "load_config",
]

ENV_VAR = "LEGWAKE_CONFIG"

# spec/hardware.md section 1, "Counts to pressure": used when [mat] calibration is empty.
DEFAULT_CALIBRATION = DEFAULT_TABLE
MAX_COUNTS = 4095  # 12-bit ADC


class ConfigError(ValueError):
    """Everything wrong with one configuration, one line per problem in `.errors`."""

    def __init__(self, errors: Iterable[str]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


# --- checks: what one value may be --------------------------------------------------------
# Each check's `parse` returns the value as stored (floats from integers, tuples from arrays)
# or raises _Invalid saying what would be valid; the caller names the file, section and key.


class _Invalid(Exception):
    def __init__(self, expected: str, got: str | None = None) -> None:
        super().__init__(expected)
        self.expected = expected
        self.got = got  # None: the whole value, rendered as TOML


def _is_int(value: object) -> TypeGuard[int]:
    # TOML `true` is a bool, and bool is an int in Python: never let it pass as a number.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[int | float]:
    return _is_int(value) or isinstance(value, float)


def _num(x: float) -> str:
    return f"{x:g}"


@dataclass(frozen=True, slots=True)
class Integer:
    lo: int
    hi: int | None = None

    @property
    def expected(self) -> str:
        if self.hi is None:
            return f"an integer >= {self.lo}"
        return f"an integer {self.lo}..{self.hi}"

    def parse(self, value: object) -> int:
        if not _is_int(value):
            raise _Invalid(self.expected)
        if value < self.lo or (self.hi is not None and value > self.hi):
            raise _Invalid(self.expected)
        return value


@dataclass(frozen=True, slots=True)
class Number:
    """A float; an integer is accepted and stored as a float."""

    lo: float
    hi: float

    @property
    def expected(self) -> str:
        return f"a number {_num(self.lo)}..{_num(self.hi)}"

    def parse(self, value: object) -> float:
        if not _is_number(value):
            raise _Invalid(self.expected)
        number = float(value)
        if not self.lo <= number <= self.hi:  # also rejects nan
            raise _Invalid(self.expected)
        return number


@dataclass(frozen=True, slots=True)
class OneOf:
    choices: tuple[str | int, ...]

    @property
    def expected(self) -> str:
        return "one of " + ", ".join(_toml(c) for c in self.choices)

    def parse(self, value: object) -> str | int:
        # Compare types too: "5" is not 5, and true is not 1.
        for choice in self.choices:
            if type(value) is type(choice) and value == choice:
                return choice
        raise _Invalid(self.expected)


@dataclass(frozen=True, slots=True)
class Flag:
    expected: str = "true or false"

    def parse(self, value: object) -> bool:
        if not isinstance(value, bool):
            raise _Invalid(self.expected)
        return value


@dataclass(frozen=True, slots=True)
class Text:
    """A string; `expected` says what it is and, when "" is allowed, what "" means."""

    expected: str = "a string"
    pattern: str | None = None  # the whole non-empty value must match
    empty_ok: bool = True

    def parse(self, value: object) -> str:
        if not isinstance(value, str):
            raise _Invalid(self.expected)
        if value == "":
            if not self.empty_ok:
                raise _Invalid(self.expected)
        elif self.pattern is not None and not re.fullmatch(self.pattern, value):
            raise _Invalid(self.expected)
        return value


@dataclass(frozen=True, slots=True)
class CalibrationTable:
    """[[counts, kPa], ...]: [] for the default table, else >= 2 points of a monotonic curve."""

    expected: str = (
        "[] (the default table) or at least 2 [counts, kPa] points, "
        f"counts strictly increasing integers 0..{MAX_COUNTS}, kPa non-decreasing and >= 0"
    )

    def parse(self, value: object) -> tuple[tuple[int, float], ...]:
        if not isinstance(value, list | tuple) or len(value) == 1:
            raise _Invalid(self.expected)
        points: list[tuple[int, float]] = []
        previous: object = None
        for point in value:
            if not isinstance(point, list | tuple) or len(point) != 2:
                raise _Invalid("each point as [counts, kPa]", _toml(point))
            counts, kpa = point
            if not _is_int(counts) or not 0 <= counts <= MAX_COUNTS:
                raise _Invalid(f"counts an integer 0..{MAX_COUNTS}", _toml(point))
            if not _is_number(kpa) or not 0 <= kpa < math.inf:
                raise _Invalid("kPa a number >= 0", _toml(point))
            if points:
                after = f"{_toml(point)} after {_toml(previous)}"
                if counts <= points[-1][0]:
                    raise _Invalid("counts strictly increasing", after)
                if kpa < points[-1][1]:
                    raise _Invalid("kPa non-decreasing", after)
            points.append((counts, float(kpa)))
            previous = point
        return tuple(points)


Check = Integer | Number | OneOf | Flag | Text | CalibrationTable


def setting(default: Any, check: Check, *, secret: bool = False) -> Any:
    """A dataclass field for one setting: its default, its check, and whether to hide it."""
    return field(default=default, repr=not secret, metadata={"check": check, "secret": secret})


@dataclass(frozen=True, slots=True)
class Rule:
    """A condition between settings. When it fails, `key` is reported with `expected`.

    `expected` is formatted with the section (or, for a rule across sections, the
    whole Config, with `key` as "section.key") bound to `s`.
    """

    key: str
    holds: Callable[[Any], bool]
    expected: str


class _Validated:
    """Validates a frozen dataclass on construction: each field's check, then the rules."""

    __slots__ = ()
    __dataclass_fields__: ClassVar[dict[str, Any]]  # every subclass is a dataclass
    rules: ClassVar[tuple[Rule, ...]] = ()

    def __post_init__(self) -> None:
        problems = []
        for f in fields(self):
            check = f.metadata.get("check")
            if check is None:
                continue
            value = getattr(self, f.name)
            try:
                stored = check.parse(value)
            except _Invalid as bad:
                got = bad.got if bad.got is not None else _toml(value)
                problems.append(f"{f.name}: expected {bad.expected}, got {got}")
            else:
                if stored is not value:
                    object.__setattr__(self, f.name, stored)  # frozen: the one sanctioned write
        if not problems:  # rules may assume every value is well-typed
            for rule in self.rules:
                if not rule.holds(self):
                    got = _toml(operator.attrgetter(rule.key)(self))
                    problems.append(
                        f"{_label(rule.key)}: expected {rule.expected.format(s=self)}, got {got}"
                    )
        if problems:
            raise ConfigError(problems)


def _label(key: str) -> str:
    section, _, name = key.rpartition(".")
    return f"[{section}] {name}" if section else key


# --- the sections ----------------------------------------------------------------------------

SEGMENT = r"[A-Za-z0-9_-]+"  # an MQTT topic segment: site, desk, prefixes
_SEGMENT_RULE = 'letters, digits, "-" and "_" only (an MQTT topic segment)'
_MAC = r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}"
# Linux termios rates from 9600 up; the mat itself runs at 921600 (spec/hardware.md 1).
_BAUDRATES = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 576000, 921600,
              1000000, 1152000, 1500000, 2000000, 2500000, 3000000, 3500000, 4000000)


def _imu_unit(placement: str, side: str) -> Text:
    return Text(
        f'a BLE address like "AA:BB:CC:DD:EE:FF", a name like "LegIMU-{placement}-1A2B", '
        f'or "" (the first {side} unit advertising)',
        pattern=rf"{_MAC}|LegIMU-{placement}-[0-9A-F]{{4}}",
    )


@dataclass(frozen=True, slots=True)
class DeskConfig(_Validated):
    """Where the agent sits: the `<topic_prefix>/<site>/<desk>/...` MQTT topics
    (`legwake/...` by default)."""

    site: str = setting("office", Text(_SEGMENT_RULE, pattern=SEGMENT, empty_ok=False))
    desk: str = setting("desk-1", Text(_SEGMENT_RULE, pattern=SEGMENT, empty_ok=False))
    person: str = setting("", Text(_SEGMENT_RULE + ', or "" for none', pattern=SEGMENT))


@dataclass(frozen=True, slots=True)
class MatConfig(_Validated):
    """The SeatMat serial link and its calibration."""

    port: str = setting("/dev/ttyACM0", Text('a serial device path, or "" for no mat'))
    baudrate: int = setting(921600, OneOf(_BAUDRATES))
    read_size: int = setting(4096, Integer(1, 65536))
    reopen_interval_s: float = setting(1.0, Number(0.1, 60))
    calibration: tuple[tuple[int, float], ...] = setting((), CalibrationTable())
    zero_file: str = setting("mat_calibration.json",
                             Text('a file path (written by `legwake calibrate`), or "" for none'))

    def calibration_points(self) -> tuple[tuple[int, float], ...]:
        """The (counts, kPa) table in effect: the configured one, else the spec's default."""
        return self.calibration or DEFAULT_CALIBRATION


@dataclass(frozen=True, slots=True)
class ImuConfig(_Validated):
    """The two LegIMU thigh sensors."""

    transport: str = setting("ble", OneOf(("ble", "serial", "none")))
    left: str = setting("", _imu_unit("L", "left"))
    right: str = setting("", _imu_unit("R", "right"))
    rate_hz: int = setting(50, OneOf((25, 50, 100)))
    scan_timeout_s: float = setting(10.0, Number(1, 120))
    reconnect_initial_s: float = setting(1.0, Number(0.1, 60))
    reconnect_max_s: float = setting(30.0, Number(1, 600))
    mtu: int = setting(247, Integer(23, 517))

    rules: ClassVar[tuple[Rule, ...]] = (
        Rule("reconnect_initial_s", lambda s: s.reconnect_initial_s <= s.reconnect_max_s,
             "at most reconnect_max_s ({s.reconnect_max_s})"),
        Rule("right", lambda s: s.right == "" or s.right.upper() != s.left.upper(),
             "a unit other than left's"),
    )


@dataclass(frozen=True, slots=True)
class BleConfig(_Validated):
    """Which BLE stack bleak talks through."""

    backend: str = setting("system", OneOf(("system", "sim")))
    sim_hci: str = setting("tcp-client:127.0.0.1:7455",
                           Text('a bumble HCI transport like "tcp-client:127.0.0.1:7455"'))

    rules: ClassVar[tuple[Rule, ...]] = (
        Rule("sim_hci", lambda s: s.backend != "sim" or s.sim_hci.startswith("tcp-client:"),
             'a transport starting with "tcp-client:" when backend = "sim"'),
    )


@dataclass(frozen=True, slots=True)
class MqttConfig(_Validated):
    """The broker the agent publishes to."""

    host: str = setting("localhost", Text("a host name or IP address", empty_ok=False))
    port: int = setting(1883, Integer(1, 65535))
    username: str = setting("", Text('a string, or "" for none'))
    password: str = setting("", Text('a string, or "" for none'), secret=True)
    keepalive_s: int = setting(60, Integer(5, 3600))
    protocol: str = setting("5", OneOf(("5", "3.1.1")))
    client_id: str = setting("", Text('a string, or "" to derive one from site and desk'))
    tls: bool = setting(False, Flag())
    ca_file: str = setting("", Text('a file path, or "" for the system CAs'))
    cert_file: str = setting("", Text('a file path, or "" for none'))
    key_file: str = setting("", Text('a file path, or "" for none'))
    topic_prefix: str = setting("legwake", Text(_SEGMENT_RULE, pattern=SEGMENT, empty_ok=False))
    outbox_path: str = setting("outbox.db", Text("a file path", empty_ok=False))
    state_interval_s: float = setting(1.0, Number(1, 3600))
    ha_discovery: bool = setting(True, Flag())
    ha_prefix: str = setting("homeassistant",
                             Text(_SEGMENT_RULE, pattern=SEGMENT, empty_ok=False))
    reconnect_initial_s: float = setting(1.0, Number(0.1, 60))
    reconnect_max_s: float = setting(30.0, Number(1, 600))
    queue_size: int = setting(100, Integer(1, 100000))

    rules: ClassVar[tuple[Rule, ...]] = (
        Rule("reconnect_initial_s", lambda s: s.reconnect_initial_s <= s.reconnect_max_s,
             "at most reconnect_max_s ({s.reconnect_max_s})"),
        # Certificates without tls would be ignored and the password sent in clear.
        Rule("tls", lambda s: s.tls or not (s.ca_file or s.cert_file or s.key_file),
             "true when ca_file, cert_file or key_file is set"),
        Rule("key_file", lambda s: not (s.tls and s.cert_file) or s.key_file,
             "a file path when tls = true and cert_file is set"),
        Rule("cert_file", lambda s: s.cert_file or not s.key_file,
             "a file path when key_file is set"),
    )


@dataclass(frozen=True, slots=True)
class RecordConfig(_Validated):
    """Where traces of what the sources delivered are written (spec/hardware.md 3)."""

    dir: str = setting("traces", Text("a directory path", empty_ok=False))
    gzip: bool = setting(True, Flag())


@dataclass(frozen=True, slots=True)
class LogConfig(_Validated):
    """The SQLite log of everything the agent decides, for ergonomists (edge/store.py)."""

    path: str = setting("legwake.db", Text('a file path, or "" for no log'))
    retention_days: int = setting(365, Integer(0, 36500))


@dataclass(frozen=True, slots=True)
class CollectConfig(_Validated):
    """The fleet collector (`legwake collect`): many desks' messages into one log."""

    db: str = setting("fleet.db", Text("a file path", empty_ok=False))
    group: str = setting("legwake-collectors", Text(_SEGMENT_RULE, pattern=SEGMENT,
                                                    empty_ok=False))
    client_id: str = setting("", Text('a string, or "" for "collector-" and the host name'))
    site: str = setting("+", Text('a site name (letters, digits, "-", "_"), or "+" for every site',
                                  pattern=r"\+|" + SEGMENT, empty_ok=False))


_LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True, slots=True)
class DashboardConfig(_Validated):
    """The web dashboard (`legwake dashboard`): live desks from MQTT, history from a log."""

    host: str = setting("127.0.0.1", Text("an IP address or host name to listen on",
                                          empty_ok=False))
    port: int = setting(8080, Integer(1, 65535))
    token: str = setting("", Text('a string of at least 16 characters, or "" for none',
                                  pattern=r"\S{16,}"), secret=True)
    db: str = setting("", Text('a file path, or "" for [log] path'))
    site: str = setting("+", Text('a site name (letters, digits, "-", "_"), or "+" for every site',
                                  pattern=r"\+|" + SEGMENT, empty_ok=False))
    stale_after_s: float = setting(30.0, Number(2, 3600))
    alerts_kept: int = setting(200, Integer(10, 10000))

    rules: ClassVar[tuple[Rule, ...]] = (
        # Anyone on the network could read the desks and acknowledge alerts without it.
        Rule("token", lambda s: s.token or s.host in _LOOPBACK,
             "a token of at least 16 characters when host is not 127.0.0.1, ::1 or localhost "
             "(host = {s.host!r})"),
    )


@dataclass(frozen=True, slots=True)
class SimConfig(_Validated):
    """The simulated SeatMat and LegIMUs (firmware_sim/)."""

    scenario: str = setting("workday", Text("a scenario name", empty_ok=False))
    speed: float = setting(1.0, Number(0.1, 1000))
    weight_kg: float = setting(75.0, Number(45, 130))
    seat: str = setting("cushioned", OneOf(("cushioned", "hard")))
    seed: int = setting(1, Integer(0))
    mat_rate_hz: int = setting(20, Integer(5, 50))
    mat_pty_link: str = setting("", Text('a path for a symlink to the pty, or "" for none'))
    hci: str = setting("tcp-server:127.0.0.1:7455",
                       Text('a bumble HCI transport like "tcp-server:127.0.0.1:7455"',
                            empty_ok=False))


@dataclass(frozen=True, slots=True)
class ModelConfig(_Validated):
    """The person whose nerves the model follows (edge/model, docs/model.md)."""

    systolic_mmHg: float = setting(120.0, Number(70, 260))
    diastolic_mmHg: float = setting(80.0, Number(40, 140))
    diabetic: bool = setting(False, Flag())
    horizon_s: float = setting(3600.0, Number(600, 4 * 3600))

    rules: ClassVar[tuple[Rule, ...]] = (
        Rule("diastolic_mmHg", lambda c: c.diastolic_mmHg < c.systolic_mmHg,
             "below systolic_mmHg"),
    )


_CLOCK = r"([01][0-9]|2[0-3]):[0-5][0-9]"


@dataclass(frozen=True, slots=True)
class PolicyConfig(_Validated):
    """When to nudge (edge/policy.py): numbness alerts, break reminders, snoozes, quiet hours."""

    lead_time_s: float = setting(180.0, Number(30, 1800))
    rearm_margin_s: float = setting(120.0, Number(0, 1800))
    rearm_hold_s: float = setting(20.0, Number(0, 600))
    worse_s: float = setting(60.0, Number(0, 1800))
    repeat_after_s: float = setting(300.0, Number(30, 7200))
    cooldown_s: float = setting(120.0, Number(0, 3600))
    break_after_min: float = setting(45.0, Number(5, 240))
    natural_break_min: float = setting(2.0, Number(0.5, 30))
    break_repeat_min: float = setting(15.0, Number(1, 240))
    quiet_start: str = setting("", Text('a local time "HH:MM", or "" for no quiet hours',
                                        pattern=_CLOCK))
    quiet_end: str = setting("", Text('a local time "HH:MM", or "" for no quiet hours',
                                      pattern=_CLOCK))
    snooze_max_min: float = setting(120.0, Number(1, 1440))

    rules: ClassVar[tuple[Rule, ...]] = (
        Rule("worse_s", lambda c: c.worse_s < c.lead_time_s, "less than lead_time_s"),
        Rule("quiet_end", lambda c: bool(c.quiet_start) == bool(c.quiet_end),
             "set together with quiet_start (both, or neither)"),
    )


@dataclass(frozen=True, slots=True)
class EstimateConfig(_Validated):
    """Posture, movement and mat zeroing (edge/estimate/): see each module's docstring."""

    period_s: float = setting(1.0, Number(1, 5))
    close_delay_s: float = setting(1.0, Number(0, 10))
    missing_after_s: float = setting(3.0, Number(0.5, 60))
    posture_switch_per_s: float = setting(0.02, Number(0.0001, 0.5))
    evidence_weight: float = setting(0.7, Number(0.01, 1))
    mat_only_crossing_confidence: float = setting(0.6, Number(0, 1))
    empty_load_n: float = setting(40.0, Number(5, 200))
    zero_time_constant_s: float = setting(20.0, Number(1, 3600))
    zero_settle_s: float = setting(3.0, Number(0, 60))
    relief_offload: float = setting(0.30, Number(0.05, 0.95))
    relief_min_s: float = setting(15.0, Number(1, 600))
    mat_pitch_mm: float = setting(28.0, Number(5, 60))


@dataclass(frozen=True, slots=True)
class NerveConfig(_Validated):
    """Seat pressure and posture -> tissue pressure at each nerve (edge/estimate/nerve.py).

    The equations, and the reference points these defaults are tuned to: docs/estimate.md.
    """

    seat: str = setting("cushioned", OneOf(("cushioned", "hard")))
    body_weight_kg: float = setting(75.0, Number(30, 250))
    seat_load_fraction: float = setting(0.75, Number(0.5, 1))
    sciatic_attenuation_cushioned: float = setting(0.22, Number(0, 1))
    sciatic_attenuation_hard: float = setting(0.11, Number(0, 1))
    thigh_attenuation: float = setting(0.45, Number(0, 1))
    sciatic_without_mat_mmhg: float = setting(20.0, Number(0, 300))
    thigh_without_mat_mmhg: float = setting(15.0, Number(0, 300))
    crossed_leg_load_fraction: float = setting(0.10, Number(0, 0.3))
    crossed_contact_cm2: float = setting(20.0, Number(1, 200))
    peroneal_attenuation: float = setting(0.5, Number(0, 1))
    tucked_foot_load_fraction: float = setting(0.2, Number(0, 0.5))
    tucked_foot_contact_cm2: float = setting(30.0, Number(1, 200))
    tucked_foot_attenuation: float = setting(0.4, Number(0, 1))


@dataclass(frozen=True, slots=True)
class Config(_Validated):
    """The whole configuration. Each field is a `[section]` of config.toml, by its name."""

    desk: DeskConfig = field(default_factory=DeskConfig)
    mat: MatConfig = field(default_factory=MatConfig)
    imu: ImuConfig = field(default_factory=ImuConfig)
    ble: BleConfig = field(default_factory=BleConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    record: RecordConfig = field(default_factory=RecordConfig)
    log: LogConfig = field(default_factory=LogConfig)
    collect: CollectConfig = field(default_factory=CollectConfig)
    dashboard: DashboardConfig = field(default_factory=DashboardConfig)
    sim: SimConfig = field(default_factory=SimConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    nerve: NerveConfig = field(default_factory=NerveConfig)
    estimate: EstimateConfig = field(default_factory=EstimateConfig)

    rules: ClassVar[tuple[Rule, ...]] = (
        Rule("imu.transport", lambda s: s.imu.transport != "serial" or s.mat.port != "",
             '"ble" or "none" when [mat] port = "" (a wired IMU shares the mat\'s link)'),
    )


def _sections() -> dict[str, type[_Validated]]:
    return {f.name: f.default_factory for f in fields(Config)}  # type: ignore[misc]


# --- loading ---------------------------------------------------------------------------------


def default_config_path() -> Path | None:
    """The file `load_config(None)` reads: $LEGWAKE_CONFIG, else ./config.toml if present."""
    if named := os.environ.get(ENV_VAR):
        return Path(named)
    local = Path("config.toml")
    return local if local.is_file() else None


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and check a configuration file; every problem in it is in one ConfigError.

    `path` None means `default_config_path()`, and all defaults when that is None too.
    A missing key takes its default; a file named explicitly must exist.
    """
    if path is None:
        path = default_config_path()
        if path is None:
            return Config()
    name = os.fspath(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError([f"{name}: no such file"]) from None
    except OSError as error:
        raise ConfigError([f"{name}: cannot read: {error.strerror or error}"]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise ConfigError([f"{name}: not UTF-8 text (byte {error.start})"]) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"{name}: {_syntax_error(str(error))}"]) from None
    return _build(name, data)


def _syntax_error(message: str) -> str:
    # tomllib puts the place at the end: "Invalid value (at line 3, column 8)".
    where = re.search(r" \(at line (\d+), column (\d+)\)$", message)
    if where is None:
        return f"invalid TOML: {message}"
    line, column = where.groups()
    return f"line {line}, column {column}: invalid TOML: {message[: where.start()]}"


def _build(name: str, data: dict[str, Any]) -> Config:
    sections = _sections()
    errors: list[str] = []
    built: dict[str, Any] = {}
    for section, table in data.items():
        cls = sections.get(section)
        if cls is None:
            errors.append(f"{name}: {_unknown_section(section, table, sections)}")
            continue
        if not isinstance(table, dict):
            errors.append(f"{name}: [{section}]: expected a [{section}] table, got {_toml(table)}")
            continue
        keys = _keys_of(cls)
        for key in (k for k in table if k not in keys):
            errors.append(f"{name}: [{section}] {key}: {_unknown_key(key, section, sections)}")
        try:
            built[section] = cls(**{k: v for k, v in table.items() if k in keys})
        except ConfigError as error:
            errors.extend(f"{name}: [{section}] {problem}" for problem in error.errors)
    if errors:
        raise ConfigError(errors)
    try:
        return Config(**built)
    except ConfigError as error:
        raise ConfigError(f"{name}: {problem}" for problem in error.errors) from None


def _keys_of(cls: type[_Validated]) -> list[str]:
    return [f.name for f in fields(cls)]


def _elsewhere(key: str, sections: dict[str, type[_Validated]]) -> str:
    """ "[mat] port or [mqtt] port" for a key that exists in other sections, else ""."""
    return " or ".join(f"[{s}] {key}" for s, cls in sections.items() if key in _keys_of(cls))


def _unknown_section(section: str, value: object, sections: dict[str, type[_Validated]]) -> str:
    valid = "Valid sections: " + ", ".join(f"[{s}]" for s in sections)
    if not isinstance(value, dict):  # a key above the first [section] header
        homes = _elsewhere(section, sections)
        hint = f" Did you mean {homes}?" if homes else ""
        return f"{section}: a key outside any section.{hint} {valid}."
    close = difflib.get_close_matches(section, sections, n=1)
    hint = f" Did you mean [{close[0]}]?" if close else ""
    return f"unknown section [{section}].{hint} {valid}."


def _unknown_key(key: str, section: str, sections: dict[str, type[_Validated]]) -> str:
    keys = _keys_of(sections[section])
    close = difflib.get_close_matches(key, keys, n=1)
    if homes := _elsewhere(key, sections):
        hint = f" Did you mean {homes}?"
    elif close:
        hint = f' Did you mean "{close[0]}"?'
    else:
        hint = ""
    return f"unknown key.{hint} Valid keys in [{section}]: {', '.join(keys)}."


# --- rendering -------------------------------------------------------------------------------


def config_to_toml(cfg: Config, *, redact: bool = False) -> str:
    """The configuration as TOML that loads back to an equal Config.

    With `redact`, secrets that are set (the MQTT password) read "***".
    """
    lines: list[str] = []
    for section in fields(cfg):
        values = getattr(cfg, section.name)
        lines.append(f"[{section.name}]")
        for f in fields(values):
            value = getattr(values, f.name)
            if redact and f.metadata.get("secret") and value:
                value = "***"
            lines.append(f"{f.name} = {_toml(value)}")
        lines.append("")
    return "\n".join(lines)


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _toml(value: object) -> str:
    """A value in TOML syntax, for config_to_toml and for the "got ..." of error messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)  # TOML reads Python's int and float reprs, inf and nan included
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, dict):
        items = (f"{k if _BARE_KEY.fullmatch(k) else _toml_string(k)} = {_toml(v)}"
                 for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    return str(value)  # dates and times: str() is their TOML form


def _toml_string(text: str) -> str:
    def escape(match: re.Match[str]) -> str:
        char = match.group()
        return {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t"}.get(char, f"\\u{ord(char):04x}")

    return '"' + re.sub(r'["\\\x00-\x1f\x7f]', escape, text) + '"'
