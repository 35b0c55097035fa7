"""The MQTT sink: alerts, events, state and Home Assistant discovery out; commands in.

Owns the paho-mqtt 2.x client: paho's types stop in this module. Everything published
lives under `<topic_prefix>/<site>/<desk>/` (see `Topics`):

- `status`  "online" (retained) once connected; "offline" (retained) as the last will and
            on a clean stop. Plain text, not JSON (Home Assistant's availability payloads).
- `state`   retained, QoS 0, at most once per `state_interval_s`; the newest state wins.
- `alert`, `event`  QoS 1 through the SQLite outbox (edge/outbox.py): stored before they
            are sent, deleted on PUBACK, sent again in order after an outage or a restart.
            At least once: consumers drop duplicates by `id`.
- `last_alert`  the newest alert again, retained (QoS 1, through the outbox): what Home
            Assistant's "Last alert" shows after a restart of Home Assistant or the agent.
- `pause`   retained, QoS 1 through the outbox: whether nudges are paused (schemas/pause.json);
            the live loop calls `publish_pause` at start and on every change.
- `cmd/ack`, `cmd/snooze`, `cmd/pause`, `cmd/feedback`  subscribed (QoS 1); checked against their schemas
            into `Command`s (edge/payloads.py); a bad one is counted and dropped.
- `<ha_prefix>/device/<node id>/config`  retained Home Assistant discovery (see
            `ha_discovery_config`, docs/home-assistant.md). The topic announced is remembered
            in a file beside the outbox (`<outbox_path>.ha-discovery`), so that after a rename
            of the desk, or with [mqtt] ha_discovery = false, the old config is removed (an
            empty retained payload, through the outbox) and Home Assistant drops the device.

The JSON payloads are specified in schemas/*.json (checked by the tests).

Threads: paho's network thread runs the connection and its capped exponential reconnect
backoff; its callbacks only put timestamped notices into bounded queues that keep the
newest (the oldest is dropped, counted and logged) and wake our worker thread. The worker
does the rest: session set-up, handing outbox messages to paho (at most INFLIGHT_WINDOW
unacknowledged), deleting them on PUBACK, rate-limiting state, logging. Callers'
threads only serialise, write the outbox and wake the worker.

Must not touch: the pipeline's data (it receives plain dicts) or the policy's decisions.
"""

from __future__ import annotations

import collections
import ipaddress
import json
import logging
import math
import os
import ssl
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Generic, Self, TypeVar

from paho.mqtt import client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.atomic import replace_text
from edge.config import ALERT_KINDS, DashboardConfig, DeskConfig, MqttConfig
from edge.estimate.labels import LEG_SITES, LEGS, POSTURES, SEATED, SITES
from edge.outbox import Outbox, OutboxMessage
from edge.payloads import (
    MAX_ID_CHARS,
    Command,
    CommandKind,
    Commands,
    InvalidCommand,
    is_message_id,
)
from edge.payloads import show as _show
from edge.refusals import Refusals, reason_of
from edge.timefmt import iso_utc

__all__ = [
    "POSTURE_WORDS",
    "MqttPublisher",
    "PublisherError",
    "PublisherStats",
    "Topics",
    "announced_path",
    "dashboard_url",
    "ha_discovery_config",
    "make_client",
    "session_options",
]

log = logging.getLogger(__name__)

# Outbox messages handed to paho and not yet acknowledged; also paho's in-flight limit.
# Mosquitto's default Receive Maximum is 20 too.
INFLIGHT_WINDOW = 20
# MQTT 5 session kept by the broker while the agent is away, so commands sent meanwhile
# (QoS 1) are delivered when it is back. MQTT 3.1.1 keeps the session without a limit.
SESSION_EXPIRY_S = 24 * 3600
# One INFO line per this many states dropped by the rate limit (dropping is normal: the
# pipeline produces states faster than they are published).
STATE_DROP_LOG_EVERY = 1000
# Longest time stop() waits for the broker to acknowledge the retained "offline".
STOP_TIMEOUT_S = 2.0
# The worker looks at the window at least this often even without a wake-up.
TICK_S = 1.0

SENSOR_HEALTH = ("ok", "stale", "missing")
SENSORS = ("mat", "imu_left", "imu_right")


class PublisherError(RuntimeError):
    """The publisher cannot start: a TLS file is missing or unreadable."""


# --- topics -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Topics:
    """Every topic of one desk. `node_id` names the desk in Home Assistant."""

    base: str
    node_id: str
    ha_prefix: str

    @classmethod
    def of(cls, mqtt: MqttConfig, desk: DeskConfig) -> Topics:
        return cls(base=f"{mqtt.topic_prefix}/{desk.site}/{desk.desk}",
                   node_id=f"{mqtt.topic_prefix}_{desk.site}_{desk.desk}",
                   ha_prefix=mqtt.ha_prefix)

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def state(self) -> str:
        return f"{self.base}/state"

    @property
    def alert(self) -> str:
        return f"{self.base}/alert"

    @property
    def event(self) -> str:
        return f"{self.base}/event"

    @property
    def minute(self) -> str:
        return f"{self.base}/minute"

    @property
    def last_alert(self) -> str:
        return f"{self.base}/last_alert"

    @property
    def pause(self) -> str:
        return f"{self.base}/pause"

    @property
    def cmd_ack(self) -> str:
        return f"{self.base}/cmd/ack"

    @property
    def cmd_snooze(self) -> str:
        return f"{self.base}/cmd/snooze"

    @property
    def cmd_pause(self) -> str:
        return f"{self.base}/cmd/pause"

    @property
    def cmd_feedback(self) -> str:
        return f"{self.base}/cmd/feedback"

    @property
    def commands(self) -> dict[str, CommandKind]:
        """Each command topic and the kind of command it carries."""
        return {self.cmd_ack: "ack", self.cmd_snooze: "snooze", self.cmd_pause: "pause",
                self.cmd_feedback: "feedback"}

    @property
    def ha_status(self) -> str:
        return f"{self.ha_prefix}/status"

    @property
    def ha_config(self) -> str:
        return f"{self.ha_prefix}/device/{self.node_id}/config"


# --- Home Assistant discovery -----------------------------------------------------------------

