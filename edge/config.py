"""The agent's settings: `config.toml` -> frozen dataclasses, one per section.

Owns the one definition of every setting: its name, default, and what is valid
(a check object in the field's metadata), plus rules that tie settings together.
`config.toml` at the repository root is the commented sample; a test keeps it
equal to the defaults here. Loading never writes a file and never opens a device or
any file but the configuration: `load_config` says whether a configuration is valid.
Whether the files it names can be used is `check_environment`'s business, which the
commands call before they start (and `legwake check-config` too): certificates to read,
directories to write the outbox and the logs in, a secret in a file others can read. It
reads and never writes. Serial ports and the Bluetooth adapter stay the business of the
adapters that use them (and of `legwake diagnose`).

To add a setting: one `setting(...)` line in its section, and its line in
`config.toml`. To add a section: one dataclass below and one field in `Config`.
"""

from __future__ import annotations

import difflib
import ipaddress
import operator
import os
import pwd
import re
import shlex
import stat
import sys
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, TypeGuard

from edge.calibration import DEFAULT_TABLE

__all__ = [
    "ALERT_KINDS",
    "COMMANDS",
    "DEFAULT_CALIBRATION",
    "BleConfig",
    "Config",
    "ConfigError",
    "DeskConfig",
    "EstimateConfig",
    "HapticConfig",
    "ImuConfig",
    "MatConfig",
    "ModelConfig",
    "MqttConfig",
    "NerveConfig",
    "NotifyConfig",
    "PolicyConfig",
    "RecordConfig",
    "SimConfig",
    "check_environment",
    "config_to_toml",
    "default_config_path",
    "load_config",
]

ENV_VAR = "LEGWAKE_CONFIG"

# spec/hardware.md section 1, "Counts to pressure": used when [mat] calibration is empty.
DEFAULT_CALIBRATION = DEFAULT_TABLE
MAX_COUNTS = 4095  # 12-bit ADC


class ConfigError(ValueError):
    """Everything wrong with one configuration, one line per problem in `.errors`;
    `.warnings`, from check_environment, what is not wrong but unwise."""

    def __init__(self, errors: Iterable[str], *, warnings: Iterable[str] = ()) -> None:
        self.errors = list(errors)
        self.warnings = list(warnings)
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
        # Compare before converting: float() of an integer of 400 digits overflows.
        if not _is_number(value) or not self.lo <= value <= self.hi:  # also rejects nan
            raise _Invalid(self.expected)
        return float(value)


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
    refused: str | None = None  # a value that starts with a match is refused

    def parse(self, value: object) -> str:
        if not isinstance(value, str):
            raise _Invalid(self.expected)
        if value == "":
            if not self.empty_ok:
                raise _Invalid(self.expected)
        elif self.pattern is not None and not re.fullmatch(self.pattern, value):
            raise _Invalid(self.expected)
        elif self.refused is not None and re.match(self.refused, value):
            raise _Invalid(self.expected, _got(_redact_url(value)))
        return value


# A database URL where a SQLite file is wanted: "postgresql://...", "sqlite:///...", "file:...".
_URL = r"[A-Za-z][A-Za-z0-9+.-]*://|(?i:sqlite3?|file):"
_SQLITE_FILE = "a SQLite file path (URLs such as postgresql:// are not supported yet)"


def _sqlite_file(when_empty: str | None = None) -> Text:
    """The check of a SQLite log's path ([log] path, [collect] db, [dashboard] db): a file
    path, never a URL; `when_empty` says what "" means, None when "" is not allowed."""
    if when_empty is None:
        return Text(_SQLITE_FILE, empty_ok=False, refused=_URL)
    return Text(f'{_SQLITE_FILE}, or "" {when_empty}', refused=_URL)


