"""Bytes from the sensors -> typed frames, as numpy chunks (`spec/hardware.md` 1-2).

This module owns decoding and the per-source byte counters. It does no I/O and
imports no I/O library: sources hand it bytes with arrival times, and it hands
back arrays of many samples. Bad bytes never raise: they are counted by reason
and skipped, and the stream resynchronises at the next packet delimiter.
"""

from __future__ import annotations

import binascii
import struct
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from cobs import cobs

KIND_PRESSURE = 0x01
KIND_STATUS = 0x02
KIND_IMU = 0x10
PROTOCOL_VERSION = 1

PLACEMENT_LEFT = 1
PLACEMENT_RIGHT = 2
PLACEMENTS = {PLACEMENT_LEFT: "left", PLACEMENT_RIGHT: "right"}

IMU_SERVICE_UUID = "f0fb1000-ea9f-46e8-af22-1f45a4807835"
IMU_DATA_UUID = "f0fb1001-ea9f-46e8-af22-1f45a4807835"
IMU_CONFIG_UUID = "f0fb1002-ea9f-46e8-af22-1f45a4807835"
IMU_HAPTIC_UUID = "f0fb1003-ea9f-46e8-af22-1f45a4807835"  # v1.1, optional
HAPTIC_STOP, HAPTIC_TAP, HAPTIC_DOUBLE_TAP, HAPTIC_INSIST = 0, 1, 2, 3
BATTERY_SERVICE_UUID = "0000180f-0000-1000-8000-00805f9b34fb"
BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"
IMU_RATES_HZ = (25, 50, 100)
DEFAULT_IMU_RATE_HZ = 50

_HEADER = struct.Struct("<BBHI")  # kind, version, seq, device_ms
_IMU_HEADER = struct.Struct("<BBHI")  # version|placement, n, seq, device_ms
_STATUS = struct.Struct("<HHB")
_CRC = struct.Struct("<H")
_MIN_PACKET = _HEADER.size + _CRC.size
_IMU_SAMPLE_DTYPE = np.dtype("<i2")
_MAX_IMU_SAMPLES = 19

# Reasons a packet is counted bad. A decoder never invents another.
BAD_COBS = "cobs"
BAD_SHORT = "short"
BAD_CRC = "crc"
BAD_VERSION = "unknown_version"
BAD_KIND = "unknown_kind"
BAD_LENGTH = "length"
BAD_PLACEMENT = "placement"
BAD_VALUE = "value"


@dataclass(slots=True)
class StreamCounters:
    """What one source's bytes amounted to. `bad` counts rejected packets by reason."""

    packets: int = 0
    bad: Counter[str] = field(default_factory=Counter)
    seq_gaps: int = 0
    lost_packets: int = 0
    skipped_bytes: int = 0
    pressure_frames: int = 0
    status_packets: int = 0
    imu_samples: int = 0

    @property
    def bad_packets(self) -> int:
        return sum(self.bad.values())

    @property
    def unknown_versions(self) -> int:
        return self.bad[BAD_VERSION]

    def stats(self) -> dict[str, int]:
        """The summary `legwake replay --stats` prints for a source."""
        return {
            "packets": self.packets,
            "bad_packets": self.bad_packets,
            "seq_gaps": self.seq_gaps,
            "pressure_frames": self.pressure_frames,
            "imu_samples": self.imu_samples,
        }


class _SeqTracker:
    """Counts discontinuities in a 16-bit sequence number (gaps, and also repeats or resets)."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last: int | None = None

    def observe(self, seq: int, counters: StreamCounters) -> None:
        if self.last is not None:
            step = (seq - self.last) & 0xFFFF
            if step != 1:
                counters.seq_gaps += 1
                if step < 0x8000:  # a forward jump: packets were lost
                    counters.lost_packets += step - 1
        self.last = seq


class _Unwrapper:
    """Turns the device's u32 millisecond clock into a monotonic int64 across wraps."""

    __slots__ = ("epochs", "last")

    def __init__(self) -> None:
        self.epochs = 0
        self.last: int | None = None

    def __call__(self, device_ms: int) -> int:
        if self.last is not None and device_ms < self.last and self.last - device_ms > 1 << 31:
            self.epochs += 1
        self.last = device_ms
        return (self.epochs << 32) + device_ms