# What people read, for the posture's raw names: the dashboard's and the report's words.
POSTURE_WORDS: Mapping[str, str] = {
    "empty": "Seat empty", "upright": "Upright", "leaning_left": "Leaning left",
    "leaning_right": "Leaning right", "slouched": "Slouched",
    "crossed_left_over_right": "Legs crossed, left over right",
    "crossed_right_over_left": "Legs crossed, right over left",
    "foot_under_left": "Left foot tucked under", "foot_under_right": "Right foot tucked under",
    "standing": "Standing",
}
# The snooze lengths Home Assistant offers (minutes), within [policy] snooze_max_min.
SNOOZE_CHOICES_MIN = (15, 30, 60, 120)
# A live entity (fed by `state`) turns unavailable after this many state intervals without a
# state, and never sooner than EXPIRE_MIN_S: a state that stopped coming is not the present.
EXPIRE_INTERVALS = 10
EXPIRE_MIN_S = 30
THIGH_UNITS = ("imu_left", "imu_right")
# A component removed from the device since an earlier version: published with its platform
# only, which is how device discovery removes one entity (Home Assistant's MQTT docs, "Device
# discovery payload"); a key never comes back with another platform.
RETIRED_COMPONENTS: Mapping[str, str] = {"snooze_15": "button"}


def _number_template(path: str, expression: str, *, null: str = "None") -> str:
    """A value_template reading `value_json.<path>` once, as `v`: `expression` when it is a
    number, else `null` ("None" is unknown to Home Assistant)."""
    return (f"{{% set v = value_json.{path} %}}"
            f"{{{{ ({expression}) if v is number else {null} }}}}")


# Time to numbness in minutes, as coarse as a person reads it: whole minutes up to 30, the
# nearest 5 up to two hours, the nearest 15 beyond (the countdown would change every second).
_MINUTES_AHEAD = ("(((v / 900) | round) * 15) | int if v > 7200 else"
                  " (((v / 300) | round) * 5) | int if v > 1800 else (v / 60) | round | int")


# A nerve pressure as a person reads it: whole mmHg for a light contact, the nearest 5 above
# (the estimate is not closer than that, and whole mmHg of a loaded site flicker every few
# seconds: about 3,000 state changes an hour for the six sites alone).
_MMHG = "(v | round | int) if v < 10 else (((v / 5) | round) * 5) | int"


def _leg_ahead_template(leg: str) -> str:
    """ON when one of the leg's sites has a time to numbness, OFF when none has (no numbness
    ahead), None (unknown) when none of its sites has a pressure estimate."""
    sites = ", ".join(f"s.{SITES[i]}" for i in LEG_SITES[leg])
    return ("{% set s = value_json.sites %}"
            f"{{% set leg = [{sites}] %}}"
            "{% if leg | selectattr('time_to_numbness_s', 'number') | list %}ON"
            "{% elif leg | selectattr('pressure_mmhg', 'number') | list %}OFF"
            "{% else %}None{% endif %}")


def _leg_band_template(leg: str) -> str:
    """When the leg falls asleep, as sure as the band is: "in 8 to 21 min" (its soonest
    site's early and late edges, whole minutes), "Not ahead", None (unknown)."""
    sites = ", ".join(f"s.{SITES[i]}" for i in LEG_SITES[leg])
    return ("{% set s = value_json.sites %}"
            f"{{% set leg = [{sites}] %}}"
            "{% set ahead = leg | selectattr('time_to_numbness_s', 'number')"
            " | sort(attribute='time_to_numbness_s') | list %}"
            "{% if ahead %}{% set t = ahead[0].time_to_numbness_s %}"
            "{% set b = ahead[0].time_to_numbness_band_s | default([t, t]) %}"
            "{% set lo = ((b[0] if b[0] is number else t) / 60) | round(0, 'floor') | int %}"
            "{% if b[1] is number %}"
            "{% set hi = [(b[1] / 60) | round(0, 'ceil') | int, lo] | max %}"
            "{{ ('in about %d min' % hi) if hi == lo else ('in %d to %d min' % (lo, hi)) }}"
            "{% else %}{{ 'in %d min or more' % lo }}{% endif %}"
            "{% elif leg | selectattr('pressure_mmhg', 'number') | list %}Not ahead"
            "{% else %}None{% endif %}")


def dashboard_url(dashboard: DashboardConfig) -> str | None:
    """The dashboard's address for Home Assistant's device page ("Visit"): [dashboard] url,
    else http://<host>:<port>/ from the address it listens on. None when that says nothing a
    browser elsewhere could use: 0.0.0.0 or :: (every address: which one people browse to is
    not known) and loopback (only this machine, and Home Assistant's users are elsewhere)."""
    if dashboard.url:
        return dashboard.url
    host = dashboard.host
    if host in ("0.0.0.0", "::", "localhost"):
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"http://{host}:{dashboard.port}/"  # a host name
    if address.is_loopback or address.is_unspecified:
        return None
    shown = f"[{address}]" if address.version == 6 else str(address)
    return f"http://{shown}:{dashboard.port}/"


