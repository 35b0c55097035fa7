"""A hostile or damaged trace: the reader counts and skips what it cannot use, the replay
finishes on the rest in bounded time and memory, and `legwake replay` warns instead of dying."""

from __future__ import annotations

import base64
import functools
import gzip
import itertools
import json
import math
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.agent import MAX_FEED_S, Agent, replay_trace, trace_start
from edge.cli import main
from edge.config import load_config
from edge.decode import Decoders
from edge.estimate.windows import GAP_S, Windower
from edge.sources.trace import (
    MAX_BACK_S,
    MAX_JUMP_S,
    MAX_LINE_BYTES,
    MAX_T_S,
    TraceError,
    TraceReader,
)
from edge.wire import Decoded, PressureFrames, StatusReports
from tests.kept import Kept

DATA = Path(__file__).parent / "data"
CROSSING = DATA / "crossing_left.jsonl.gz"  # 55 s: upright, the left leg over the right, upright
YEAR_S = 365 * 86400.0

_lines = gzip.decompress(CROSSING.read_bytes()).split(b"\n")
HEADER, BODY = _lines[0], [line for line in _lines[1:] if line]
MID = len(BODY) // 2

fuzz = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def t_of(line: bytes) -> float:
    return json.loads(line)["t"]


def with_t(line: bytes, t: float | str) -> bytes:
    """The line with its `t` replaced by this number, or by this JSON text."""
    rest = line[line.index(b',"src"'):]
    return b'{"t":' + (t if isinstance(t, str) else json.dumps(t)).encode() + rest


def write(path: Path, body: list[bytes], header: bytes = HEADER) -> Path:
    text = b"\n".join([header, *body]) + b"\n"
    path.write_bytes(gzip.compress(text) if path.name.endswith(".gz") else text)
    return path


def replayed(path: Path) -> tuple[TraceReader, Kept, object]:
    reader = TraceReader(path)
    kept = Kept()
    agent = replay_trace(reader, load_config(None), [kept])
    return reader, kept, agent


def chunks(path: Path) -> tuple[list[tuple[str, float, bytes]], TraceReader]:
    reader = TraceReader(path)
    return [(r.source, r.arrival_s, r.data) for r in reader], reader


@functools.cache
def original_chunks() -> list[tuple[str, float, bytes]]:
    return chunks(CROSSING)[0]


@pytest.fixture
def original() -> list[tuple[str, float, bytes]]:
    return original_chunks()


# --- the reproductions, through the whole replay -------------------------------------------------


@pytest.mark.parametrize("t", ["1e300", "1e400", "NaN", "Infinity", "-5.0", "1e10"])
def test_an_absurd_t_is_one_damaged_line_and_the_rest_replays(tmp_path, original, t):
    path = write(tmp_path / "t.jsonl.gz", BODY[:MID] + [with_t(BODY[MID], t)] + BODY[MID + 1:])
    reader, kept, _ = replayed(path)
    assert reader.damage.bad_time == 1 and reader.damage.skipped == 1
    assert "not a time" in str(reader.damage)
    assert kept.events and kept.events[-1]["t"] < 60
    assert chunks(path)[0] == original[:MID] + original[MID + 1:]


def test_a_jump_of_a_year_replays_its_seconds_only_and_events_after_it_carry_their_time(tmp_path):
    path = write(tmp_path / "year.jsonl.gz",
                 BODY[:MID] + [with_t(line, t_of(line) + YEAR_S) for line in BODY[MID:]])
    reader, kept, agent = replayed(path)
    assert reader.damage.total == 0  # a real gap, confirmed by the lines after it
    windower = agent.pipeline.estimator.windower
    assert windower.skipped_windows > YEAR_S - GAP_S - 60
    # Bounded work: the seconds of data, and the first GAP_S of the gap as empty windows.
    observed = sum(minute["observed_s"] for minute in kept.minutes)
    assert observed <= 60 + GAP_S
    assert len(kept.minutes) <= 60 / 60 + GAP_S / 60 + 3
    after = [e for e in kept.events if e["t"] > YEAR_S]
    assert after, "events after the jump"
    assert {e["sensor"] for e in after if e["event"] == "sensor"} == {"mat", "imu_left",
                                                                      "imu_right"}
    assert min(e["t"] for e in after) >= YEAR_S + t_of(BODY[MID])
    assert kept.events == sorted(kept.events, key=lambda e: e["t"])
    # After the jump the sitting and the nerves start afresh: no break reminder for a year's
    # sitting, no numbness from a load the gap is not known to have kept up.
    assert not [e for e in after if e["event"] == "alert"]
    assert kept.states[-1]["sitting_s"] < 60


