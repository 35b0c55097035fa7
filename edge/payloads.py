"""MQTT payloads from others: JSON objects read safely, and the commands as the schemas say.

Owns two things every process that reads the broker shares:

- `json_object`: bytes -> a JSON object, or the caller's error saying why not. Anyone on
  the broker can send anything: bytes that are not UTF-8, NaN, or `[[[[...` nested
  thousands deep (which makes Python's json raise RecursionError, not ValueError). All
  of it becomes the caller's own error with a reason, never another exception.
- `Commands`: the one definition of `cmd/ack`, `cmd/snooze`, `cmd/pause` and `cmd/feedback`,
  `schemas/cmd-*.json`
  compiled by fastjsonschema and checked at run time by the agent (what it applies) and
  the dashboard (what it shows and what it sends) alike. The longest snooze is
  [policy] snooze_max_min, which replaces the schema's maximum.

Must not touch: the network, or what a valid command does (the policy).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any, Literal

import fastjsonschema

__all__ = [
    "COMMAND_KINDS",
    "MAX_COMMAND_BYTES",
    "MAX_ID_CHARS",
    "MAX_MESSAGE_BYTES",
    "MAX_NESTING",
    "AckCommand",
    "Command",
    "CommandKind",
    "Commands",
    "FeedbackCommand",
    "InvalidCommand",
    "InvalidPayload",
    "PauseCommand",
    "PayloadSchema",
    "SnoozeCommand",
    "command_schema",
    "is_message_id",
    "json_object",
    "nesting",
    "schema",
    "show",
]

MAX_COMMAND_BYTES = 4096
# The largest message kept from the broker: a state is about 1.5 kB, a minute about 3 kB.
MAX_MESSAGE_BYTES = 64 * 1024
MAX_ID_CHARS = 128
# Our payloads nest 4 deep at most (a state's seat map). Deeper is refused before parsing,
# so nothing nested deeply enough to overflow Python's recursion (json.dumps of a view that
# holds it, a schema check) is ever kept.
MAX_NESTING = 32
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(r"[\[\]{}]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def json_object(payload: bytes, invalid: type[ValueError], *, constants: bool = True,
                max_bytes: int = MAX_MESSAGE_BYTES) -> dict[str, Any]:
    """A payload that must be a JSON object of at most `max_bytes`, or `invalid` saying why
    not. `constants`: whether NaN and Infinity pass (JSON has no such numbers)."""
    if len(payload) > max_bytes:
        raise invalid(f"payload of {len(payload)} bytes, more than {max_bytes}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as error:
        raise invalid(f"not UTF-8 text (byte {error.start})") from None
    if nesting(text) > MAX_NESTING:
        raise invalid(f"nested more than {MAX_NESTING} deep")
    try:
        data = json.loads(text) if constants else json.loads(
            text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise invalid(f"not JSON: {error.msg} (line {error.lineno},"
                      f" column {error.colno})") from None
    except RecursionError:
        raise invalid("not JSON this reader takes: nested too deeply") from None
    except ValueError as error:
        raise invalid(f"not JSON: {error}") from None
    if not isinstance(data, dict):
        raise invalid(f"expected a JSON object, got {show(data)}")
    if _SURROGATE_ESCAPE.search(text) and not _encodable(data):
        # "\ud800" alone is valid JSON but no text: it cannot be written out as UTF-8 again.
        raise invalid("not text: a string holds a lone surrogate (\\ud800-\\udfff)")
    return data


def _encodable(data: object) -> bool:
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def nesting(text: str) -> int:
    """How deep the arrays and objects in JSON `text` nest (brackets inside strings do not
    count); it stops counting past MAX_NESTING. Cheap for our payloads: only a text with
    more opening brackets than MAX_NESTING is scanned."""
    if text.count("[") + text.count("{") <= MAX_NESTING:
        return 0
    depth = deepest = 0
    for bracket in _BRACKET.findall(_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        if depth > deepest:
            deepest = depth
            if deepest > MAX_NESTING:
                break
    return deepest


def is_message_id(value: object) -> bool:
    """What an `id` must be: a string of 1..MAX_ID_CHARS characters."""
    return isinstance(value, str) and 1 <= len(value) <= MAX_ID_CHARS


def show(value: object) -> str:
    """A value for a message to a person: short, and never a whole hostile payload."""
    text = json.dumps(value) if isinstance(value, str | int | float | bool | None) else \
        type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


# --- commands ---------------------------------------------------------------------------------


class InvalidPayload(ValueError):
    """A payload that is not what its schema allows; the message says why."""


class InvalidCommand(ValueError):
    """A command payload that is not what schemas/cmd-*.json allows; the message says why."""


@dataclass(frozen=True, slots=True)
class AckCommand:
    """Someone acknowledged the alert `alert_id` (cmd/ack: {"id": "<alert id>"}), or, with
    None (cmd/ack: {}), the newest alert still open."""

    alert_id: str | None
    received_at: datetime


@dataclass(frozen=True, slots=True)
class SnoozeCommand:
    """Alerts snoozed for `minutes` (cmd/snooze: {"minutes": 1..snooze_max_min, "id": optional})."""

    minutes: int
    alert_id: str | None
    received_at: datetime


@dataclass(frozen=True, slots=True)
class PauseCommand:
    """Nudges paused (`paused`) for `minutes` (None: until resumed), or resumed
    (cmd/pause: {"paused": true|false, "minutes": optional}; {"minutes": N} pauses)."""

    paused: bool
    minutes: int | None
    received_at: datetime


@dataclass(frozen=True, slots=True)
class FeedbackCommand:
    """What the person felt (cmd/feedback): their `leg` fell asleep (`numb`), or the alert
    `alert_id` (None: the newest numbness alert) was a false alarm (not `numb`)."""

    numb: bool
    leg: str | None
    alert_id: str | None
    received_at: datetime


Command = AckCommand | SnoozeCommand | PauseCommand | FeedbackCommand
CommandKind = Literal["ack", "snooze", "pause", "feedback"]
COMMAND_KINDS: tuple[CommandKind, ...] = ("ack", "snooze", "pause", "feedback")


def schema(name: str) -> dict[str, Any]:
    """schemas/<name>.json, as installed with legwake."""
    return json.loads((resources.files("schemas") / f"{name}.json").read_text(encoding="utf-8"))


def command_schema(kind: CommandKind) -> dict[str, Any]:
    return schema(f"cmd-{kind}")


class PayloadSchema:
    """One payload's schema (schemas/<name>.json), compiled once: `check(body)` returns it,
    or raises InvalidPayload with the schema's reason."""

    def __init__(self, name: str, definition: dict[str, Any] | None = None) -> None:
        self.name = name
        self._validate = fastjsonschema.compile(definition or schema(name))

    def check(self, body: object) -> Any:
        try:
            return self._validate(body)
        except fastjsonschema.JsonSchemaValueException as error:
            raise InvalidPayload(f"not a valid {self.name}: {_reason(error)}") from None
        except RecursionError:
            raise InvalidPayload(f"not a valid {self.name}: nested too deeply") from None