def ha_discovery_config(topics: Topics, desk: DeskConfig, *, state_interval_s: float = 1.0,
                        snooze_minutes: tuple[int, int] | None = None,
                        configuration_url: str | None = None) -> dict[str, Any]:
    """The retained device-based discovery message for `topics.ha_config`.

    One device (the desk) with, from `state`: the posture in words, its confidence, each
    site's nerve pressure and time to numbness, whether numbness is ahead for each leg, the
    seat's occupancy, the time seated, the last break, the thigh units' batteries and the
    sensors' health; from `alert` and `last_alert`: the alerts as an event entity and a "last
    alert" sensor; from `pause`: a "Pause nudges" switch (to `cmd/pause`); "My left/right leg
    fell asleep" and "False alarm, I was fine" buttons (to `cmd/feedback`); an Acknowledge
    button (to `cmd/ack`) and a snooze select (to `cmd/snooze`, lengths within
    `snooze_minutes`, the commands' (min, max); None: the schema's). Availability follows
    `status`. Format: https://www.home-assistant.io/integrations/mqtt/ ("Device discovery
    payload"): `device` and `origin` are required at the root.

    Every component carries its own `state_topic` and `qos`: Home Assistant 2025.4 ignored
    the root-level `qos`, and a root `state_topic` would be the select's too. The templates
    round what changes every second to what a person reads (whole mmHg, minutes, 5 %
    steps), so that the recorder keeps a row when something a person would see changed.
    """
    node = topics.node_id
    lowest, highest = snooze_minutes or Commands().snooze_minutes
    expire_after = max(EXPIRE_MIN_S, math.ceil(EXPIRE_INTERVALS * state_interval_s))
    live = {"state_topic": topics.state, "expire_after": expire_after}
    components: dict[str, dict[str, Any]] = {
        "posture": {
            "p": "sensor", "name": "Posture", "device_class": "enum",
            "options": [POSTURE_WORDS[p] for p in POSTURES], "icon": "mdi:seat-recline-normal",
            "value_template": (f"{{% set words = {json.dumps(POSTURE_WORDS)} %}}"
                               "{{ words[value_json.posture] }}"),
            **live,
        },
        "posture_confidence": {
            "p": "sensor", "name": "Posture confidence", "unit_of_measurement": "%",
            "state_class": "measurement", "entity_category": "diagnostic",
            "icon": "mdi:check-decagram-outline",
            "value_template": _number_template("confidence", "((v * 20) | round * 5) | int"),
            **live,
        },
        "occupancy": {
            "p": "binary_sensor", "name": "Seat", "device_class": "occupancy",
            "value_template": (f"{{{{ 'ON' if value_json.posture in {sorted(SEATED)}"
                               " else 'OFF' }}"),
            **live,
        },
        "sitting": {
            "p": "sensor", "name": "Sitting time", "device_class": "duration",
            "unit_of_measurement": "min", "state_class": "measurement", "icon": "mdi:chair-rolling",
            # Not seated (or on a break): 0, not unknown.
            "value_template": _number_template("sitting_s", "(v / 60) | round(0, 'floor') | int",
                                               null="0"),
            **live,
        },
        "last_break": {
            # A timestamp: Home Assistant shows "12 minutes ago" and counts on by itself.
            "p": "sensor", "name": "Last break", "device_class": "timestamp",
            "icon": "mdi:walk",
            # When it ended; while it goes on, when it began; None before any.
            "value_template": ("{% set b = value_json.last_break %}"
                               "{{ (b.end or b.start) if b else None }}"),
            **live,
        },
    }
    for leg in LEGS:
        components[f"numbness_ahead_{leg}"] = {
            "p": "binary_sensor", "name": f"Numbness ahead, {leg} leg", "device_class": "problem",
            "icon": "mdi:foot-print", "value_template": _leg_ahead_template(leg), **live,
        }
        components[f"falls_asleep_{leg}"] = {
            "p": "sensor", "name": f"{leg.capitalize()} leg falls asleep",
            "icon": "mdi:timer-sand", "value_template": _leg_band_template(leg), **live,
        }
    for site in SITES:
        label = site.replace("_", " ").capitalize()
        # No device_class "pressure": Home Assistant would convert mmHg to the installation's
        # unit system (inHg on a US one), and nerve pressures are read in mmHg.
        components[f"{site}_pressure"] = {
            "p": "sensor", "name": f"{label} nerve pressure",
            "unit_of_measurement": "mmHg", "state_class": "measurement",
            "suggested_display_precision": 0, "icon": "mdi:gauge",
            "value_template": _number_template(f"sites.{site}.pressure_mmhg", _MMHG),
            **live,
        }
        # A null time to numbness (none ahead) is unknown here; the leg's "Numbness ahead"
        # tells none ahead (OFF) from unknown.
        components[f"{site}_time_to_numbness"] = {
            "p": "sensor", "name": f"{label} time to numbness", "device_class": "duration",
            "unit_of_measurement": "min", "state_class": "measurement",
            "suggested_display_precision": 0,
            "value_template": _number_template(f"sites.{site}.time_to_numbness_s",
                                               _MINUTES_AHEAD),
            **live,
        }
    for unit in THIGH_UNITS:
        side = unit.removeprefix("imu_")
        components[f"{unit}_battery"] = {
            "p": "sensor", "name": f"{side.capitalize()} thigh unit battery",
            "device_class": "battery", "unit_of_measurement": "%", "state_class": "measurement",
            "entity_category": "diagnostic",
            "value_template": _number_template(f"battery_pct.{unit}", "v | round | int"),
            **live,
        }
    components["sensitivity"] = {
        # Learned from the person's feedback: 1 is the calibrated adult, above 1 sooner numb.
        "p": "sensor", "name": "Leg sensitivity", "state_class": "measurement",
        "suggested_display_precision": 2, "entity_category": "diagnostic",
        "icon": "mdi:account-heart-outline",
        # A state from an agent older than the learning has none: unknown, not an error.
        "value_template": ("{% set v = (value_json.sensitivity | default({})).k | default(None)"
                           " %}{{ (v | round(2)) if v is number else None }}"),
        "json_attributes_topic": topics.state,
        "json_attributes_template": "{{ value_json.sensitivity | default({}) | tojson }}",
        **live,
    }
    for sensor in SENSORS:
        components[f"{sensor}_health"] = {
            "p": "sensor", "name": f"{sensor.replace('_', ' ').capitalize()} health",
            "device_class": "enum", "options": list(SENSOR_HEALTH),
            "entity_category": "diagnostic",
            "value_template": f"{{{{ value_json.sensors.{sensor} }}}}",
            **live,
        }
    components["alert"] = {
        "p": "event", "name": "Alert", "state_topic": topics.alert,
        "event_types": list(ALERT_KINDS),
        "value_template": ("{{ {'event_type': value_json.kind, 'id': value_json.id,"
                           " 'site': value_json.site, 'message': value_json.message}"
                           " | tojson }}"),
    }
    components["last_alert"] = {
        # Retained: known again right after a restart of Home Assistant or of the agent.
        "p": "sensor", "name": "Last alert", "state_topic": topics.last_alert,
        "icon": "mdi:seat-legroom-reduced", "json_attributes_topic": topics.last_alert,
        "json_attributes_template": ("{{ {'id': value_json.id, 'kind': value_json.kind,"
                                     " 'site': value_json.site, 'message': value_json.message,"
                                     " 'time': value_json.time} | tojson }}"),
        "value_template": "{{ value_json.message[:255] }}",
    }
    components["acknowledge"] = {
        # {}: the newest alert still open (schemas/cmd-ack.json).
        "p": "button", "name": "Acknowledge", "command_topic": topics.cmd_ack,
        "payload_press": "{}", "icon": "mdi:check-circle-outline",
    }
    for leg in LEGS:
        components[f"{leg}_leg_asleep"] = {
            "p": "button", "name": f"My {leg} leg fell asleep",
            "command_topic": topics.cmd_feedback,
            "payload_press": json.dumps({"leg": leg, "numb": True}), "icon": "mdi:foot-print",
        }
    components["false_alarm"] = {
        # {"numb": false}: the newest numbness alert (schemas/cmd-feedback.json).
        "p": "button", "name": "False alarm, I was fine", "command_topic": topics.cmd_feedback,
        "payload_press": json.dumps({"numb": False}), "icon": "mdi:emoticon-happy-outline",
    }
    choices = [m for m in SNOOZE_CHOICES_MIN if lowest <= m <= highest] or [highest]
    components["snooze"] = {
        # No state topic: optimistic, it shows the length chosen last.
        "p": "select", "name": "Snooze (minutes)", "command_topic": topics.cmd_snooze,
        "options": [str(m) for m in choices], "command_template": '{"minutes": {{ value }}}',
        "icon": "mdi:alarm-snooze",
    }
    components["pause"] = {
        "p": "switch", "name": "Pause nudges", "command_topic": topics.cmd_pause,
        "payload_on": json.dumps({"paused": True}), "payload_off": json.dumps({"paused": False}),
        "state_topic": topics.pause, "value_template": "{{ 'ON' if value_json.paused else 'OFF' }}",
        "state_on": "ON", "state_off": "OFF", "optimistic": False, "icon": "mdi:bell-sleep",
    }
    for key, component in components.items():
        component["unique_id"] = f"{node}_{key}"
        component["qos"] = 1
    for key, platform in RETIRED_COMPONENTS.items():
        components[key] = {"p": platform}
    version = _version()
    device: dict[str, Any] = {
        "identifiers": [node],
        "name": f"legwake {desk.site} {desk.desk}",
        "manufacturer": "legwake",
        "model": "posture-break agent",
        "sw_version": version,
    }
    if configuration_url:
        device["configuration_url"] = configuration_url
    return {
        "device": device,
        "origin": {"name": "legwake", "sw_version": version},
        "availability_topic": topics.status,
        "components": components,
    }