def test_a_jump_inside_one_feed_is_decided_as_one_between_feeds(tmp_path):
    path = write(tmp_path / "year.jsonl.gz",
                 BODY[:MID] + [with_t(line, t_of(line) + YEAR_S) for line in BODY[MID:]])
    _, between, _ = replayed(path)
    reader = TraceReader(path)
    inside = Kept()
    agent = Agent(load_config(None), reader.header.sources, id_prefix="p",
                  started_utc=trace_start(reader.header.started), sinks=[inside])
    agent.process(list(reader))
    agent.finish()

    def decisions(kept: Kept) -> list[tuple]:
        return [(e["t"], e["event"], e.get("posture") or e.get("sensor") or e.get("kind"))
                for e in kept.events]

    assert decisions(inside) == decisions(between)
    assert [m["observed_s"] for m in inside.minutes] == [m["observed_s"] for m in between.minutes]


def test_sparse_chunks_over_days_are_decided_a_stretch_at_a_time(tmp_path):
    # One chunk every 599 s: each gap is windowed in full, so a feed of them all would hold
    # a week of windows at once; the replay hands them over MAX_FEED_S at a time.
    sparse = [with_t(line, 599.0 * i) for i, line in enumerate(BODY[:60])]
    reader, kept, _ = replayed(write(tmp_path / "sparse.jsonl.gz", sparse))
    assert reader.damage.total == 0
    ends = [state["t"] for state in kept.states]
    assert len(ends) >= 25
    assert max(b - a for a, b in itertools.pairwise(ends)) <= MAX_FEED_S + GAP_S


def test_a_jump_back_is_damage_and_a_small_step_back_is_kept_at_the_last_time(tmp_path, original):
    back = [with_t(line, t_of(line) - 20.0) for line in BODY[MID:MID + 5]]
    path = write(tmp_path / "back.jsonl", BODY[:MID] + back + BODY[MID + 5:])
    reader, kept, _ = replayed(path)
    assert reader.damage.time_jumped_back == 5 and reader.damage.skipped == 5
    assert kept.events

    last = t_of(BODY[MID - 1])
    jitter = with_t(BODY[MID], last - MAX_BACK_S / 2)
    read, reader = chunks(write(tmp_path / "jitter.jsonl",
                                BODY[:MID] + [jitter] + BODY[MID + 1:]))
    assert reader.damage.time_went_back == 1 and reader.damage.skipped == 0
    assert read[MID][1] == last and len(read) == len(original)


def test_one_line_far_ahead_is_damage_and_cannot_push_the_rest_into_the_past(tmp_path, original):
    for ahead in (MAX_JUMP_S * 2, 86400.0, YEAR_S):
        spike = with_t(BODY[MID], t_of(BODY[MID]) + ahead)
        read, reader = chunks(write(tmp_path / "spike.jsonl.gz",
                                    BODY[:MID] + [spike] + BODY[MID + 1:]))
        assert reader.damage.time_jumped_ahead == 1 and reader.damage.skipped == 1
        assert read == original[:MID] + original[MID + 1:]


def test_a_gap_at_the_very_end_is_kept(tmp_path, original):
    late = with_t(BODY[-1], t_of(BODY[-1]) + 3600.0)
    read, reader = chunks(write(tmp_path / "late.jsonl", BODY + [late]))
    assert reader.damage.total == 0 and len(read) == len(original) + 1


def test_bytes_that_are_not_utf8_in_a_line_are_one_damaged_line(tmp_path, original):
    broken = BODY[0][:20] + b"\xff\xfe" + BODY[0][20:]
    path = write(tmp_path / "bytes.jsonl.gz", [broken] + BODY[1:])
    reader, kept, _ = replayed(path)
    assert reader.damage.not_utf8 == 1 and reader.damage.skipped == 1
    assert kept.events


