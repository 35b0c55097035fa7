"""The bytes the simulated devices send, built from the hardware contract alone.

This module owns encoding only (`spec/hardware.md`, sections 1 and 2). It is
deliberately independent of `edge.wire`, the decoder, so that a round trip
between the two checks each against the contract rather than against itself.
"""

from __future__ import annotations

import binascii
import struct

import numpy as np
from cobs import cobs

KIND_PRESSURE = 0x01
KIND_STATUS = 0x02
KIND_IMU = 0x10
PROTOCOL_VERSION = 1

PLACEMENT_LEFT = 1
PLACEMENT_RIGHT = 2

MAX_SAMPLES_PER_NOTIFICATION = 19
IMU_HEADER_BYTES = 8
IMU_SAMPLE_BYTES = 12
ATT_HEADER_BYTES = 3

_HEADER = struct.Struct("<BBHI")
_IMU_HEADER = struct.Struct("<BBHI")


def seatmat_packet(kind: int, seq: int, device_ms: int, payload: bytes, *,
                   version: int = PROTOCOL_VERSION) -> bytes:
    """One SeatMat packet as it goes on the wire: COBS-encoded, then a 0x00 delimiter."""
    body = _HEADER.pack(kind, version, seq & 0xFFFF, device_ms & 0xFFFFFFFF) + payload
    crc = binascii.crc_hqx(body, 0xFFFF)
    return cobs.encode(body + struct.pack("<H", crc)) + b"\x00"


def pressure_payload(counts: np.ndarray) -> bytes:
    """PRESSURE payload: rows, cols, then row-major u16 ADC counts."""
    counts = np.asarray(counts)
    if counts.ndim != 2:
        raise ValueError(f"a pressure frame is 2-D (rows, cols), got shape {counts.shape}")
    rows, cols = counts.shape
    if np.any(counts > 4095) or np.any(counts < 0):
        raise ValueError("ADC counts are 12-bit: 0..4095")
    return struct.pack("<BB", rows, cols) + counts.astype("<u2").tobytes()


def status_payload(firmware_version: int, rate_hz: int, fault_flags: int = 0) -> bytes:
    """STATUS payload: u16 firmware version, u16 frame rate, u8 fault flags."""
    return struct.pack("<HHB", firmware_version, rate_hz, fault_flags)


def wired_imu_payload(placement: int, notification: bytes) -> bytes:
    """IMU payload on the mat's link: the placement, then one LegIMU notification verbatim."""
    return struct.pack("<B", placement) + notification


def samples_per_notification(mtu: int) -> int:
    """How many IMU samples the unit packs into one notification at this ATT MTU."""
    fit = (mtu - ATT_HEADER_BYTES - IMU_HEADER_BYTES) // IMU_SAMPLE_BYTES
    return max(1, min(MAX_SAMPLES_PER_NOTIFICATION, fit))


def imu_notification(placement: int, seq: int, device_ms: int, samples: np.ndarray, *,
                     version: int = PROTOCOL_VERSION) -> bytes:
    """One LegIMU notification: header, then n samples of (ax, ay, az, gx, gy, gz) int16."""
    samples = np.asarray(samples)
    if samples.ndim != 2 or samples.shape[1] != 6:
        raise ValueError(f"IMU samples are (n, 6), got shape {samples.shape}")
    n = samples.shape[0]
    if not 1 <= n <= MAX_SAMPLES_PER_NOTIFICATION:
        raise ValueError(f"a notification holds 1..19 samples, got {n}")
    header = _IMU_HEADER.pack((version << 4) | placement, n, seq & 0xFFFF,
                              device_ms & 0xFFFFFFFF)
    return header + samples.astype("<i2").tobytes()
