"""MQTT 3.1.1 packets: the ones the ingest client writes, and a reader that splits a byte stream.

Only what a persistent QoS 1 subscriber that also publishes needs: CONNECT/CONNACK,
SUBSCRIBE/SUBACK, PUBLISH (QoS 0 and 1 both ways, QoS 2 answered), PUBACK, PINGREQ/PINGRESP
and DISCONNECT (OASIS MQTT 3.1.1, section 3). Pure functions over bytes: no socket, no clock.
"""

from __future__ import annotations

from typing import Final

CONNECT, CONNACK, PUBLISH, PUBACK = 0x10, 0x20, 0x30, 0x40
PUBREC, PUBREL, PUBCOMP = 0x50, 0x60, 0x70
SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 0x82, 0x90, 0xC0, 0xD0, 0xE0

PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_PACKET = b"\xe0\x00"
MAX_REMAINING_LENGTH = 268_435_455  # four length bytes of seven bits (spec 2.2.3)

CONNACK_REFUSALS = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorized",
}


class MalformedPacketError(ValueError):
    """The byte stream is not MQTT: the connection must be closed (spec 4.8)."""


class Publish:
    """One PUBLISH as received. A plain class, not a NamedTuple: compiled, a NamedTuple is
    still built by its interpreted ``__new__``, a Python call on every message."""

    __slots__ = ("dup", "packet_id", "payload", "qos", "topic")

    def __init__(self, topic: str, payload: bytes, qos: int, packet_id: int, dup: bool) -> None:
        self.topic: Final = topic
        self.payload: Final = payload
        self.qos: Final = qos
        self.packet_id: Final = packet_id  # 0 for QoS 0
        self.dup: Final = dup


def remaining_length(n: int) -> bytes:
    """The variable-length encoding of a packet's remaining length."""
    if not 0 <= n <= MAX_REMAINING_LENGTH:
        raise ValueError(f"remaining length {n} out of range")
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | 0x80 if n else digit)
        if not n:
            return bytes(out)


def _string(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    if len(raw) > 0xFFFF:
        raise ValueError("MQTT strings are at most 65535 bytes")
    return len(raw).to_bytes(2, "big") + raw


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + remaining_length(len(body)) + body


def connect(
    client_id: str,
    *,
    clean_session: bool,
    keepalive_s: int,
    username: str | None = None,
    password: str | None = None,
) -> bytes:
    flags = 0x02 if clean_session else 0x00
    payload = _string(client_id)
    if username is not None:
        flags |= 0x80
        payload += _string(username)
        if password is not None:
            flags |= 0x40
            payload += _string(password)
    header = _string("MQTT") + bytes([4, flags]) + keepalive_s.to_bytes(2, "big")
    return _packet(CONNECT, header + payload)


def subscribe(packet_id: int, filters: list[str], qos: int) -> bytes:
    body = packet_id.to_bytes(2, "big") + b"".join(_string(f) + bytes([qos]) for f in filters)
    return _packet(SUBSCRIBE, body)


def publish(
    topic: str | bytes, payload: bytes, qos: int, packet_id: int = 0, dup: bool = False
) -> bytes:
    first = PUBLISH | qos << 1 | (0x08 if dup and qos else 0)  # DUP is 0 at QoS 0
    ident = packet_id.to_bytes(2, "big") if qos else b""
    return _packet(first, _string(topic) + ident + payload)


def ack(kind: int, packet_id: int) -> bytes:
    """PUBACK, PUBREC, PUBREL (whose flags must be 0b0010) or PUBCOMP."""
    return bytes([kind | (0x02 if kind == PUBREL else 0), 2]) + packet_id.to_bytes(2, "big")


PUBACK_SIZE = 4  # bytes of a PUBACK (and of a PUBREC)


def puback(packet_id: int) -> bytes:
    return b"\x40\x02" + packet_id.to_bytes(2, "big")


def parse_publish(first: int, body: bytes) -> Publish:
    qos = first >> 1 & 0x03
    if qos == 3 or len(body) < 2:
        raise MalformedPacketError("PUBLISH with QoS 3 or without a topic")
    end = 2 + (body[0] << 8 | body[1])
    try:
        topic = body[2:end].decode()
    except UnicodeDecodeError:
        raise MalformedPacketError("PUBLISH topic is not UTF-8") from None
    if qos == 0:
        if end > len(body):
            raise MalformedPacketError("PUBLISH topic runs past the packet")
        return Publish(topic, body[end:], 0, 0, False)
    if end + 2 > len(body):
        raise MalformedPacketError("PUBLISH without its packet identifier")
    packet_id = body[end] << 8 | body[end + 1]
    return Publish(topic, body[end + 2 :], qos, packet_id, bool(first & 0x08))


def packet_id(body: bytes) -> int:
    """The identifier of a PUBACK, PUBREC, PUBREL, PUBCOMP or SUBACK."""
    if len(body) < 2:
        raise MalformedPacketError("acknowledgement without a packet identifier")
    return body[0] << 8 | body[1]


class PacketReader:
    """Feed it whatever the socket gave; get every complete packet as ``(first byte, body)``.

    An incomplete tail is kept for the next feed. A remaining length longer than four bytes,
    or a packet larger than ``max_packet``, raises :class:`MalformedPacketError`.
    """

    def __init__(self, max_packet: int = 16 * 1024 * 1024) -> None:
        self._max_packet = max_packet
        self._tail = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buf = self._tail + data if self._tail else data
        packets: list[tuple[int, bytes]] = []
        pos, end = 0, len(buf)
        while end - pos >= 2:
            length, shift, i = 0, 0, pos + 1
            while True:
                if i == end:
                    self._tail = buf[pos:]
                    return packets
                byte = buf[i]
                length |= (byte & 0x7F) << shift
                i += 1
                if not byte & 0x80:
                    break
                shift += 7
                if shift == 28:
                    raise MalformedPacketError("remaining length longer than four bytes")
            if length > self._max_packet:
                raise MalformedPacketError(f"packet of {length} bytes > {self._max_packet}")
            if i + length > end:
                break
            packets.append((buf[pos], buf[i : i + length]))
            pos = i + length
        self._tail = buf[pos:]
        return packets