def test_a_header_that_is_not_utf8_is_refused_naming_the_file(tmp_path):
    path = write(tmp_path / "head.jsonl.gz", BODY, header=HEADER[:30] + b"\xff" + HEADER[30:])
    with pytest.raises(TraceError, match=str(path)):
        TraceReader(path)
    result = CliRunner().invoke(main, ["replay", str(path), "--events", "-"])
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0
    assert str(path) in result.stderr and "not UTF-8" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_line_longer_than_the_limit_is_skipped(tmp_path, original):
    giant = b'{"t":1.0,"src":"mat","b64":"' + b"A" * (MAX_LINE_BYTES + 10) + b'"}'
    for body in (BODY[:MID] + [giant] + BODY[MID:], BODY + [giant[:-2]]):  # mid-file, and last
        read, reader = chunks(write(tmp_path / "long.jsonl.gz", body))
        assert reader.damage.too_long == 1 and reader.damage.skipped == 1
        assert read == original
    path = write(tmp_path / "long.jsonl", BODY[:MID] + [b"x" * (3 * MAX_LINE_BYTES)] + BODY[MID:])
    reader, kept, _ = replayed(path)
    assert reader.damage.too_long == 1 and kept.events


def test_a_gzip_cut_short_replays_what_it_holds_and_says_it_was_truncated(tmp_path, original):
    whole = CROSSING.read_bytes()
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[:len(whole) * 2 // 3])
    reader, kept, _ = replayed(path)
    assert "stops before its end" in reader.damage.truncated
    assert reader.damage.total >= 1 and kept.events
    read = chunks(path)[0]
    assert len(original) / 2 < len(read) < len(original) and read == original[:len(read)]

    result = CliRunner().invoke(main, ["replay", str(path), "--stats"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["mat"]["pressure_frames"] > 0
    assert result.stderr.startswith(f"warning: {path}: ") and "truncated" in result.stderr


def test_a_corrupt_gzip_keeps_what_came_before_the_damage(tmp_path, original):
    whole = bytearray(CROSSING.read_bytes())
    whole[-8] ^= 0xFF  # the CRC-32 of the data
    path = tmp_path / "crc.jsonl.gz"
    path.write_bytes(bytes(whole))
    read, reader = chunks(path)
    assert "corrupt gzip data" in reader.damage.truncated
    assert len(read) > len(original) - 20 and read == original[:len(read)]

    garbage = bytearray(CROSSING.read_bytes())
    garbage[len(garbage) // 2:len(garbage) // 2 + 64] = b"\xa5" * 64
    path.write_bytes(bytes(garbage))
    reader, kept, _ = replayed(path)
    assert reader.damage.truncated and kept.events

    path.write_bytes(b"\x1f\x8b" + bytes(range(256)) * 10)
    with pytest.raises(TraceError, match="corrupt gzip data"):
        TraceReader(path)


def test_legwake_replay_warns_and_exits_0_on_a_damaged_trace(tmp_path):
    path = write(tmp_path / "inf.jsonl.gz",
                 BODY[:MID] + [with_t(BODY[MID], "1e400"), b"\xff" * 40] + BODY[MID + 1:])
    result = subprocess.run([sys.executable, "-m", "edge", "replay", str(path),
                             "--events", str(tmp_path / "events.jsonl")],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"warning: {path}: damaged")
    assert "1 chunk(s) whose t is not a time" in result.stderr
    assert "1 line(s) not UTF-8" in result.stderr
    assert (tmp_path / "events.jsonl").read_text().count("\n") >= 3


# --- the windower over a long gap ----------------------------------------------------------------


def mat_frames(t_s) -> Decoded:
    t = np.asarray(t_s, np.float64)
    return Decoded(pressure=(PressureFrames(t, np.zeros(len(t), np.int64),
                                            np.zeros(len(t), np.uint16),
                                            np.zeros((len(t), 4, 4), np.uint16)),))


def drain(windower: Windower, *, final: bool = False) -> list:
    runs = []
    while (win := (windower.flush if final else windower.close)(max_windows=600)) is not None:
        runs.append(win)
    return runs


def test_the_windower_windows_the_first_part_of_a_long_gap_then_jumps_to_the_data():
    windower = Windower(close_delay_s=0.0)
    windower.add({"mat": mat_frames(np.arange(0.0, 2.0, 0.05))})
    windower.add({"mat": mat_frames(1e8 + np.arange(0.0, 2.0, 0.05))})
    runs = drain(windower) + drain(windower, final=True)
    firsts = [(run.first, len(run)) for run in runs]
    assert sum(n for _, n in firsts) == 2 + round(GAP_S) + 2
    # No run spans the jump; the data after it is in the window where it arrived.
    after = [run for run in runs if run.first >= 1e8]
    assert after[0].first == 100_000_000 and after[0].samples["mat"][0] == 20
    assert all(run.first + len(run) <= 2 + GAP_S for run in runs if run.first < 1e8)
    assert windower.skipped_windows == 100_000_000 - 2 - round(GAP_S)
    before = [run for run in runs if run.first < 1e8]
    assert not any(run.present["mat"][run.first + np.arange(len(run)) >= 5].any()
                   for run in before)


def test_the_windower_jumps_when_only_status_reports_move_its_clock():
    windower = Windower(close_delay_s=0.0)
    windower.add({"mat": mat_frames([0.0, 0.5])})
    status = StatusReports(np.array([5e8]), np.zeros(1, np.int64), np.ones(1, np.uint16),
                           np.full(1, 20, np.uint16), np.zeros(1, np.uint8))
    windower.add({"mat": Decoded(status=status)})
    assert sum(len(run) for run in drain(windower)) == 1 + round(GAP_S)
    windower.add({"mat": mat_frames([5e8 + 0.5])})
    runs = drain(windower, final=True)
    assert [(run.first, len(run)) for run in runs] == [(500_000_000, 1)]


def test_times_that_are_no_time_are_counted_and_never_move_the_windows():
    windower = Windower(close_delay_s=0.0)
    windower.add({"mat": mat_frames([0.0, 0.5, math.inf, math.nan, 1e300, -1e300, 1.5])})
    assert windower.bad_times["mat"] == 4
    runs = drain(windower, final=True)
    assert [(run.first, len(run)) for run in runs] == [(0, 2)]
    assert list(runs[0].samples["mat"]) == [2, 1]


# --- fuzzing the reader --------------------------------------------------------------------------

FUZZ_HEADER = json.dumps({"format": "posture-trace", "version": 1,
                          "started": "2026-11-02T09:00:00Z",
                          "sources": {"mat": {"transport": "serial"},
                                      "imu_left": {"transport": "ble", "placement": "left"}},
                          "meta": {}}).encode()
times = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                  st.floats(0, 200), st.integers(-10, 10**30))
nested = st.builds(lambda depth, opening: opening * depth, st.integers(1, 50_000),
                   st.sampled_from([b"[", b'{"t":']))  # deeper than the JSON parser's recursion
line_shapes = st.one_of(
    st.binary(max_size=120),
    nested,
    st.builds(lambda t, src, data: json.dumps(
        {"t": t, "src": src, "b64": base64.b64encode(data).decode()},
        separators=(",", ":")).encode(),
              times, st.sampled_from(["mat", "imu_left", "imu_right"]), st.binary(max_size=60)),
    st.builds(lambda value: json.dumps(value).encode(),
              st.recursive(st.none() | st.booleans() | st.floats() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.sampled_from(["t", "src", "b64", "x"]), inner,
                                             max_size=4), max_leaves=8)),
)


def assert_read_whole(path: Path, lines: list[bytes]) -> list[tuple[str, float, bytes]]:
    read, reader = chunks(path)
    damage = reader.damage
    written = [part for line in lines for part in line.split(b"\n")]
    assert len(read) + damage.skipped == sum(1 for part in written if part.strip())
    assert damage.total == damage.skipped + damage.time_went_back
    assert all(0.0 <= t <= MAX_T_S for _, t, _ in read)
    assert [t for _, t, _ in read] == sorted(t for _, t, _ in read)
    assert {source for source, _, _ in read} <= {"mat", "imu_left"}
    str(damage)
    return read


@fuzz
@given(lines=st.lists(line_shapes, max_size=25))
def test_fuzz_random_lines_after_a_valid_header_never_break_the_reader(tmp_path, lines):
    plain = write(tmp_path / "fuzz.jsonl", lines, header=FUZZ_HEADER)
    packed = write(tmp_path / "fuzz.jsonl.gz", lines, header=FUZZ_HEADER)
    assert assert_read_whole(plain, lines) == assert_read_whole(packed, lines)


@fuzz
@given(cut=st.floats(0.05, 1.0), flips=st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)),
                                                 max_size=3))
