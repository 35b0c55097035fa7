"""Decoders against encoders written from the spec alone (firmware_sim/packets.py)."""

from __future__ import annotations

import binascii
import struct

import numpy as np
import pytest
from cobs import cobs

from edge.calibration import Calibration
from edge.wire import (
    BAD_CRC,
    BAD_KIND,
    BAD_LENGTH,
    BAD_PLACEMENT,
    BAD_VERSION,
    LegImuDecoder,
    SeatMatDecoder,
)
from firmware_sim import packets


def pressure_stream(frames: np.ndarray, *, first_seq: int = 0, first_ms: int = 0,
                    period_ms: int = 50) -> bytes:
    return b"".join(
        packets.seatmat_packet(packets.KIND_PRESSURE, first_seq + i, first_ms + i * period_ms,
                               packets.pressure_payload(frame))
        for i, frame in enumerate(frames))


def random_frames(n: int, seed: int = 0, shape=(16, 16)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 4096, size=(n, *shape), dtype=np.uint16)


def test_pressure_frames_round_trip_in_any_split():
    frames = random_frames(30)
    stream = pressure_stream(frames, first_ms=1000)
    for read_size in (1, 7, 100, 524, 4096, len(stream)):
        decoder = SeatMatDecoder()
        parts = [stream[i:i + read_size] for i in range(0, len(stream), read_size)]
        decoded = decoder.feed_many(parts, np.arange(len(parts), dtype=float))
        assert len(decoded.pressure) == 1
        got = decoded.pressure[0]
        np.testing.assert_array_equal(got.counts, frames)
        np.testing.assert_array_equal(got.seq, np.arange(30))
        np.testing.assert_array_equal(got.device_ms, 1000 + 50 * np.arange(30))
        assert decoder.counters.stats() == {"packets": 30, "bad_packets": 0, "seq_gaps": 0,
                                            "pressure_frames": 30, "imu_samples": 0}


def test_each_frame_takes_the_arrival_time_of_the_read_that_completed_it():
    stream = pressure_stream(random_frames(2))
    half = len(stream) // 4
    decoder = SeatMatDecoder()
    decoded = decoder.feed_many([stream[:half], stream[half:]], [1.0, 2.0])
    np.testing.assert_array_equal(decoded.pressure[0].arrival_s, [2.0, 2.0])


def test_reader_joining_mid_packet_skips_to_the_next_delimiter_without_counting_it_bad():
    stream = pressure_stream(random_frames(3))
    decoder = SeatMatDecoder()
    decoded = decoder.feed(stream[10:])
    assert decoded.pressure_frames == 2
    assert decoder.counters.bad_packets == 0
    assert decoder.counters.skipped_bytes > 0


def test_status_and_wrapping_clock_and_sequence():
    status = [packets.seatmat_packet(packets.KIND_STATUS, 65535 + i, 2**32 - 500 + 1000 * i,
                                     packets.status_payload(7, 20, i)) for i in range(3)]
    decoder = SeatMatDecoder()
    decoded = decoder.feed(b"".join(status))
    assert decoded.status is not None
    np.testing.assert_array_equal(decoded.status.device_ms, 2**32 - 500 + 1000 * np.arange(3))
    np.testing.assert_array_equal(decoded.status.fault_flags, [0, 1, 2])
    np.testing.assert_array_equal(decoded.status.rate_hz, [20, 20, 20])
    assert decoder.counters.seq_gaps == 0
    assert decoder.counters.status_packets == 3


def test_sequence_gaps_are_counted_per_kind():
    frames = random_frames(5)
    stream = b"".join(
        packets.seatmat_packet(packets.KIND_PRESSURE, seq, seq * 50, packets.pressure_payload(f))
        for seq, f in zip([0, 1, 4, 5, 9], frames))
    stream += packets.seatmat_packet(packets.KIND_STATUS, 100, 0, packets.status_payload(1, 20))
    decoder = SeatMatDecoder()
    decoder.feed(stream)
    assert decoder.counters.seq_gaps == 2
    assert decoder.counters.lost_packets == 2 + 3