def _redact_url(text: str) -> str:
    """`text` with a URL's password and query values as "***": "postgresql://u:***@h/db"."""
    text = re.sub(r"(://[^:/@]*):.*@", r"\1:***@", text)  # up to the last "@"
    return re.sub(r"([?&;][^=&;#]*=)[^&;#]*", r"\1***", text)


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
                raise _Invalid("each point as [counts, kPa]", _got(point))
            counts, kpa = point
            if not _is_int(counts) or not 0 <= counts <= MAX_COUNTS:
                raise _Invalid(f"counts an integer 0..{MAX_COUNTS}", _got(point))
            # Not inf, and no integer too large for a float (float() would overflow).
            if not _is_number(kpa) or not 0 <= kpa <= sys.float_info.max:
                raise _Invalid("kPa a number >= 0", _got(point))
            if points:
                after = f"{_got(point)} after {_got(previous)}"
                if counts <= points[-1][0]:
                    raise _Invalid("counts strictly increasing", after)
                if kpa < points[-1][1]:
                    raise _Invalid("kPa non-decreasing", after)
            points.append((counts, float(kpa)))
            previous = point
        return tuple(points)


_HOST_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"


@dataclass(frozen=True, slots=True)
class HostNames:
    """Host names or IP addresses as a Host header names them (no port, no wildcard),
    stored lowercased as a tuple, IPv6 addresses compressed and without brackets."""

    expected: str = ('a list of host names or IP addresses, like ["legwake.example.org", '
                     '"192.0.2.10"] (no port, no "*"), or [] for none')

    def parse(self, value: object) -> tuple[str, ...]:
        if not isinstance(value, list | tuple):
            raise _Invalid(self.expected)
        names = []
        for item in value:
            name = _host_name(item) if isinstance(item, str) else None
            if name is None:
                raise _Invalid('each a host name or IP address to browse to (no port, no "*", '
                               'not 0.0.0.0 or ::)', _toml(item))
            names.append(name)
        return tuple(names)


def _host_name(text: str) -> str | None:
    """`text` as a Host header carries it (lowercase, IPv6 compressed), or None when it is
    no host name or address, or an unspecified one (0.0.0.0, ::) that no one browses to."""
    literal = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        address = ipaddress.ip_address(literal)
    except ValueError:
        name = text.lower()
        labels = name.split(".")
        if len(name) > 253 or not all(re.fullmatch(_HOST_LABEL, label) for label in labels) \
                or labels[-1].isdigit():  # 300.1.2.3 is no address, and no name either
            return None
        return name
    return None if address.is_unspecified else address.compressed


@dataclass(frozen=True, slots=True)
class Subset:
    """A list of some of `choices`, each at most once, stored as a tuple in `choices`' order."""

    choices: tuple[str, ...]

    @property
    def expected(self) -> str:
        return f"a list of {', '.join(_toml(c) for c in self.choices)} (each at most once), or []"

    def parse(self, value: object) -> tuple[str, ...]:
        if not isinstance(value, list | tuple) or len(set(map(str, value))) != len(value) \
                or not all(isinstance(item, str) and item in self.choices for item in value):
            raise _Invalid(self.expected)
        return tuple(c for c in self.choices if c in value)


@dataclass(frozen=True, slots=True)
class PushUrls:
    """Apprise URLs ("ntfy://topic", "json://host:port/path", ...): each must be one Apprise
    can use. A wrong one is shown redacted, as Apprise itself prints it."""

    expected: str = ('a list of Apprise URLs like ["ntfy://my-topic", "gotify://host/token"]'
                     " (https://github.com/caronc/apprise/wiki), or [] for none")

    def parse(self, value: object) -> tuple[str, ...]:
        if not isinstance(value, list | tuple):
            raise _Invalid(self.expected)
        from edge.nudge.urls import redacted_url, usable_url

        for item in value:
            if not isinstance(item, str) or not usable_url(item):
                shown = redacted_url(item) if isinstance(item, str) else _hidden(item)
                raise _Invalid("each an Apprise URL of a service Apprise knows", shown)
        return tuple(value)