def test_fuzz_a_damaged_gzip_never_breaks_the_reader(tmp_path, cut, flips):
    packed = CROSSING.read_bytes()
    whole = bytearray(packed[:max(20, int(len(packed) * cut))])
    for where, mask in flips:
        whole[min(len(whole) - 1, 10 + int(where * (len(whole) - 10)))] ^= mask
    path = tmp_path / "damaged.jsonl.gz"
    path.write_bytes(bytes(whole))
    try:
        reader = TraceReader(path)
    except TraceError as error:
        assert str(path) in str(error)
        return
    read = [(r.source, r.arrival_s, r.data) for r in reader]
    if not flips:
        assert read == original_chunks()[:len(read)]
        assert bool(reader.damage.truncated) == (cut < 1.0)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4), max_leaves=12)
plausible = st.one_of(json_values, st.sampled_from(["left", "right", "Left", 1, 2, 3, 25, 50,
                                                    1e-300, math.nan, math.inf, 0, -1, True]))
transports = st.sampled_from(["serial", "ble"])
source_infos = st.fixed_dictionaries(
    {"transport": st.one_of(transports, transports, transports, json_values)},
    optional={"placement": plausible, "rate_hz": plausible, "imu_rate_hz": plausible,
              "port": json_values})
structured_headers = st.builds(
    lambda sources, started, meta: json.dumps(
        {"format": "posture-trace", "version": 1, "sources": sources, "started": started,
         "meta": meta}).encode(),
    st.dictionaries(st.text(max_size=6), source_infos, max_size=3),
    st.one_of(st.sampled_from(["2026-11-02T09:00:00Z", "0001-01-01T00:00:00+14:00",
                               "9999-12-31T23:59:59Z"]),
              st.datetimes().map(lambda d: d.isoformat()), json_values),
    json_values)
