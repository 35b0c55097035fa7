"""Fuzzing edge/config.py's loader: whatever a file holds, `load_config` returns a Config
or raises ConfigError (each line naming the file), never any other exception, and never
shows a secret.

Every key of every section is reached through the dataclasses' fields, so a setting added
later is fuzzed without an edit here. Values are written as TOML text by this file's own
writer (not by edge.config's, which is under test), with raw snippets for what a writer
would never produce: integers past 64 bits and past Python's 4300-digit limit, `1e999`,
arrays nested thousands deep.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from edge.config import Config, ConfigError, load_config

SECTIONS = {f.name: f.default_factory for f in dataclasses.fields(Config)}
KEYS = [(section, f.name) for section, cls in SECTIONS.items()  # type: ignore[arg-type]
        for f in dataclasses.fields(cls)]
SECRETS = [(section, f.name) for section, cls in SECTIONS.items()  # type: ignore[arg-type]
           for f in dataclasses.fields(cls) if f.metadata.get("secret")]

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


# --- TOML text --------------------------------------------------------------------------------


def toml_string(text: str) -> str:
    def escape(match: re.Match[str]) -> str:
        char = match.group()
        return {'"': '\\"', "\\": "\\\\"}.get(char, f"\\u{ord(char):04x}")

    return '"' + re.sub(r'["\\\x00-\x1f\x7f]', escape, text) + '"'


def toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else toml_string(key)


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)  # inf, -inf and nan are TOML too
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}"
                               for k, v in value.items()) + "}"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    raise TypeError(value)


offsets = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes)))
scalars = st.one_of(
    st.text(),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(),  # beyond 64 bits: TOML forbids them, tomllib reads them
    st.floats(),  # nan and infinities included
    st.booleans(),
    st.datetimes(timezones=st.none() | offsets).map(lambda d: d.replace(microsecond=0)),
    st.dates(),
    st.times().map(lambda t: t.replace(microsecond=0)),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
).map(toml_value)
raw_values = st.one_of(
    st.sampled_from(["1e999", "-1e999", "+inf", "-nan", "0x7fffffffffffffff", "1_000",
                     "9" * 400, "-" + "9" * 400, "9" * 5000, "1." + "0" * 5000 + "1",
                     '""""""', "''", "[]", "{}", "[[]]", "1979-05-27T07:32:00Z", "07:32:00",
                     "1979-05-27", "1979-13-45", "25:61:00", "1979-02-30T00:00:00"]),
    st.integers(1, 3000).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(1, 3000).map(lambda depth: "{a = " * depth + "1" + "}" * depth),
    st.integers(1, 3000).map(lambda depth: "[1, " * depth + "1" + "]" * depth),
)
any_value = values | raw_values


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    return path


def load_or_errors(path: Path) -> list[str]:
    """The errors of `path` ([] when it loads); anything but ConfigError fails the test."""
    try:
        config = load_config(path)
    except ConfigError as error:
        assert error.errors, "a ConfigError without a line"
        for line in error.errors:
            assert line.startswith(f"{path}: "), line
        return error.errors
    assert isinstance(config, Config)
    return []


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "config.toml"


# --- every key, any value ---------------------------------------------------------------------


@FUZZ
@given(key=st.sampled_from(KEYS), value=any_value)
@example(key=("sim", "speed"), value="9" * 400)  # float() of it overflowed
@example(key=("mat", "calibration"), value="[[0, 0], [10, " + "9" * 400 + "]]")  # the same
@example(key=("mqtt", "port"), value="9" * 5000)  # past Python's int digits: tomllib's ValueError
@example(key=("sim", "seed"), value="[" * 2000 + "]" * 2000)  # tomllib's RecursionError
@example(key=("record", "dir"), value="[1, " * 1000 + "1" + "]" * 1000)  # deep in "got ..."
@example(key=("policy", "quiet_start"), value="25:61:00")
def test_any_value_of_any_key(config_file: Path, key: tuple[str, str], value: str) -> None:
    section, name = key
    load_or_errors(write(config_file, f"[{section}]\n{name} = {value}\n"))


@FUZZ
@given(settings_=st.dictionaries(st.sampled_from(KEYS), any_value, min_size=1, max_size=8))
def test_many_values_at_once(config_file: Path, settings_: dict[tuple[str, str], str]) -> None:
    tables: dict[str, list[str]] = {}
    for (section, name), value in settings_.items():
        tables.setdefault(section, []).append(f"{name} = {value}")
    text = "".join(f"[{section}]\n" + "\n".join(lines) + "\n" for section, lines in tables.items())
    load_or_errors(write(config_file, text))


# --- unknown keys and sections ----------------------------------------------------------------


@FUZZ
@given(section=st.sampled_from(sorted(SECTIONS)) | st.text(min_size=1, max_size=12),
       key=st.text(min_size=1, max_size=12), value=values)
def test_unknown_keys_and_sections(config_file: Path, section: str, key: str,
                                   value: str) -> None:
    known = SECTIONS.get(section)
    if known is not None and key in {f.name for f in dataclasses.fields(known)}:
        return  # a known key: the tests above
    errors = load_or_errors(write(config_file, f"[{toml_key(section)}]\n{toml_key(key)} = "
                                               f"{value}\n"))
    expected = "unknown key." if known is not None else "unknown section ["
    assert any(expected in line for line in errors), errors


@FUZZ
@given(key=st.text(min_size=1, max_size=12).filter(lambda k: k not in SECTIONS),
       value=any_value)
def test_a_key_outside_any_section(config_file: Path, key: str, value: str) -> None:
    assert load_or_errors(write(config_file, f"{toml_key(key)} = {value}\n"))


# --- whole files ------------------------------------------------------------------------------


@FUZZ
@given(content=st.binary(max_size=300))
@example(content=b"\xff\xfe[mqtt]\n")
@example(content=b"[mqtt]\nport = 1\x00\n")
def test_random_bytes(config_file: Path, content: bytes) -> None:
    load_or_errors(write(config_file, content))


@FUZZ
@given(content=st.text(alphabet=st.sampled_from(list('[]{}="\'#.,:-+_ \n\tabcdefxyz0123456789')),
                       max_size=200))
def test_random_toml_like_text(config_file: Path, content: str) -> None:
    load_or_errors(write(config_file, content))


# --- secrets stay hidden ----------------------------------------------------------------------

MARKER = "Zq7Secret"


@FUZZ
@given(key=st.sampled_from(SECRETS), before=st.text(max_size=8), after=st.text(max_size=8),
       shape=st.sampled_from(["{}", "[{}]", "{{a = {}}}", "{} ", "{}\nport = true"]))
@example(key=("dashboard", "token"), before="", after=" short", shape="{}")  # was shown
@example(key=("mqtt", "password"), before="", after="", shape="[{}]")  # was shown
def test_no_error_shows_a_secret(config_file: Path, key: tuple[str, str], before: str,
                                 after: str, shape: str) -> None:
    section, name = key
    value = shape.format(toml_string(before + MARKER + after))
    errors = load_or_errors(write(config_file, f"[{section}]\n{name} = {value}\n"))
    assert not any(MARKER in line for line in errors), errors