Check = (Integer | Number | OneOf | Flag | Text | CalibrationTable | HostNames | Subset
         | PushUrls)


def setting(default: Any, check: Check, *, secret: bool = False,
            shown: Callable[[Any], Any] | None = None) -> Any:
    """A dataclass field for one setting: its default, its check, and whether to hide it;
    `shown` renders a secret that is set (a redacted copy), "***" when None."""
    return field(default=default, repr=not secret,
                 metadata={"check": check, "secret": secret, "shown": shown})


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
                if f.metadata.get("secret") and not (f.metadata.get("shown")
                                                     and bad.got is not None):
                    got = _hidden(value)  # unless the check said it redacted
                else:
                    got = bad.got if bad.got is not None else _got(value)
                problems.append(f"{f.name}: expected {bad.expected}, got {got}")
            else:
                if stored is not value:
                    object.__setattr__(self, f.name, stored)  # frozen: the one sanctioned write
        if not problems:  # rules may assume every value is well-typed
            for rule in self.rules:
                if not rule.holds(self):
                    value = operator.attrgetter(rule.key)(self)
                    got = _hidden(value) if _is_secret(self, rule.key) else _got(value)
                    problems.append(
                        f"{_label(rule.key)}: expected {rule.expected.format(s=self)}, got {got}"
                    )
        if problems:
            raise ConfigError(problems)


def _label(key: str) -> str:
    section, _, name = key.rpartition(".")
    return f"[{section}] {name}" if section else key


def _is_secret(owner: object, key: str) -> bool:
    """Whether the setting `key` ("name", or "section.name" from the whole Config) is secret."""
    section, _, name = key.rpartition(".")
    holder = operator.attrgetter(section)(owner) if section else owner
    return any(f.name == name and f.metadata.get("secret") for f in fields(holder))


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
        f'or "" (the one {side} unit advertising; `legwake pair` sets it)',
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
    orientation: str = setting("auto", OneOf(("auto", "normal", "rotated_180", "mirrored",
                                              "rotated_180_mirrored")))

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

    path: str = setting("legwake.db", _sqlite_file("for no log"))
    retention_days: int = setting(365, Integer(0, 36500))


@dataclass(frozen=True, slots=True)
class CollectConfig(_Validated):
    """The fleet collector (`legwake collect`): many desks' messages into one log."""

    db: str = setting("fleet.db", _sqlite_file())
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
    db: str = setting("", _sqlite_file("for [log] path"))
    site: str = setting("+", Text('a site name (letters, digits, "-", "_"), or "+" for every site',
                                  pattern=r"\+|" + SEGMENT, empty_ok=False))
    stale_after_s: float = setting(30.0, Number(2, 3600))
    alerts_kept: int = setting(200, Integer(10, 10000))
    # Answered besides the loopback names and host itself: any other Host header is refused,
    # so a web page cannot reach a dashboard by rebinding its own name to this address.
    allowed_hosts: tuple[str, ...] = setting((), HostNames())
    # Followed at once; a new desk beyond it replaces the one silent the longest.
    max_desks: int = setting(500, Integer(1, 100000))
    url: str = setting("", Text('an http:// or https:// address, or "" for http://<host>:<port>/',
                                pattern=r"https?://\S+"))

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
    body: str = setting("standard", OneOf(("standard", "anthropometric")))
    haptic: bool = setting(True, Flag())
    mat_orientation: str = setting("normal", OneOf(("normal", "rotated_180", "mirrored",
                                                    "rotated_180_mirrored")))
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
    sensitivity: float = setting(1.0, Number(0.5, 2.0))
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
    quantile: float = setting(0.5, Number(0.05, 0.5))
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
    max_reminders: int = setting(2, Integer(0, 10))

    rules: ClassVar[tuple[Rule, ...]] = (
        Rule("worse_s", lambda c: c.worse_s < c.lead_time_s, "less than lead_time_s"),
        Rule("quiet_end", lambda c: bool(c.quiet_start) == bool(c.quiet_end),
             "set together with quiet_start (both, or neither)"),
    )