headers = st.one_of(structured_headers, structured_headers, structured_headers,
                    json_values.map(lambda value: json.dumps(value).encode()),
                    st.binary(max_size=200), nested)


@fuzz
@given(header=headers, gz=st.booleans())
def test_fuzz_random_headers_give_a_trace_error_or_a_trace_the_replay_can_start(tmp_path, header,
                                                                              gz):
    path = tmp_path / ("head.jsonl.gz" if gz else "head.jsonl")
    body = [b'{"t":0.5,"src":"mat","b64":"AAE="}']
    write(path, body, header=header)
    try:
        reader = TraceReader(path)
    except TraceError as error:
        assert str(path) in str(error)
        return
    read = [(r.source, r.arrival_s, r.data) for r in reader]
    assert len(read) + reader.damage.skipped == 1
    Decoders(reader.header.sources).feed(reader)
    trace_start(reader.header.started) + timedelta(seconds=MAX_T_S)


@fuzz
@given(sources=st.dictionaries(st.sampled_from(["mat", "imu_left", "x"]), source_infos,
                               min_size=1, max_size=3))
def test_fuzz_a_header_source_entry_is_refused_or_decoded(tmp_path, sources):
    header = json.dumps({"format": "posture-trace", "version": 1, "sources": sources})
    path = write(tmp_path / "sources.jsonl", [b'{"t":0.5,"src":"mat","b64":"AAE="}',
                                              b'{"t":0.6,"src":"imu_left","b64":"AAE="}'],
                 header=header.encode())
    try:
        reader = TraceReader(path)
    except TraceError as error:
        assert str(path) in str(error)
        return
    Decoders(reader.header.sources).feed(reader)