@dataclass(frozen=True, slots=True)
class PressureFrames:
    """Pressure frames of one mat geometry: counts is (n, rows, cols) of 12-bit ADC counts."""

    arrival_s: np.ndarray  # (n,) float64
    device_ms: np.ndarray  # (n,) int64, unwrapped
    seq: np.ndarray  # (n,) uint16
    counts: np.ndarray  # (n, rows, cols) uint16

    def __len__(self) -> int:
        return len(self.seq)


@dataclass(frozen=True, slots=True)
class StatusReports:
    arrival_s: np.ndarray
    device_ms: np.ndarray
    firmware_version: np.ndarray  # (n,) uint16
    rate_hz: np.ndarray  # (n,) uint16
    fault_flags: np.ndarray  # (n,) uint8

    def __len__(self) -> int:
        return len(self.device_ms)


@dataclass(frozen=True, slots=True)
class ImuSamples:
    """Thigh motion samples, one row each. Sample times are in device milliseconds."""

    placement: np.ndarray  # (n,) uint8: 1 left, 2 right
    arrival_s: np.ndarray  # (n,) float64, the arrival of the notification that carried it
    device_ms: np.ndarray  # (n,) float64, unwrapped, with the per-sample offset k*1000/rate
    seq: np.ndarray  # (n,) uint16, of the carrying notification
    accel_mg: np.ndarray  # (n, 3) int16: ax, ay, az
    gyro_dps10: np.ndarray  # (n, 3) int16: gx, gy, gz in 0.1 degree/s

    def __len__(self) -> int:
        return len(self.seq)

    def for_placement(self, placement: int) -> ImuSamples:
        keep = self.placement == placement
        return ImuSamples(*(getattr(self, name)[keep] for name in self.__slots__))


@dataclass(frozen=True, slots=True)
class Decoded:
    """Everything one feed of bytes yielded. Pressure frames come grouped by mat geometry."""

    pressure: tuple[PressureFrames, ...] = ()
    status: StatusReports | None = None
    imu: ImuSamples | None = None

    @property
    def pressure_frames(self) -> int:
        return sum(len(frames) for frames in self.pressure)


# --- LegIMU notifications ----------------------------------------------------------------------


class _ImuCollector:
    """Accumulates decoded notifications and concatenates them once per feed."""

    __slots__ = ("arrival", "device_ms", "placement", "raw", "seq")

    def __init__(self) -> None:
        self.placement: list[np.ndarray] = []
        self.arrival: list[np.ndarray] = []
        self.device_ms: list[np.ndarray] = []
        self.seq: list[np.ndarray] = []
        self.raw: list[np.ndarray] = []

    def add(self, placement: int, arrival_s: float, first_ms: int, seq: int,
            samples: np.ndarray, rate_hz: float) -> None:
        n = samples.shape[0]
        self.placement.append(np.full(n, placement, np.uint8))
        self.arrival.append(np.full(n, arrival_s, np.float64))
        self.device_ms.append(first_ms + np.arange(n, dtype=np.float64) * (1000.0 / rate_hz))
        self.seq.append(np.full(n, seq, np.uint16))
        self.raw.append(samples)

    def build(self) -> ImuSamples | None:
        if not self.raw:
            return None
        raw = np.concatenate(self.raw)
        return ImuSamples(
            placement=np.concatenate(self.placement),
            arrival_s=np.concatenate(self.arrival),
            device_ms=np.concatenate(self.device_ms),
            seq=np.concatenate(self.seq),
            accel_mg=raw[:, :3].copy(),
            gyro_dps10=raw[:, 3:].copy(),
        )


