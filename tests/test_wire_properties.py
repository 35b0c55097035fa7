"""Property tests: no byte sequence makes a decoder raise, and the stream resynchronises."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.wire import LegImuDecoder, SeatMatDecoder
from firmware_sim import packets

FRAMES = np.random.default_rng(7).integers(0, 4096, size=(6, 4, 4), dtype=np.uint16)
ENCODED = [packets.seatmat_packet(packets.KIND_PRESSURE, i, 50 * i, packets.pressure_payload(f))
           for i, f in enumerate(FRAMES)]

settings.register_profile("decoders", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("decoders")


def decode_seqs(stream: bytes, splits: list[int]) -> tuple[list[int], SeatMatDecoder]:
    decoder = SeatMatDecoder()
    cuts = sorted({min(s, len(stream)) for s in splits} | {0, len(stream)})
    parts = [stream[a:b] for a, b in itertools.pairwise(cuts)]
    decoded = decoder.feed_many(parts, [0.0] * len(parts))
    seqs: list[int] = []
    for frames in decoded.pressure:
        for seq, counts in zip(frames.seq.tolist(), frames.counts):
            if seq < len(FRAMES) and np.array_equal(counts, FRAMES[seq]):
                seqs.append(seq)
    return seqs, decoder


@given(st.binary(max_size=2000), st.lists(st.integers(0, 2000), max_size=20))
def test_random_bytes_never_raise(data, splits):
    _, mat = decode_seqs(data, splits)
    assert_every_packet_accounted_for(data, mat)
    decoder = LegImuDecoder()
    decoder.feed([data], [0.0])
    decoder.feed([data[:i] for i in range(0, min(len(data), 300), 17)],
                 [0.0] * len(range(0, min(len(data), 300), 17)))


corruptions = st.sampled_from(["flip", "insert", "drop", "truncate"])


@given(victim=st.integers(0, len(ENCODED) - 1), how=corruptions, where=st.integers(0, 10_000),
       byte=st.integers(0, 255), bit=st.integers(0, 7),
       splits=st.lists(st.integers(0, 3000), max_size=10))
def test_one_corrupted_packet_costs_at_most_itself_and_its_neighbour(victim, how, where, byte,
                                                                     bit, splits):
    packet = bytearray(ENCODED[victim])
    pos = where % len(packet)
    if how == "flip":
        packet[pos] ^= 1 << bit
    elif how == "insert":
        packet.insert(pos, byte)
    elif how == "drop":
        del packet[pos]
    else:
        del packet[pos:]
    stream = b"".join(ENCODED[:victim]) + bytes(packet) + b"".join(ENCODED[victim + 1:])
    seqs, decoder = decode_seqs(stream, splits)
    # A damaged delimiter may merge the victim with the packet after it; nothing else is lost,
    # and the stream is decoding again by the next intact packet.
    lost = {victim, victim + 1} if how in ("drop", "flip", "truncate") else {victim}
    expected = [i for i in range(len(ENCODED)) if i not in lost]
    assert [s for s in seqs if s not in lost] == expected
    assert_every_packet_accounted_for(stream, decoder)


def assert_every_packet_accounted_for(stream: bytes, decoder: SeatMatDecoder) -> None:
    """Each delimited segment is a packet, a counted bad packet, or the skipped first tail."""
    complete = [seg for seg in stream.split(b"\x00")[:-1] if seg]
    counters = decoder.counters
    skipped = 1 if counters.skipped_bytes else 0
    assert counters.packets + counters.bad_packets + skipped == len(complete)
    assert decoder.pending_bytes == len(stream.split(b"\x00")[-1])


@given(st.integers(0, 18), st.integers(0, 7), st.integers(0, 400))
def test_imu_bit_flips_are_decoded_or_counted(n_minus_1, bit, where):
    samples = np.arange((n_minus_1 + 1) * 6, dtype=np.int16).reshape(-1, 6)
    note = bytearray(packets.imu_notification(1, 3, 100, samples))
    note[where % len(note)] ^= 1 << bit
    decoder = LegImuDecoder()
    got = decoder.feed([bytes(note)], [0.0])
    decoded = 0 if got is None else len(got)
    assert decoded == decoder.counters.imu_samples
    assert (decoder.counters.packets, decoder.counters.bad_packets) in ((1, 0), (0, 1))


@given(st.lists(st.binary(max_size=300), max_size=30), st.sampled_from([None, 1, 2]))
def test_random_notifications_are_each_decoded_or_counted_once(notifications, placement):
    decoder = LegImuDecoder(placement=placement)
    got = decoder.feed(notifications, [0.1 * i for i in range(len(notifications))])
    counters = decoder.counters
    assert counters.packets + counters.bad_packets == len(notifications)
    assert (0 if got is None else len(got)) == counters.imu_samples


@given(version=st.integers(0, 15), placement=st.integers(0, 15), n=st.integers(0, 31),
       extra=st.integers(-13, 13), seq=st.integers(0, 0xFFFF),
       device_ms=st.integers(0, 0xFFFFFFFF), payload=st.binary(min_size=400, max_size=400))
def test_notifications_with_a_plausible_header_are_decoded_or_counted(version, placement, n,
                                                                      extra, seq, device_ms,
                                                                      payload):
    header = (bytes([version << 4 | placement, n]) + seq.to_bytes(2, "little")
              + device_ms.to_bytes(4, "little"))
    note = header + payload[:max(0, 12 * n + extra)]
    decoder = LegImuDecoder()
    got = decoder.feed([note, note], [1.0, 1.0])
    counters = decoder.counters
    assert counters.packets + counters.bad_packets == 2
    assert (0 if got is None else len(got)) == counters.imu_samples
    if got is not None:
        assert np.isfinite(got.device_ms).all() and np.isfinite(got.arrival_s).all()


@given(kind=st.sampled_from([packets.KIND_PRESSURE, packets.KIND_STATUS, packets.KIND_IMU, 0x7F]),
       payload=st.binary(max_size=600), seq=st.integers(0, 0xFFFF),
       splits=st.lists(st.integers(0, 700), max_size=5))
def test_a_sound_packet_with_a_random_payload_is_decoded_or_counted_once(kind, payload, seq,
                                                                         splits):
    stream = packets.seatmat_packet(kind, seq, 0, payload)
    _, decoder = decode_seqs(b"\x00" + stream, splits)  # the leading delimiter: in sync
    counters = decoder.counters
    assert counters.packets + counters.bad_packets == 1
    assert counters.pressure_frames + counters.status_packets <= 1