ALERT_KINDS = ("numbness", "break")
"""The kinds of alert the policy raises (edge/policy.py), for the settings that choose them."""


@dataclass(frozen=True, slots=True)
class HapticConfig(_Validated):
    """The buzz on the thigh (edge/nudge/haptic.py): units with the v1.1 haptic characteristic."""

    enabled: bool = setting(True, Flag())
    intensity: int = setting(70, Integer(1, 100))
    kinds: tuple[str, ...] = setting(ALERT_KINDS, Subset(ALERT_KINDS))


@dataclass(frozen=True, slots=True)
class NotifyConfig(_Validated):
    """Push notifications through Apprise (edge/nudge/push.py), queued on disk."""

    urls: tuple[str, ...] = setting((), PushUrls(), secret=True,
                                    shown=lambda urls: [redact_push_url(u) for u in urls])
    kinds: tuple[str, ...] = setting(ALERT_KINDS, Subset(ALERT_KINDS))
    queue_path: str = setting("notify.db", Text("a SQLite file path", empty_ok=False))
    retry_initial_s: float = setting(5.0, Number(0.1, 600))
    retry_max_s: float = setting(300.0, Number(1, 3600))
    expire_h: float = setting(24.0, Number(0.1, 720))

    rules: ClassVar[tuple[Rule, ...]] = (
        Rule("retry_initial_s", lambda s: s.retry_initial_s <= s.retry_max_s,
             "at most retry_max_s ({s.retry_max_s})"),
    )


def redact_push_url(url: str) -> str:
    from edge.nudge.urls import redacted_url

    return redacted_url(url)


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
    thigh_attenuation: float = setting(0.54, Number(0, 1))
    sciatic_without_mat_mmhg: float = setting(20.0, Number(0, 300))
    thigh_without_mat_mmhg: float = setting(15.0, Number(0, 300))
    crossed_leg_load_fraction: float = setting(0.10, Number(0, 0.3))
    crossed_contact_cm2: float = setting(20.0, Number(1, 200))
    peroneal_attenuation: float = setting(0.5, Number(0, 1))
    tucked_foot_load_fraction: float = setting(0.2, Number(0, 0.5))
    tucked_foot_contact_cm2: float = setting(30.0, Number(1, 200))
    tucked_foot_attenuation: float = setting(0.4, Number(0, 1))
    tucked_foot_tilt_deg: float = setting(10.0, Number(3, 90))


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
    haptic: HapticConfig = field(default_factory=HapticConfig)
    notify: NotifyConfig = field(default_factory=NotifyConfig)
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
    except ValueError as error:  # an integer past Python's 4300 digits: int() refuses it
        raise ConfigError([f"{name}: invalid TOML: {str(error).partition(':')[0]}"]) from None
    except RecursionError:  # tomllib has no nesting limit of its own
        raise ConfigError([f"{name}: invalid TOML: arrays or tables nested too deeply"]) from None
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
            errors.append(f"{name}: [{section}]: expected a [{section}] table, got {_got(table)}")
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


# --- the files a command will use ------------------------------------------------------------

COMMANDS = ("run", "collect", "dashboard")
_READABLE = "a file that user {user} can read"
_WRITABLE = "a file path in a directory that user {user} can write to, or create"