class LegImuDecoder:
    """Decodes LegIMU notifications (one per BLE notification, or one per wired IMU packet)."""

    def __init__(self, *, rate_hz: float = DEFAULT_IMU_RATE_HZ,
                 placement: int | None = None, counters: StreamCounters | None = None):
        if rate_hz <= 0:
            raise ValueError(f"rate_hz must be positive, got {rate_hz}")
        self.rate_hz = rate_hz
        self.expected_placement = placement
        self.counters = counters if counters is not None else StreamCounters()
        self._seq: dict[int, _SeqTracker] = {}
        self._clock: dict[int, _Unwrapper] = {}

    def feed(self, notifications: list[bytes] | tuple[bytes, ...],
             arrivals_s: list[float] | tuple[float, ...] | np.ndarray) -> ImuSamples | None:
        """Decode many notifications at once; returns None when none held a valid sample."""
        collector = _ImuCollector()
        for data, arrival_s in zip(notifications, arrivals_s, strict=True):
            self._decode_one(data, float(arrival_s), collector)
        return collector.build()

    def _decode_one(self, data: bytes, arrival_s: float, collector: _ImuCollector) -> None:
        counters = self.counters
        if len(data) < _IMU_HEADER.size:
            counters.bad[BAD_SHORT] += 1
            return
        version_placement, n, seq, device_ms = _IMU_HEADER.unpack_from(data)
        version, placement = version_placement >> 4, version_placement & 0x0F
        if version != PROTOCOL_VERSION:
            counters.bad[BAD_VERSION] += 1
            return
        if not 1 <= n <= _MAX_IMU_SAMPLES or len(data) != _IMU_HEADER.size + 12 * n:
            counters.bad[BAD_LENGTH] += 1
            return
        if placement not in PLACEMENTS or (
                self.expected_placement is not None and placement != self.expected_placement):
            counters.bad[BAD_PLACEMENT] += 1
            return
        counters.packets += 1
        counters.imu_samples += n
        self._seq.setdefault(placement, _SeqTracker()).observe(seq, counters)
        first_ms = self._clock.setdefault(placement, _Unwrapper())(device_ms)
        samples = np.frombuffer(data, _IMU_SAMPLE_DTYPE, count=6 * n,
                                offset=_IMU_HEADER.size).reshape(n, 6)
        collector.add(placement, arrival_s, first_ms, seq, samples, self.rate_hz)


# --- SeatMat serial stream ---------------------------------------------------------------------


class _MatCollector:
    __slots__ = ("imu", "pressure", "status")

    def __init__(self) -> None:
        # geometry -> (arrival, device_ms, seq, counts) lists, in arrival order of geometries
        self.pressure: dict[tuple[int, int], tuple[list, list, list, list]] = {}
        self.status: tuple[list, list, list, list, list] = ([], [], [], [], [])
        self.imu = _ImuCollector()

    def build(self) -> Decoded:
        pressure = tuple(
            PressureFrames(
                arrival_s=np.array(arrival, np.float64),
                device_ms=np.array(device_ms, np.int64),
                seq=np.array(seq, np.uint16),
                counts=np.stack(counts).reshape(len(counts), rows, cols),
            )
            for (rows, cols), (arrival, device_ms, seq, counts) in self.pressure.items()
        )
        arrival, device_ms, firmware, rate, faults = self.status
        status = StatusReports(
            arrival_s=np.array(arrival, np.float64),
            device_ms=np.array(device_ms, np.int64),
            firmware_version=np.array(firmware, np.uint16),
            rate_hz=np.array(rate, np.uint16),
            fault_flags=np.array(faults, np.uint8),
        ) if arrival else None
        return Decoded(pressure=pressure, status=status, imu=self.imu.build())


