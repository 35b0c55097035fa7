"""A trace written from the spec alone (no project encoder, no recorder) replays as expected."""

from __future__ import annotations

import base64
import binascii
import gzip
import itertools
import json
import struct
import subprocess
import sys

import pytest
from cobs import cobs


def mat_packet(kind: int, seq: int, ms: int, payload: bytes) -> bytes:
    body = struct.pack("<BBHI", kind, 1, seq, ms) + payload
    return cobs.encode(body + struct.pack("<H", binascii.crc_hqx(body, 0xFFFF))) + b"\0"


def pressure(seq: int) -> bytes:
    counts = [(seq * 100 + i) % 4096 for i in range(4 * 3)]
    return mat_packet(0x01, seq, seq * 50, struct.pack("<BB", 4, 3) + struct.pack("<12H", *counts))


def notification(placement: int, seq: int, n: int) -> bytes:
    samples = struct.pack(f"<{6 * n}h", *range(6 * n))
    return struct.pack("<BBHI", 0x10 | placement, n, seq, seq * 20 * n) + samples


def line(t: float, src: str, data: bytes) -> str:
    return json.dumps({"t": t, "src": src, "b64": base64.b64encode(data).decode()})


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_hand_written_trace_replays_with_expected_stats(tmp_path, suffix):
    header = {"format": "posture-trace", "version": 1, "started": "2026-11-02T09:00:00Z",
              "sources": {"mat": {"transport": "serial", "port": "/dev/ttyACM0"},
                          "imu_left": {"transport": "ble", "address": "C0:00:00:00:00:01",
                                       "placement": "left"},
                          "imu_right": {"transport": "ble", "placement": 2}},
              "meta": {"desk": "test"}}
    stream = b"".join(pressure(seq) for seq in (0, 1, 2, 4))  # seq 3 lost
    stream += mat_packet(0x02, 0, 1000, struct.pack("<HHB", 1, 20, 0))
    corrupt = bytearray(pressure(5))
    corrupt[6] ^= 0xFF
    stream += bytes(corrupt) + pressure(6)
    stream += mat_packet(0x02, 1, 2000, b"")  # STATUS with a wrong payload length
    lines = [json.dumps(header)]
    # The serial stream split into reads at awkward places, one mid-packet.
    cuts = [0, 5, 40, 41, 200, len(stream)]
    lines += [line(0.01 * i, "mat", stream[a:b]) for i, (a, b) in enumerate(itertools.pairwise(cuts))]
    lines += [line(0.1, "imu_left", notification(1, 0, 19)),
              line(0.2, "imu_left", notification(1, 1, 19)),
              line(0.3, "imu_left", notification(1, 3, 2)),  # seq 2 lost
              line(0.3, "imu_right", notification(2, 0, 1)),
              line(0.4, "imu_right", notification(1, 1, 1)),  # a left unit's bytes: bad placement
              "{this is not json",
              json.dumps({"t": 0.5, "src": "imu_right", "b64": "%%%"}),
              line(0.6, "imu_right", notification(2, 1, 1))]
    text = "\n".join(lines) + "\n"
    path = tmp_path / f"hand{suffix}"
    if suffix.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)

    result = subprocess.run([sys.executable, "-m", "edge", "replay", str(path), "--stats"],
                            capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == {
        "mat": {"packets": 6, "bad_packets": 2, "seq_gaps": 2, "pressure_frames": 5,
                "imu_samples": 0},
        "imu_left": {"packets": 3, "bad_packets": 0, "seq_gaps": 1, "pressure_frames": 0,
                     "imu_samples": 40},
        "imu_right": {"packets": 2, "bad_packets": 2, "seq_gaps": 0, "pressure_frames": 0,
                      "imu_samples": 2},
    }
    assert "1 line(s) not JSON" in result.stderr


def test_a_trace_of_another_format_or_version_is_refused(tmp_path):
    for head, message in [({"format": "other", "version": 1}, "is not 'posture-trace'"),
                          ({"format": "posture-trace", "version": 2, "sources": {}},
                           "version 2 is not supported")]:
        path = tmp_path / "t.jsonl"
        path.write_text(json.dumps(head) + "\n")
        result = subprocess.run([sys.executable, "-m", "edge", "replay", str(path), "--stats"],
                                capture_output=True, text=True, check=False)
        assert result.returncode == 1
        assert message in result.stderr
        assert "Traceback" not in result.stderr


def test_a_gzip_trace_of_several_members_and_a_missing_final_newline_reads_whole(tmp_path):
    header = {"format": "posture-trace", "version": 1, "started": "2026-11-02T09:00:00Z",
              "sources": {"mat": {"transport": "serial"}}, "meta": {}}
    lines = [json.dumps(header)] + [line(0.05 * i, "mat", pressure(i)) for i in range(40)]
    text = "\n".join(lines)  # no newline after the last line
    cut = len(text) // 2
    path = tmp_path / "members.jsonl.gz"
    path.write_bytes(gzip.compress(text[:cut].encode()) + gzip.compress(text[cut:].encode()))
    result = subprocess.run([sys.executable, "-m", "edge", "replay", str(path), "--stats"],
                            capture_output=True, text=True, check=True)
    assert json.loads(result.stdout)["mat"] == {"packets": 40, "bad_packets": 0, "seq_gaps": 0,
                                                "pressure_frames": 40, "imu_samples": 0}
