"""The ingest client's MQTT 3.1.1 codec: a byte stream splits into the same packets however the
socket cuts it, and what is not MQTT is refused rather than guessed at."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.ingest import packets as p

TOPICS = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
    min_size=1,
    max_size=40,
)
PUBLISHES = st.builds(
    lambda topic, payload, qos, pid, dup: p.publish(topic, payload, qos, pid if qos else 0, dup),
    TOPICS,
    st.binary(max_size=300),
    st.sampled_from([0, 1]),
    st.integers(1, 0xFFFF),
    st.booleans(),
)
CONTROL = st.sampled_from(
    [p.PINGREQ_PACKET, b"\xd0\x00", p.puback(7), b"\x20\x02\x01\x00", b"\x90\x03\x00\x01\x01"]
)
STREAMS = st.lists(st.one_of(PUBLISHES, CONTROL), min_size=1, max_size=30)


def _read_all(chunks: list[bytes]) -> list[tuple[int, bytes]]:
    reader = p.PacketReader()
    return [packet for chunk in chunks for packet in reader.feed(chunk)]


def _cut(stream: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(stream) + 1) for c in cuts})
    edges = [0, *points, len(stream)]
    return [stream[a:b] for a, b in pairwise(edges)]


@given(packets=STREAMS, cuts=st.lists(st.integers(0, 100_000), max_size=40))
def test_any_split_of_a_stream_gives_the_same_packets(
    packets: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(packets)
    whole = _read_all([stream])
    assert len(whole) == len(packets)
    assert _read_all(_cut(stream, cuts)) == whole
    assert _read_all([bytes([b]) for b in stream]) == whole  # one byte at a time


@given(
    topic=TOPICS,
    payload=st.binary(max_size=2000),
    qos=st.sampled_from([0, 1]),
    pid=st.integers(1, 0xFFFF),
    dup=st.booleans(),
)
def test_a_publish_reads_back_as_written(
    topic: str, payload: bytes, qos: int, pid: int, dup: bool
) -> None:
    [(first, body)] = p.PacketReader().feed(p.publish(topic, payload, qos, pid, dup))
    message = p.parse_publish(first, body)
    assert (message.topic, message.payload, message.qos) == (topic, payload, qos)
    assert message.packet_id == (pid if qos else 0)
    assert message.dup == (dup and qos == 1)


@pytest.mark.parametrize("n", [0, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455])
def test_remaining_length_round_trips_at_every_byte_boundary(n: int) -> None:
    encoded = p.remaining_length(n)
    reader = p.PacketReader(max_packet=p.MAX_REMAINING_LENGTH)
    assert reader.feed(b"\x30" + encoded) == ([(0x30, b"")] if n == 0 else [])
    assert len(encoded) == 1 + (n >= 128) + (n >= 16_384) + (n >= 2_097_152)


def test_a_fifth_remaining_length_byte_is_refused() -> None:
    with pytest.raises(p.MalformedPacketError, match="four bytes"):
        p.PacketReader().feed(b"\x30\xff\xff\xff\xff\x01")


def test_a_packet_larger_than_the_limit_is_refused_before_it_is_buffered() -> None:
    reader = p.PacketReader(max_packet=1024)
    with pytest.raises(p.MalformedPacketError, match="1025 bytes"):
        reader.feed(b"\x30" + p.remaining_length(1025))


@pytest.mark.parametrize(
    ("first", "body", "why"),
    [
        (0x36, b"\x00\x01a\x00\x01", "QoS 3"),
        (0x32, b"\x00\x01a", "packet identifier"),
        (0x30, b"\x00\x09ab", "runs past"),
        (0x30, b"\x00\x02\xff\xfe", "UTF-8"),
    ],
)
def test_a_malformed_publish_is_refused(first: int, body: bytes, why: str) -> None:
    with pytest.raises(p.MalformedPacketError, match=why):
        p.parse_publish(first, body)


def test_connect_carries_the_persistent_session_and_the_credentials() -> None:
    packet = p.connect(
        "firegrid-gateway", clean_session=False, keepalive_s=60, username="gw", password="pw"
    )
    [(first, body)] = p.PacketReader().feed(packet)
    assert first == p.CONNECT
    assert body[:7] == b"\x00\x04MQTT\x04"
    assert body[7] == 0xC0  # user name + password, clean session off
    assert body[8:10] == (60).to_bytes(2, "big")
    assert body.endswith(b"\x00\x02gw\x00\x02pw")