def check_environment(config: Config, *, config_file: str | os.PathLike[str] | None = None,
                      for_command: str | None = None) -> list[str]:
    """Check the files that `legwake <for_command>` will use, before it starts; the warnings.

    Unlike load_config, this looks at the files the configuration names; it reads, and
    never creates or writes anything. For every command, [mqtt] ca_file, cert_file and
    key_file, when set, must be files this user can read. For `run`, the directories of
    [mqtt] outbox_path and (when the log is on) [log] path must exist, or be creatable,
    and be writable by this user, as must that of [notify] queue_path when push URLs are
    set; for `collect`, that of [collect] db; for `dashboard`,
    the log it reads ([dashboard] db, else [log] path) must be readable if it exists.
    `for_command` None checks for every command (`legwake check-config`). Relative paths
    are taken from the current directory, as the command will take them.

    Raises ConfigError with every problem in load_config's style (`config_file`, the key,
    what would be valid, what it is, and why), and the warnings in its `warnings`.
    Warns when a secret ([mqtt] password, [dashboard] token, [notify] urls) is set in `config_file` and
    others (not its owner or group) may read that file. No message shows a secret.
    """
    if for_command is not None and for_command not in COMMANDS:
        raise ValueError(f"for_command: expected one of {', '.join(COMMANDS)} or None, "
                         f"got {for_command!r}")
    commands = COMMANDS if for_command is None else (for_command,)
    name = os.fspath(config_file) if config_file is not None else None
    prefix = f"{name}: " if name is not None else ""
    user = _user()
    errors: list[str] = []

    def check(key: str, expected: str, why: str | None) -> None:
        if why is not None:
            value = operator.attrgetter(key)(config)
            errors.append(f"{prefix}{_label(key)}: expected {expected.format(user=user)}, "
                          f"got {_got(value)} ({why})")

    for key in ("mqtt.ca_file", "mqtt.cert_file", "mqtt.key_file"):
        if path := operator.attrgetter(key)(config):
            check(key, _READABLE, _unreadable(path, user))
    if "run" in commands:
        check("mqtt.outbox_path", _WRITABLE, _unwritable(config.mqtt.outbox_path, user))
        if config.log.path:
            check("log.path", _WRITABLE, _unwritable(config.log.path, user))
        if config.notify.urls:
            check("notify.queue_path", _WRITABLE, _unwritable(config.notify.queue_path, user))
    if "collect" in commands:
        check("collect.db", _WRITABLE, _unwritable(config.collect.db, user))
    if "dashboard" in commands:
        key = "dashboard.db" if config.dashboard.db else "log.path"
        history = operator.attrgetter(key)(config)
        if history and os.path.lexists(history):
            check(key, _READABLE + ', or a path where there is no log yet',
                  _unreadable(history, user))
    warnings = [f"{prefix}{line}" for line in _exposed_secrets(config, name)]
    if errors:
        raise ConfigError(errors, warnings=warnings)
    return warnings


def _user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:  # a uid without a name (a container's)
        return str(os.geteuid())


def _where(path: str) -> str:
    """": /abs/path" after a relative path's problem, so that it says where it looked."""
    return "" if os.path.isabs(path) else f": {os.path.abspath(path)}"