def _removal_id(config_topic: str) -> str:
    """The outbox id of the empty retained payload that removes a discovery config."""
    return f"ha-discovery-removal {config_topic}"


def _version() -> str:
    try:
        return metadata.version("legwake")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "0+unknown"


# --- small thread-safe parts ------------------------------------------------------------------

T = TypeVar("T")


class _NewestQueue(Generic[T]):
    """A bounded FIFO between threads that keeps the newest: when full, put() drops the
    oldest item and says so (the caller counts and logs)."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self._items: collections.deque[T] = collections.deque()
        self._maxsize = maxsize
        self._lock = threading.Lock()

    def put(self, item: T) -> bool:
        """Add `item`; True when the oldest item was dropped to make room."""
        with self._lock:
            dropped = len(self._items) >= self._maxsize
            if dropped:
                self._items.popleft()
            self._items.append(item)
            return dropped

    def put_back(self, item: T) -> None:
        """Return a taken item to the front, unless the queue has filled up meanwhile."""
        with self._lock:
            if len(self._items) < self._maxsize:
                self._items.appendleft(item)

    def take(self) -> T | None:
        with self._lock:
            return self._items.popleft() if self._items else None

    def drain(self) -> list[T]:
        with self._lock:
            items = list(self._items)
            self._items.clear()
            return items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


# Notices from paho's thread to the worker. `at` is time.time() when paho called us.

@dataclass(frozen=True, slots=True)
class _Connected:
    ok: bool
    reason: str
    session_present: bool
    at: float


@dataclass(frozen=True, slots=True)
class _ConnectFailed:
    error: str
    at: float


@dataclass(frozen=True, slots=True)
class _Disconnected:
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class _HaOnline:
    at: float


@dataclass(frozen=True, slots=True)
class _Rejected:
    mid: int
    reason: str
    at: float


_Notice = _Connected | _ConnectFailed | _Disconnected | _HaOnline | _Rejected


@dataclass(frozen=True, slots=True)
class _Received:
    kind: CommandKind
    topic: str
    payload: bytes
    retain: bool
    received_at: datetime


@dataclass(slots=True)
class _InFlight:
    message: OutboxMessage
    info: paho.MQTTMessageInfo


@dataclass(frozen=True, slots=True)
class PublisherStats:
    """Counters since start(); `outbox_pending` is what the outbox holds now."""

    connected: bool
    connections: int
    outbox_pending: int
    in_flight: int
    enqueued: int
    acknowledged: int
    states_published: int
    states_dropped: int
    commands_received: int
    commands_invalid: int
    commands_dropped: int
    notices_dropped: int


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _reason_text(reason: ReasonCode) -> str:
    return f"{reason.getName()} (reason code {reason.value})"


# --- the publisher ----------------------------------------------------------------------------


class MqttPublisher:
    """Publishes one desk's alerts, events and state; receives its commands.

    `start()` opens the outbox and connects in the background (it never waits for the
    broker); `stop()` publishes "offline", disconnects and closes the outbox. Messages
    still in the outbox are sent after the next start. Usable as a context manager.
    """

    def __init__(self, mqtt: MqttConfig, desk: DeskConfig, *,
                 clock: Callable[[], datetime] = _utc_now,
                 state_drop_log_every: int = STATE_DROP_LOG_EVERY,
                 commands: Commands | None = None,
                 dashboard: DashboardConfig | None = None) -> None:
        """`commands`: how cmd/ack, cmd/snooze and cmd/pause are checked (the schemas' own
        limits if None; the agent passes [policy] snooze_max_min), and the snooze lengths
        Home Assistant offers. `dashboard`: where Home Assistant's device page links to
        (`dashboard_url`); None, no link."""
        self.mqtt = mqtt
        self.desk = desk
        self.topics = Topics.of(mqtt, desk)
        self.client_id = mqtt.client_id or f"legwake-{desk.site}-{desk.desk}"
        self.broker = f"{mqtt.host}:{mqtt.port}"
        self._clock = clock
        self._commands = commands or Commands()
        self._command_topics = self.topics.commands
        self._configuration_url = dashboard_url(dashboard) if dashboard is not None else None
        self._announced = _AnnouncedTopic(announced_path(mqtt.outbox_path))
        self._refused = Refusals(log, "command")
        self._state_drop_log_every = max(1, state_drop_log_every)

        self._notices: _NewestQueue[_Notice] = _NewestQueue(mqtt.queue_size)
        self._received: _NewestQueue[_Received] = _NewestQueue(mqtt.queue_size)
        self._state: _NewestQueue[bytes] = _NewestQueue(1)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._counts_lock = threading.Lock()
        self._counts: collections.Counter[str] = collections.Counter()

        self._client: paho.Client | None = None
        self._outbox: Outbox | None = None
        self._worker: threading.Thread | None = None
        # Worker-thread state.
        self._in_flight: collections.deque[_InFlight] = collections.deque()
        self._last_handed_seq = 0
        self._session_ready = False  # subscribed, "online" and discovery sent
        self._session_due = False    # a connection was announced: set its session up
        self._unannounced_since: float | None = None
        self._was_connected = False
        self._failures = 0  # consecutive failed connection attempts
        self._last_state_at = -math.inf
        self._left_at_stop = 0

    # --- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._worker is not None:
            raise RuntimeError("MqttPublisher.start() called twice")
        client = self._make_client()  # raises PublisherError before anything is opened
        self._outbox = Outbox(self.mqtt.outbox_path)
        self._client = client
        self._retire_old_discovery(self._outbox)
        pending = len(self._outbox)
        if pending:
            log.info("outbox %s: %d messages from before are sent first",
                     self.mqtt.outbox_path, pending)
        self._worker = threading.Thread(target=self._run, name="mqtt-publisher", daemon=True)
        self._worker.start()
        client.connect_async(self.mqtt.host, self.mqtt.port, self.mqtt.keepalive_s,
                             **self._connect_options())
        client.loop_start()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Publish the retained "offline", disconnect, stop both threads, close the outbox."""
        if self._worker is None or self._stopping.is_set():
            return
        self._stopping.set()
        self._wake.set()
        self._worker.join()
        client, outbox = self._client, self._outbox
        assert client is not None and outbox is not None
        try:
            if client.is_connected():
                info = client.publish(self.topics.status, "offline", qos=1, retain=True)
                if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                    # The PUBACK of "offline" follows those of everything sent before it.
                    info.wait_for_publish(timeout)
                self._collect_acks()
            client.disconnect()
        finally:
            client.loop_stop()
            self._left_at_stop = len(outbox)
            outbox.close()
            # Break the client <-> bound-method cycle so paho closes its sockets now.
            client.on_connect = client.on_connect_fail = client.on_disconnect = None
            client.on_publish = client.on_message = None
        log.info("MQTT publisher stopped; %d messages wait in the outbox for the next start",
                 self._left_at_stop)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- the API for the agent ----------------------------------------------------------------

    def publish_alert(self, alert: Mapping[str, Any]) -> str:
        """Queue an alert (QoS 1, via the outbox); returns its `id` (given, or made here).

        Committed to the outbox when this returns. Adds `time` (ISO 8601 UTC, now) unless
        the alert has one (the agent's carry the moment they were decided).
        Raises ValueError for a payload that is not an alert or not valid JSON (NaN).
        """
        if alert.get("event") != "alert":
            raise ValueError(f'an alert has "event": "alert", got {_show(alert.get("event"))}')
        payload = self._stamped(alert)
        self._put(self.topics.alert, payload, id=payload["id"])
        # The same, retained, for whoever comes later (Home Assistant's "Last alert").
        self._put(self.topics.last_alert, payload, id=f"{payload['id']} last_alert",
                  retain=True)
        return str(payload["id"])

    def publish_event(self, event: Mapping[str, Any]) -> str:
        """Queue an event such as {"t": ..., "event": "break", "phase": "start"} (QoS 1)."""
        kind = event.get("event")
        if not isinstance(kind, str) or not kind or kind == "alert":
            raise ValueError(f'an event has "event": a name other than "alert", got {_show(kind)}')
        return self._enqueue(self.topics.event, event)

    def publish_minute(self, minute: Mapping[str, Any]) -> str:
        """Queue a minute summary (edge/minutes.py) for the fleet collector (QoS 1)."""
        if not isinstance(minute.get("minute"), str):
            raise TypeError(f'a minute has "minute": an ISO time, got {_show(minute.get("minute"))}')
        return self._enqueue(self.topics.minute, minute)

    def publish_state(self, state: Mapping[str, Any]) -> None:
        """Offer the newest state; it is published (retained, QoS 0) at most once per
        `state_interval_s`, and a state not yet published when a newer one comes is dropped.
        """
        self._require_running()
        payload = dict(state)
        payload["time"] = iso_utc(self._clock())
        data = _json(payload)
        if self._state.put(data):
            dropped = self._count("states_dropped")
            if dropped == 1 or dropped % self._state_drop_log_every == 0:
                log.info("state: %d older states dropped so far (the newest is kept and"
                         " published at most every %g s)", dropped, self.mqtt.state_interval_s)
        self._wake.set()

    def publish_pause(self, paused: bool, until: datetime | None) -> None:
        """Queue whether nudges are paused, retained on `pause` (schemas/pause.json; QoS 1,
        through the outbox, so the newest survives an outage): `until` is when the pause
        ends, None while not paused or when paused until resumed. The live loop calls it at
        start and on every change. Raises ValueError for a resume with an end, or a naive
        `until`."""
        if not isinstance(paused, bool):
            raise TypeError(f"paused: expected True or False, got {_show(paused)}")
        if until is not None and not paused:
            raise ValueError("until: a resume has no end (None when paused is False)")
        if until is not None and until.tzinfo is None:
            raise ValueError("until: expected a timezone-aware datetime")
        payload = {"paused": paused, "until": None if until is None else iso_utc(until),
                   "time": iso_utc(self._clock())}
        self._put(self.topics.pause, payload, id=f"pause-{uuid.uuid4().hex}", retain=True)

    def commands(self) -> list[Command]:
        """The ack, snooze and pause commands received since the last call, oldest first.

        Invalid ones (and retained ones: stale) are counted and dropped, with the reason
        logged at most once a minute per topic. No payload gets past here as an exception.
        """
        commands: list[Command] = []
        for received in self._received.drain():
            try:
                if received.retain:
                    raise InvalidCommand("a retained message (a stale command, not a new one)")
                commands.append(self._commands.parse(received.kind, received.payload,
                                                     received_at=received.received_at))
            except Exception as error:  # noqa: BLE001 - anyone on the broker can send anything
                self._count("commands_invalid")
                self._refused.refuse(received.topic, reason_of(error, InvalidCommand))
        return commands

    def wait_until_sent(self, timeout: float) -> bool:
        """Block until the outbox is empty (True) or `timeout` seconds pass (False)."""
        outbox = self._require_running()
        deadline = time.monotonic() + timeout
        while len(outbox):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def stats(self) -> PublisherStats:
        with self._counts_lock:
            counts = dict(self._counts)
        running = self._outbox is not None and not self._stopping.is_set()
        return PublisherStats(
            connected=running and self._client is not None and self._client.is_connected(),
            connections=counts.get("connections", 0),
            outbox_pending=len(self._outbox) if running and self._outbox else self._left_at_stop,
            in_flight=len(self._in_flight),
            enqueued=counts.get("enqueued", 0),
            acknowledged=counts.get("acknowledged", 0),
            states_published=counts.get("states_published", 0),
            states_dropped=counts.get("states_dropped", 0),
            commands_received=counts.get("commands_received", 0),
            commands_invalid=counts.get("commands_invalid", 0),
            commands_dropped=counts.get("commands_dropped", 0),
            notices_dropped=counts.get("notices_dropped", 0),
        )

    # --- callers' threads ---------------------------------------------------------------------

    def _require_running(self) -> Outbox:
        if self._outbox is None or self._stopping.is_set():
            raise RuntimeError("the MQTT publisher is not running: call start() first")
        return self._outbox

    def _enqueue(self, topic: str, message: Mapping[str, Any]) -> str:
        payload = self._stamped(message)
        return self._put(topic, payload, id=payload["id"])

    def _stamped(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """`message` with its `id` (given, or made here) and `time` (given, or now)."""
        self._require_running()
        payload = dict(message)
        message_id = payload.get("id")
        if message_id is None:
            payload["id"] = uuid.uuid4().hex
        elif not is_message_id(message_id):
            raise ValueError(f"id: expected a string of 1..{MAX_ID_CHARS} characters,"
                             f" got {_show(message_id)}")
        payload.setdefault("time", iso_utc(self._clock()))
        return payload

    def _put(self, topic: str, payload: Mapping[str, Any], *, id: str,
             retain: bool = False) -> str:
        """Into the outbox (committed on return) under the outbox key `id`; wakes the worker."""
        outbox = self._require_running()
        text = _json(payload).decode("utf-8")
        stored = outbox.put(id=id, topic=topic, payload=text, enqueued_at=payload["time"],
                            retain=retain)
        self._count("enqueued")
        self._wake.set()
        return stored.id

    def _retire_old_discovery(self, outbox: Outbox) -> None:
        """Remove the discovery config announced before under another topic (the desk, its
        site or [mqtt] topic_prefix or ha_prefix renamed), or at all with [mqtt]
        ha_discovery = false: an empty retained payload there, through the outbox (so it is
        sent once connected, even after a crash), then the topic announced from now on is
        remembered."""
        announced = self._announced.read()
        current = self.topics.ha_config if self.mqtt.ha_discovery else None
        if current is not None and outbox.withdraw(_removal_id(current)):
            # Renamed back (A -> B -> A) before the removal of A was sent: A's config is
            # announced at connect, and must not be removed after it.
            log.info("Home Assistant discovery: the removal of %s is withdrawn", current)
        if announced == current:
            return
        if announced is not None:
            outbox.put(id=_removal_id(announced), topic=announced, payload="",
                       enqueued_at=iso_utc(self._clock()), retain=True)
            self._count("enqueued")
            log.info("Home Assistant discovery: the config on %s is removed (%s)", announced,
                     "now announced on " + current if current else "[mqtt] ha_discovery is off")
        try:
            self._announced.write(current)
        except OSError as error:  # the outbox's directory is writable: a full disk, say
            log.warning("cannot write %s (%s): a later rename of the desk will not remove"
                        " its discovery config", self._announced.path, error)

    def _count(self, name: str, n: int = 1) -> int:
        with self._counts_lock:
            self._counts[name] += n
            return self._counts[name]

    # --- paho's thread: callbacks only enqueue, timestamped, and wake the worker --------------

    def _notice(self, notice: _Notice) -> None:
        if self._notices.put(notice):
            dropped = self._count("notices_dropped")
            log.warning("MQTT notice queue full (%d): dropped the oldest notice (%d so far)",
                        self.mqtt.queue_size, dropped)
        self._wake.set()

    def _on_connect(self, client: paho.Client, userdata: object, flags: paho.ConnectFlags,
                    reason: ReasonCode, properties: Properties | None) -> None:
        self._notice(_Connected(ok=not reason.is_failure, reason=_reason_text(reason),
                                session_present=flags.session_present, at=time.time()))

    def _on_connect_fail(self, client: paho.Client, userdata: object) -> None:
        # paho calls this inside its `except OSError` around the connection attempt, and
        # passes no error: the exception being handled is the reason (refused, TLS, DNS).
        error = sys.exc_info()[1]
        text = (str(error) or type(error).__name__) if error is not None else "unknown error"
        self._notice(_ConnectFailed(error=text, at=time.time()))

    def _on_disconnect(self, client: paho.Client, userdata: object,
                       flags: paho.DisconnectFlags, reason: ReasonCode,
                       properties: Properties | None) -> None:
        self._notice(_Disconnected(reason=_reason_text(reason), at=time.time()))

    def _on_publish(self, client: paho.Client, userdata: object, mid: int,
                    reason: ReasonCode, properties: Properties | None) -> None:
        # Acknowledged messages need no notice: the worker asks each in-flight message.
        if reason.is_failure:
            self._notice(_Rejected(mid=mid, reason=_reason_text(reason), at=time.time()))
        self._wake.set()

    def _on_message(self, client: paho.Client, userdata: object,
                    message: paho.MQTTMessage) -> None:
        topic = message.topic
        if topic == self.topics.ha_status:
            # A retained birth is an old one; we publish the discovery on connect anyway.
            if message.payload == b"online" and not message.retain:
                self._notice(_HaOnline(at=time.time()))
            return
        kind = self._command_topics.get(topic)
        if kind is None:
            return
        self._count("commands_received")
        received = _Received(kind=kind, topic=topic, payload=bytes(message.payload),
                             retain=bool(message.retain), received_at=_utc_now())
        if self._received.put(received):
            dropped = self._count("commands_dropped")
            log.warning("command queue full (%d): dropped the oldest command (%d so far);"
                        " is the agent calling commands()?", self.mqtt.queue_size, dropped)

    # --- the worker thread --------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._next_timeout())
            self._wake.clear()
            if self._stopping.is_set():
                break
            try:
                self._step()
            except Exception:  # keep publishing: a bad moment must not end the sink
                log.exception("MQTT publisher: unexpected error; continuing in 1 s")
                self._stopping.wait(1.0)

    def _next_timeout(self) -> float:
        if self._session_ready and len(self._state):
            due = self._last_state_at + self.mqtt.state_interval_s - time.monotonic()
            return min(TICK_S, max(0.0, due))
        return TICK_S

    def _step(self) -> None:
        for notice in self._notices.drain():
            self._handle(notice)
        client = self._client
        assert client is not None
        if not client.is_connected():
            self._session_ready = self._session_due = False
            self._unannounced_since = None
        elif self._session_due:
            self._begin_session(client)
        elif not self._session_ready:
            # Connected, but its notice not seen: it is on its way (paho marks the connection
            # up just before it calls on_connect), or it fell out of a full notice queue.
            # Wait a moment for it, then set the session up anyway.
            now = time.monotonic()
            if self._unannounced_since is None:
                self._unannounced_since = now
            elif now - self._unannounced_since > TICK_S:
                self._begin_session(client)
        self._collect_acks()
        if self._session_ready:
            self._fill_window(client)
            self._publish_state_if_due(client)

    def _handle(self, notice: _Notice) -> None:
        if isinstance(notice, _Connected):
            if notice.ok:
                self._failures = 0
                self._session_due = True  # even if we missed the disconnection in between
                self._was_connected = True
                self._count("connections")
                log.info("connected to MQTT broker %s as %s (MQTT %s%s, session %s)",
                         self.broker, self.client_id, self.mqtt.protocol,
                         ", TLS" if self.mqtt.tls else "",
                         "resumed" if notice.session_present else "new")
            else:
                self._failures += 1
                hint = (" Check [mqtt] username and password." if "user name or password"
                        in notice.reason.lower() or "not authorized" in notice.reason.lower()
                        else "")
                log.error("MQTT broker %s refused the connection: %s.%s Attempt %d; retrying"
                          " in about %g s.", self.broker, notice.reason, hint, self._failures,
                          self._retry_delay())
        elif isinstance(notice, _ConnectFailed):
            self._failures += 1
            log.error("cannot connect to MQTT broker %s: %s. Attempt %d; retrying in about"
                      " %g s.", self.broker, notice.error, self._failures, self._retry_delay())
        elif isinstance(notice, _Disconnected):
            self._session_ready = self._session_due = False
            if self._was_connected:
                self._was_connected = False
                log.warning("lost the connection to MQTT broker %s: %s; reconnecting (QoS 1"
                            " messages wait in the outbox)", self.broker, notice.reason)
        elif isinstance(notice, _HaOnline):
            if self._session_ready and self.mqtt.ha_discovery:
                log.info("Home Assistant is online: discovery config sent again")
                self._publish_discovery()
        elif isinstance(notice, _Rejected):
            ids = [f.message.id for f in self._in_flight if f.info.mid == notice.mid]
            log.error("MQTT broker %s rejected message %s: %s; it leaves the outbox",
                      self.broker, ids[0] if ids else f"mid {notice.mid}", notice.reason)

    def _retry_delay(self) -> float:
        # paho's reconnect_delay_set(): the first wait is the minimum, doubled per failure.
        exponent = min(self._failures - 1, 30)
        return float(min(self.mqtt.reconnect_initial_s * 2**exponent, self.mqtt.reconnect_max_s))

    def _begin_session(self, client: paho.Client) -> None:
        subscriptions = [(topic, 1) for topic in self._command_topics]
        if self.mqtt.ha_discovery:
            subscriptions.append((self.topics.ha_status, 1))
        client.subscribe(subscriptions)
        # QoS 0: these are re-sent on every connection, so paho need not keep copies.
        # The entities first, then their availability.
        if self.mqtt.ha_discovery:
            self._publish_discovery()
        client.publish(self.topics.status, "online", qos=0, retain=True)
        self._session_ready = True
        self._session_due = False
        self._unannounced_since = None

    def _publish_discovery(self) -> None:
        assert self._client is not None
        config = ha_discovery_config(self.topics, self.desk,
                                     state_interval_s=self.mqtt.state_interval_s,
                                     snooze_minutes=self._commands.snooze_minutes,
                                     configuration_url=self._configuration_url)
        self._client.publish(self.topics.ha_config, _json(config), qos=0, retain=True)

    def _collect_acks(self) -> None:
        if not self._in_flight:
            return
        done = [f for f in self._in_flight if f.info.is_published()]
        if not done:
            return
        assert self._outbox is not None
        self._outbox.mark_sent(f.message.seq for f in done)
        finished = {id(f) for f in done}
        self._in_flight = collections.deque(f for f in self._in_flight
                                            if id(f) not in finished)
        self._count("acknowledged", len(done))

    def _fill_window(self, client: paho.Client) -> None:
        room = INFLIGHT_WINDOW - len(self._in_flight)
        if room <= 0:
            return
        assert self._outbox is not None
        for message in self._outbox.pending(after_seq=self._last_handed_seq, limit=room):
            info = client.publish(message.topic, message.payload, qos=message.qos,
                                  retain=message.retain)
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                # Connection lost just now. paho keeps a copy and sends it on reconnect; we
                # hand the message over again then too: a duplicate by id, never a loss.
                break
            self._in_flight.append(_InFlight(message, info))
            self._last_handed_seq = message.seq

    def _publish_state_if_due(self, client: paho.Client) -> None:
        now = time.monotonic()
        if now < self._last_state_at + self.mqtt.state_interval_s:
            return
        data = self._state.take()
        if data is None:
            return
        info = client.publish(self.topics.state, data, qos=0, retain=True)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._state.put_back(data)  # unless a newer state came meanwhile
            return
        self._last_state_at = now
        self._count("states_published")

    # --- paho set-up --------------------------------------------------------------------------

    def _connect_options(self) -> dict[str, Any]:
        return session_options(self.mqtt, expiry_s=SESSION_EXPIRY_S)

    def _make_client(self) -> paho.Client:
        # A persistent session: commands (QoS 1) sent while we are away are kept.
        client = make_client(self.mqtt, self.client_id)
        client.max_inflight_messages_set(INFLIGHT_WINDOW)
        client.will_set(self.topics.status, "offline", qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client


# --- the discovery topic announced, kept beside the outbox -----------------------------------


def announced_path(outbox_path: str | os.PathLike[str]) -> Path:
    """Where the publisher keeps the discovery topic it announced: `<outbox_path>.ha-discovery`.

    A file of its own beside the outbox rather than a table in it: the outbox's SQLite file
    is edge/outbox.py's, one table with its own schema, while this is one line only the
    publisher reads. Beside it, it lives (and is moved, or deleted) with the outbox: the
    other state that must survive a restart of this desk's publisher."""
    path = Path(outbox_path)
    return path.with_name(path.name + ".ha-discovery")


class _AnnouncedTopic:
    """The config topic last announced (one line of text), or no file when none is."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> str | None:
        try:
            text = self.path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as error:
            log.warning("cannot read %s (%s): an earlier discovery config, if any, stays",
                        self.path, error)
            return None
        return text or None

    def write(self, topic: str | None) -> None:
        """Replace the file atomically (written, synced, renamed): a crash leaves the old one
        or the new one, never half of either."""
        if topic is None:
            self.path.unlink(missing_ok=True)
            return
        replace_text(self.path, topic + "\n")


# --- the connection, shared with the fleet collector (edge/collect.py) ------------------------


def make_client(mqtt: MqttConfig, client_id: str, *, persistent: bool = True) -> paho.Client:
    """A paho client for the broker in [mqtt], as every legwake client connects: MQTT 5 or
    3.1.1 with a persistent session (clean_session=False on 3.1.1; on 5 see
    `session_options`) unless `persistent` is false, TLS and credentials when configured,
    and paho's capped exponential reconnect backoff. Raises PublisherError for a TLS file
    that cannot be used."""
    v5 = mqtt.protocol == "5"
    tls_context = _tls_context(mqtt) if mqtt.tls else None
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
        clean_session=None if v5 else not persistent,
    )
    client.reconnect_delay_set(mqtt.reconnect_initial_s, mqtt.reconnect_max_s)  # type: ignore[arg-type]
    if mqtt.username:
        client.username_pw_set(mqtt.username, mqtt.password or None)
    if tls_context is not None:
        client.tls_set_context(tls_context)
    return client


def session_options(mqtt: MqttConfig, *, expiry_s: int,
                    receive_maximum: int | None = None) -> dict[str, Any]:
    """The keywords of `connect_async` that keep the session on MQTT 5: clean_start=False
    and a session expiry; `receive_maximum` lets the broker send that many QoS 1 messages
    before the first acknowledgement (Mosquitto's own limit is 20 otherwise). MQTT 3.1.1
    has no such options: its session is kept without a limit, its window set by the broker."""
    if mqtt.protocol != "5":
        return {}
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = expiry_s
    if receive_maximum is not None:
        properties.ReceiveMaximum = receive_maximum
    return {"clean_start": False, "properties": properties}


def _tls_context(mqtt: MqttConfig) -> ssl.SSLContext:
    """Verify the broker (its certificate and host name); present ours if configured."""
    for key in ("ca_file", "cert_file", "key_file"):
        name = getattr(mqtt, key)
        if name and not Path(name).is_file():
            raise PublisherError(f"[mqtt] {key}: no such file: {name}")
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=mqtt.ca_file or None)
    except (OSError, ssl.SSLError) as error:
        raise PublisherError(f"[mqtt] ca_file: cannot load {mqtt.ca_file}: {error}") from None
    context.sslsocket_class = _ClosingSSLSocket
    if mqtt.cert_file:
        try:
            # A password-protected key would make OpenSSL prompt on the terminal: refuse.
            context.load_cert_chain(mqtt.cert_file, mqtt.key_file or None,
                                    password=_no_key_password)
        except (OSError, ssl.SSLError, _EncryptedKey) as error:
            raise PublisherError(f"[mqtt] cert_file/key_file: cannot load {mqtt.cert_file},"
                                 f" {mqtt.key_file}: {error}") from None
    return context


class _ClosingSSLSocket(ssl.SSLSocket):
    """Closes itself when the handshake fails: paho 2.2 (`Client._ssl_wrap_socket`) leaves
    the socket of a refused handshake open, one leaked descriptor per retry."""

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise


class _EncryptedKey(Exception):
    pass


def _no_key_password() -> bytes:
    raise _EncryptedKey("the key is encrypted; give an unencrypted key file")


def _json(payload: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON; NaN and infinity are errors (use null), as in the schemas."""
    try:
        return json.dumps(payload, allow_nan=False, ensure_ascii=False,
                          separators=(",", ":")).encode("utf-8")
    except ValueError as error:
        raise ValueError(f"not valid JSON: {error} (use null, not NaN or infinity)") from None