class SeatMatDecoder:
    """Decodes the SeatMat's COBS stream, however it is split into reads.

    Bytes before the first delimiter may be the tail of a packet the reader
    joined mid-way: when they do not form a valid packet they are dropped as
    `skipped_bytes` (the spec's resynchronisation), not counted as bad.
    """

    def __init__(self, *, imu_rate_hz: float = DEFAULT_IMU_RATE_HZ,
                 counters: StreamCounters | None = None):
        self.counters = counters if counters is not None else StreamCounters()
        self._pending = bytearray()
        self._synced = False
        self._seq = {kind: _SeqTracker() for kind in (KIND_PRESSURE, KIND_STATUS)}
        self._clock = _Unwrapper()
        self._imu = LegImuDecoder(rate_hz=imu_rate_hz, counters=self.counters)

    def feed(self, data: bytes, arrival_s: float = 0.0) -> Decoded:
        """Decode every packet completed by `data`; a trailing partial packet waits for more."""
        return self.feed_many((data,), (arrival_s,))

    def feed_many(self, chunks: list[bytes] | tuple[bytes, ...],
                  arrivals_s: list[float] | tuple[float, ...] | np.ndarray) -> Decoded:
        """Decode many reads at once (a replay's batch); each packet gets its completing read's time."""
        collector = _MatCollector()
        for data, arrival_s in zip(chunks, arrivals_s, strict=True):
            if not data:
                continue
            self._pending += data
            if 0 not in data:
                continue
            *packets, rest = bytes(self._pending).split(b"\x00")
            self._pending = bytearray(rest)
            for encoded in packets:
                self._decode_packet(encoded, float(arrival_s), collector)
        return collector.build()

    @property
    def pending_bytes(self) -> int:
        return len(self._pending)

    def _decode_packet(self, encoded: bytes, arrival_s: float, collector: _MatCollector) -> None:
        counters = self.counters
        first = not self._synced
        self._synced = True
        if not encoded:
            return  # back-to-back delimiters carry no packet
        try:
            packet = cobs.decode(encoded)
        except cobs.DecodeError:
            packet = None
        if packet is None or len(packet) < _MIN_PACKET or (
                binascii.crc_hqx(packet[:-2], 0xFFFF) != _CRC.unpack_from(packet, len(packet) - 2)[0]):
            if first:
                counters.skipped_bytes += len(encoded) + 1
            elif packet is None:
                counters.bad[BAD_COBS] += 1
            elif len(packet) < _MIN_PACKET:
                counters.bad[BAD_SHORT] += 1
            else:
                counters.bad[BAD_CRC] += 1
            return
        kind, version, seq, device_ms = _HEADER.unpack_from(packet)
        if version != PROTOCOL_VERSION:
            counters.bad[BAD_VERSION] += 1
            return
        payload = memoryview(packet)[_HEADER.size:-2]
        if kind == KIND_PRESSURE:
            self._pressure(payload, arrival_s, seq, device_ms, collector)
        elif kind == KIND_STATUS:
            self._status(payload, arrival_s, seq, device_ms, collector)
        elif kind == KIND_IMU:
            self._wired_imu(payload, arrival_s, collector)
        else:
            counters.bad[BAD_KIND] += 1

    def _pressure(self, payload: memoryview, arrival_s: float, seq: int, device_ms: int,
                  collector: _MatCollector) -> None:
        counters = self.counters
        if len(payload) < 2:
            counters.bad[BAD_LENGTH] += 1
            return
        rows, cols = payload[0], payload[1]
        if rows == 0 or cols == 0 or len(payload) != 2 + 2 * rows * cols:
            counters.bad[BAD_LENGTH] += 1
            return
        counts = np.frombuffer(payload, "<u2", offset=2)
        if counts.max() > 4095:
            counters.bad[BAD_VALUE] += 1
            return
        counters.packets += 1
        counters.pressure_frames += 1
        self._seq[KIND_PRESSURE].observe(seq, counters)
        group = collector.pressure.setdefault((rows, cols), ([], [], [], []))
        group[0].append(arrival_s)
        group[1].append(self._clock(device_ms))
        group[2].append(seq)
        group[3].append(counts)

    def _status(self, payload: memoryview, arrival_s: float, seq: int, device_ms: int,
                collector: _MatCollector) -> None:
        counters = self.counters
        if len(payload) != _STATUS.size:
            counters.bad[BAD_LENGTH] += 1
            return
        counters.packets += 1
        counters.status_packets += 1
        self._seq[KIND_STATUS].observe(seq, counters)
        for column, value in zip(collector.status,
                                 (arrival_s, self._clock(device_ms), *_STATUS.unpack(payload))):
            column.append(value)

    def _wired_imu(self, payload: memoryview, arrival_s: float, collector: _MatCollector) -> None:
        """An IMU packet is a placement byte plus one LegIMU notification, decoded the same way."""
        if len(payload) < 1:
            self.counters.bad[BAD_LENGTH] += 1
            return
        placement, notification = payload[0], bytes(payload[1:])
        if placement not in PLACEMENTS:
            self.counters.bad[BAD_PLACEMENT] += 1
            return
        if len(notification) >= 1 and (notification[0] & 0x0F) != placement:
            self.counters.bad[BAD_PLACEMENT] += 1
            return
        self._imu._decode_one(notification, arrival_s, collector.imu)
