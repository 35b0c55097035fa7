"""Payloads from anyone on the broker: the command parser and the collector's message parser
fuzzed with random bytes and random, deeply nested JSON (only their own errors, never
another exception); the commands' one definition (schemas/cmd-*.json) agreeing with the
configuration; refusals counted and logged once a minute per topic."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from edge.collect import BadMessage, parse_message
from edge.config import PolicyConfig
from edge.payloads import (
    MAX_ID_CHARS,
    MAX_NESTING,
    AckCommand,
    Commands,
    InvalidCommand,
    PauseCommand,
    SnoozeCommand,
    command_schema,
    json_object,
    nesting,
)
from edge.refusals import TOPICS_KEPT, Refusals

AT = datetime(2026, 12, 1, tzinfo=UTC)
COMMANDS = Commands(PolicyConfig().snooze_max_min)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["id", "minutes", "kind", "t", "x"]) | st.text(max_size=5),
                      children, max_size=4),
    max_leaves=30)


def deeply_nested(depth: int, inner: str = "1") -> bytes:
    return ("[" * depth + inner + "]" * depth).encode()


hostile_payloads = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.integers(1, 5000).map(deeply_nested),
    st.integers(1, 5000).map(lambda depth: b'{"id": ' + deeply_nested(depth) + b"}"),
    st.integers(1, 5000).map(lambda depth: b'{"id": "a", "minutes": ' + b"{\"a\":" * depth
                             + b"1" + b"}" * depth + b"}"),
)


# --- the commands ----------------------------------------------------------------------------


@given(kind=st.sampled_from(["ack", "snooze", "pause"]), payload=hostile_payloads)
@example(kind="ack", payload=b"[" * 3000)
@example(kind="snooze", payload=b'{"minutes": 1e400}')
@example(kind="snooze", payload=b'{"minutes": -0.0}')
@example(kind="pause", payload=b'{"paused": false, "minutes": 5}')
@example(kind="pause", payload=b'{"minutes": 1440.0}')
def test_a_command_is_a_command_or_invalid_never_anything_else(kind: str, payload: bytes):
    try:
        command = COMMANDS.parse(kind, payload, received_at=AT)  # type: ignore[arg-type]
    except InvalidCommand as reason:
        assert str(reason) and len(str(reason)) < 400
        return
    if isinstance(command, AckCommand):
        assert command.alert_id is None or (isinstance(command.alert_id, str)
                                            and 1 <= len(command.alert_id) <= MAX_ID_CHARS)
    elif isinstance(command, PauseCommand):
        assert type(command.paused) is bool
        assert command.minutes is None or (type(command.minutes) is int
                                           and 1 <= command.minutes <= 1440)
        assert not (command.minutes and not command.paused)
    else:
        assert isinstance(command, SnoozeCommand)
        assert type(command.minutes) is int and 1 <= command.minutes <= 120


@given(payload=hostile_payloads, invalid=st.sampled_from([ValueError, BadMessage]))
def test_json_object_raises_only_the_callers_error(payload: bytes, invalid: type[ValueError]):
    try:
        assert isinstance(json_object(payload, invalid), dict)
    except invalid:
        pass


@given(topic=st.one_of(st.text(max_size=60),
                       st.sampled_from(["p/hq/desk-1/alert", "p/hq/desk-1/event",
                                        "p/hq/desk-1/minute", "p/hq//alert", "p/+/#/alert"])),
       payload=hostile_payloads)
def test_the_collectors_parser_says_bad_message_or_gives_a_message(topic: str, payload: bytes):
    try:
        message = parse_message(topic, payload, topic_prefix="p")
    except BadMessage:
        return
    assert message.kind in ("alert", "event", "minute") and message.id


@pytest.mark.parametrize("depth", [MAX_NESTING, MAX_NESTING + 1, 900, 3000, 100_000])
def test_nesting_past_the_limit_is_refused_before_json_parses_it(depth: int):
    payload = b'{"id": "a", "x": ' + deeply_nested(depth - 1) + b"}"
    if depth <= MAX_NESTING:
        assert json_object(payload, ValueError, max_bytes=1 << 20)["id"] == "a"
    else:
        with pytest.raises(ValueError, match=f"nested more than {MAX_NESTING} deep"):
            json_object(payload, ValueError, max_bytes=1 << 20)


def test_brackets_inside_strings_are_not_nesting():
    text = json.dumps({"id": "[" * 100, "note": 'a \\" {{{{{{{{ "' * 20, "rows": [[0] * 3] * 40})
    assert nesting(text) == 3
    assert json_object(text.encode(), ValueError)["id"] == "[" * 100


def test_the_schemas_are_the_one_definition_and_agree_with_the_configuration():
    snooze, ack = command_schema("snooze"), command_schema("ack")
    # The schema's maximum is the default [policy] snooze_max_min; a configured one replaces it.
    assert snooze["properties"]["minutes"]["maximum"] == PolicyConfig().snooze_max_min
    assert ack["properties"]["id"]["maxLength"] == MAX_ID_CHARS
    assert snooze["properties"]["id"] == ack["properties"]["id"] | {
        "description": snooze["properties"]["id"]["description"]}
    short = Commands(snooze_max_min=30)
    assert short.snooze_minutes == (1, 30)
    assert short.parse("snooze", b'{"minutes": 30}', received_at=AT).minutes == 30
    with pytest.raises(InvalidCommand, match=r"minutes: must be smaller than or equal to 30"):
        short.parse("snooze", b'{"minutes": 31}', received_at=AT)
    long = Commands(snooze_max_min=600)
    assert long.parse("snooze", b'{"minutes": 600.0}', received_at=AT).minutes == 600


# --- refusals ---------------------------------------------------------------------------------


def test_refusals_are_each_counted_and_logged_once_a_minute_per_topic(caplog):
    now = [0.0]
    refusals = Refusals(logging.getLogger("test.refusals"), "message", clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="test.refusals"):
        for second in range(130):
            now[0] = float(second)
            refusals.refuse("a/state", "not JSON")
            refusals.refuse("b/state", "not JSON")
    lines = [r.getMessage() for r in caplog.records]
    assert refusals.total == 260
    assert len(lines) == 6  # at 0, 60 and 120 s on each topic
    assert lines[2] == ("refused a message on a/state: not JSON (and 59 more here since the last"
                        " line); 121 refused in all")


def test_a_flood_of_topics_keeps_bounded_memory():
    refusals = Refusals(logging.getLogger("test.refusals.flood"), "message")
    for n in range(TOPICS_KEPT * 3):
        refusals.refuse(f"legwake/x/desk-{n}/state", "not JSON")
    assert refusals.total == TOPICS_KEPT * 3
    assert len(refusals._topics) == TOPICS_KEPT


def test_the_dashboard_reads_a_snooze_as_the_agent_does():
    from dashboard.fleet import Fleet
    from tests.dashboard_app import ALERT, feed

    fleet = Fleet("legwake", commands=COMMANDS)
    feed(fleet, "alert", ALERT)
    [update] = feed(fleet, "cmd/snooze", {"minutes": 15.0})  # the agent applies it: 15 min
    assert (update["alert"]["status"], update["alert"]["snoozed_min"]) == ("snoozed", 15)
    assert COMMANDS.parse("snooze", b'{"minutes": 15.0}', received_at=AT).minutes == 15
    assert feed(fleet, "cmd/snooze", {"minutes": 121}) == []  # refused by both alike
    assert fleet.ignored == 1