class Commands:
    """The cmd/ack, cmd/snooze, cmd/pause and cmd/feedback payloads: checked against their
    schemas, with
    the longest snooze `snooze_max_min` (None: the schema's own maximum)."""

    def __init__(self, snooze_max_min: float | None = None) -> None:
        schemas = {kind: command_schema(kind) for kind in COMMAND_KINDS}
        minutes = schemas["snooze"]["properties"]["minutes"]
        if snooze_max_min is not None:
            minutes["maximum"] = int(snooze_max_min)
        self.snooze_minutes: tuple[int, int] = (minutes["minimum"], minutes["maximum"])
        pause = schemas["pause"]["properties"]["minutes"]
        self.pause_minutes: tuple[int, int] = (pause["minimum"], pause["maximum"])
        self._validators = {kind: fastjsonschema.compile(schema)
                            for kind, schema in schemas.items()}
        # The keys and types alone first, so that their reasons come before "not one of".
        self._shapes = {kind: fastjsonschema.compile(
            {key: value for key, value in schema.items() if key != "oneOf"})
            for kind, schema in schemas.items() if "oneOf" in schema}

    def check(self, kind: str, body: object) -> dict[str, Any]:
        """`body` if it is a valid `kind` command, else InvalidCommand with the schema's reason.
        A whole-number float of minutes is an integer to JSON Schema: it comes back an int."""
        validate = self._validators.get(kind)
        if validate is None:
            raise InvalidCommand(f"unknown command {show(kind)}: expected"
                                 f" {', '.join(COMMAND_KINDS)}")
        try:
            self._shapes.get(kind, validate)(body)
            validate(body)
        except fastjsonschema.JsonSchemaValueException as error:
            if kind == "feedback" and error.rule == "oneOf" and isinstance(body, dict):
                raise InvalidCommand(_feedback_reason(body)) from None
            raise InvalidCommand(_reason(error, self.pause_minutes if kind == "pause"
                                         else self.snooze_minutes)) from None
        except RecursionError:
            raise InvalidCommand("nested too deeply") from None
        assert isinstance(body, dict)
        if isinstance(body.get("minutes"), float):
            body = {**body, "minutes": int(body["minutes"])}
        return body

    def parse(self, kind: CommandKind, payload: bytes, *, received_at: datetime) -> Command:
        """One cmd/ack, cmd/snooze, cmd/pause or cmd/feedback payload -> its Command, or
        InvalidCommand saying why."""
        body = self.check(kind, json_object(payload, InvalidCommand, constants=False,
                                            max_bytes=MAX_COMMAND_BYTES))
        if kind == "ack":
            return AckCommand(alert_id=body.get("id"), received_at=received_at)
        if kind == "feedback":
            return FeedbackCommand(numb=body["numb"], leg=body.get("leg"),
                                   alert_id=body.get("alert"), received_at=received_at)
        if kind == "pause":
            return PauseCommand(paused=body.get("paused", True), minutes=body.get("minutes"),
                                received_at=received_at)
        return SnoozeCommand(minutes=body["minutes"], alert_id=body.get("id"),
                             received_at=received_at)