def test_bad_packets_are_counted_by_reason():
    good = packets.seatmat_packet(packets.KIND_PRESSURE, 0, 0, packets.pressure_payload(
        np.full((2, 2), 0x0505, np.uint16)))
    flipped = bytearray(good)
    flipped[12] ^= 0x40  # a payload bit: COBS framing survives, the CRC catches it
    v2 = packets.seatmat_packet(packets.KIND_STATUS, 0, 0, packets.status_payload(1, 20), version=2)
    unknown_kind = packets.seatmat_packet(0x33, 0, 0, b"")
    body = struct.pack("<BBHI", 1, 1, 1, 0) + struct.pack("<BB", 4, 4) + b"\x00" * 6
    wrong_length = cobs.encode(body + struct.pack("<H", binascii.crc_hqx(body, 0xFFFF))) + b"\x00"
    decoder = SeatMatDecoder()
    decoded = decoder.feed(good + bytes(flipped) + v2 + unknown_kind + wrong_length + good)
    assert decoded.pressure_frames == 2
    assert decoder.counters.bad == {BAD_CRC: 1, BAD_VERSION: 1, BAD_KIND: 1, BAD_LENGTH: 1}
    assert decoder.counters.unknown_versions == 1


def test_mixed_geometries_come_back_as_separate_groups():
    small = random_frames(2, shape=(8, 8))
    large = random_frames(2, shape=(16, 16))
    stream = pressure_stream(small) + pressure_stream(large, first_seq=2)
    decoded = SeatMatDecoder().feed(stream)
    shapes = [frames.counts.shape for frames in decoded.pressure]
    assert shapes == [(2, 8, 8), (2, 16, 16)]


def imu_block(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-32768, 32768, size=(n, 6), dtype=np.int16)


@pytest.mark.parametrize("per_notification", [1, 19])
def test_imu_notifications_round_trip(per_notification):
    samples = imu_block(38, 1)
    notes = [packets.imu_notification(packets.PLACEMENT_RIGHT, i, 5000 + i * per_notification * 20,
                                      samples[i * per_notification:(i + 1) * per_notification])
             for i in range(38 // per_notification)]
    decoder = LegImuDecoder(rate_hz=50)
    got = decoder.feed(notes, np.arange(len(notes), dtype=float))
    assert got is not None
    np.testing.assert_array_equal(got.accel_mg, samples[:, :3])
    np.testing.assert_array_equal(got.gyro_dps10, samples[:, 3:])
    np.testing.assert_allclose(got.device_ms, 5000 + 20 * np.arange(38))
    assert set(got.placement) == {packets.PLACEMENT_RIGHT}
    assert decoder.counters.imu_samples == 38
    assert decoder.counters.packets == len(notes)


def test_imu_rejects_wrong_placement_version_and_length():
    good = packets.imu_notification(1, 0, 0, imu_block(2, 2))
    decoder = LegImuDecoder(placement=1)
    notes = [good, packets.imu_notification(2, 1, 0, imu_block(1, 3)),
             packets.imu_notification(1, 1, 0, imu_block(1, 3), version=3), good[:-1], b"\x10"]
    got = decoder.feed(notes, [0.0] * len(notes))
    assert got is not None and len(got) == 2
    assert decoder.counters.bad == {BAD_PLACEMENT: 1, BAD_VERSION: 1, BAD_LENGTH: 1, "short": 1}


def test_wired_imu_decodes_like_a_wireless_one():
    samples = imu_block(3, 4)
    note = packets.imu_notification(2, 7, 123, samples)
    stream = packets.seatmat_packet(packets.KIND_IMU, 0, 0, packets.wired_imu_payload(2, note))
    decoder = SeatMatDecoder()
    decoded = decoder.feed(stream)
    assert decoded.imu is not None
    np.testing.assert_array_equal(decoded.imu.accel_mg, samples[:, :3])
    assert decoder.counters.stats()["imu_samples"] == 3


def test_calibration_default_table_interpolates_and_clamps():
    cal = Calibration()
    np.testing.assert_allclose(cal.kpa(np.array([0, 40, 170, 300, 4095, 5000])),
                               [0, 0, 1.0, 2.0, 90.0, 90.0])
    kpa = np.array([0.5, 2.0, 14.0, 60.0])
    np.testing.assert_allclose(cal.kpa(cal.counts(kpa)), kpa)
    assert cal.mmhg(np.array([900]))[0] == pytest.approx(6.0 * 7.50062)


def test_calibration_rejects_bad_tables():
    with pytest.raises(ValueError, match="strictly increase"):
        Calibration(((0, 0.0), (0, 1.0)))
    with pytest.raises(ValueError, match="never decrease"):
        Calibration(((0, 2.0), (10, 1.0)))