def _unreadable(path: str, user: str) -> str | None:
    """Why `path` is not a regular file that `user` (this process) can read, or None."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return f"not a regular file{_where(path)}"
        os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
    except FileNotFoundError:
        return f"no such file{_where(path)}"
    except PermissionError:
        return f"user {user} may not read it{_where(path)}"
    except OSError as error:
        return f"{error.strerror or error}{_where(path)}"
    return None


def _unwritable(path: str, user: str) -> str | None:
    """Why a SQLite file cannot be created or written at `path` by `user` (this process):
    its directory, or the nearest one that exists (the adapters create the rest), is
    not a directory or not writable. None when it can be."""
    directory = Path(os.path.abspath(path)).parent
    existing = directory
    while not os.path.lexists(existing):
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a directory"
    if os.access(existing, os.W_OK | os.X_OK):
        return None
    if existing == directory:
        return f"user {user} may not write to {directory}"
    return f"{directory} does not exist, and user {user} may not create it in {existing}"


def _exposed_secrets(config: Config, config_file: str | None) -> list[str]:
    """A warning when `config_file` sets a secret and others (not its owner or group) may read
    it. Group-readable is how the service shares it (deploy/legwake.service: root:legwake,
    0640), so that is not warned about."""
    if config_file is None:
        return []
    secrets = [f"[{section.name}] {f.name}" for section in fields(config)
               for f in fields(getattr(config, section.name))
               if f.metadata.get("secret") and getattr(getattr(config, section.name), f.name)]
    try:
        mode = os.stat(config_file).st_mode
    except OSError:
        return []
    if not secrets or not mode & 0o004:
        return []
    which = " and ".join(secrets) + (" is" if len(secrets) == 1 else " are")
    mode_text = f"{stat.S_IMODE(mode):04o}"
    return [f"{which} set in a file that others can read (mode {mode_text}): chmod o-r "
            + shlex.quote(config_file)]


# --- rendering -------------------------------------------------------------------------------


def config_to_toml(cfg: Config, *, redact: bool = False) -> str:
    """The configuration as TOML that loads back to an equal Config.

    With `redact`, secrets that are set (the MQTT password, the dashboard token)
    read "***".
    """
    lines: list[str] = []
    for section in fields(cfg):
        values = getattr(cfg, section.name)
        lines.append(f"[{section.name}]")
        for f in fields(values):
            value = getattr(values, f.name)
            if redact and f.metadata.get("secret") and value:
                shown = f.metadata.get("shown")
                value = shown(value) if shown is not None else "***"
            lines.append(f"{f.name} = {_toml(value)}")
        lines.append("")
    return "\n".join(lines)


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


# No setting nests deeper than this: a wrong value that does shows "[...]" or "{...}" there
# (a file may nest arrays as deep as tomllib's recursion goes).
_MAX_DEPTH = 16
# The "got ..." of an error message is cut after this many characters.
_MAX_GOT = 120


def _toml(value: object, depth: int = 0) -> str:
    """A value in TOML syntax, for config_to_toml and for the "got ..." of error messages.

    Arrays and tables below _MAX_DEPTH levels (no valid value has them) read "[...]" and
    "{...}", so that rendering a wrong value cannot exhaust the stack.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        try:
            return repr(value)  # TOML reads Python's int and float reprs, inf and nan included
        except ValueError:  # past Python's 4300 digits (only from code: tomllib refuses it)
            return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list | tuple):
        if depth >= _MAX_DEPTH:
            return "[...]"
        return "[" + ", ".join(_toml(item, depth + 1) for item in value) + "]"
    if isinstance(value, dict):
        if depth >= _MAX_DEPTH:
            return "{...}"
        items = (f"{k if _BARE_KEY.fullmatch(k) else _toml_string(k)} = {_toml(v, depth + 1)}"
                 for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    return str(value)  # dates and times: str() is their TOML form


def _got(value: object) -> str:
    """A wrong value for an error message: in TOML, cut after _MAX_GOT characters."""
    text = _toml(value)
    return text if len(text) <= _MAX_GOT else text[:_MAX_GOT] + " ..."


def _hidden(value: object) -> str:
    """A wrong value of a secret setting, for an error message: its kind, never the value."""
    if isinstance(value, bool):
        kind = "a boolean"
    elif isinstance(value, int):
        kind = "an integer"
    elif isinstance(value, float):
        kind = "a number"
    elif isinstance(value, str):
        kind = "a string"
    elif isinstance(value, list | tuple):
        kind = "an array"
    elif isinstance(value, dict):
        kind = "a table"
    else:
        kind = "a date or time"
    return f"{kind} (secret: not shown)"


def _toml_string(text: str) -> str:
    def escape(match: re.Match[str]) -> str:
        char = match.group()
        return {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t"}.get(char, f"\\u{ord(char):04x}")

    return '"' + re.sub(r'["\\\x00-\x1f\x7f]', escape, text) + '"'