def _feedback_reason(body: dict[str, Any]) -> str:
    """Why a feedback that has the right keys and types is not one of the two messages."""
    if body["numb"]:
        if "alert" in body:
            return ('alert: not with "numb": true (a leg that fell asleep names its "leg";'
                    ' a false alarm is "numb": false)')
        return 'missing "leg": which leg fell asleep, "left" or "right"'
    return ('leg: not with "numb": false (a false alarm names its "alert"; the leg is'
            " the alert's)")


def _reason(error: fastjsonschema.JsonSchemaValueException,
            minutes: tuple[int, int] | None = None) -> str:
    """The schema's reason, said of the key ("minutes: must be ...") rather than of "data",
    and in words for a missing or an unknown key, an empty command, and minutes given
    to a resume."""
    where = ".".join(str(part) for part in (error.path or [])[1:])
    value = error.value
    if error.rule == "minProperties" and isinstance(value, dict):
        keys = error.definition.get("properties", {})
        return f"empty; expected {' or '.join(json.dumps(key) for key in keys)}"
    if error.rule == "not" and isinstance(value, dict) and "minutes" in value:
        return 'minutes: not with "paused": false (a resume lasts until the next pause)'

    if error.rule == "required" and isinstance(value, dict):
        missing = [key for key in error.rule_definition if key not in value]
        return f"missing {', '.join(json.dumps(key) for key in missing)}"
    if error.rule == "additionalProperties" and isinstance(value, dict):
        allowed = error.definition.get("properties", {})
        unknown = [key for key in value if key not in allowed]
        return f"unknown key {show(unknown[0])}; expected {', '.join(allowed)}"
    text = error.message
    for prefix in (f"data.{where} ", "data "):
        if text.startswith(prefix):
            text = text[len(prefix):]
            break
    if where == "minutes" and minutes is not None:
        text += f" (an integer {minutes[0]}..{minutes[1]})"
    return f"{where}: {text}" if where else text
