"""Every codec against whatever a broken or hostile device can send (hypothesis).

Whatever arrives, a codec either refuses the whole message with DecodeError or returns only
declared fields of their declared type, inside their declared range, with a believable time;
and a valid message decodes to exactly what was sent.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.codecs import Codec, Decoded, DecodeError, build_codec
from gateway.codecs.base import EARLIEST_TS, MAX_FUTURE_S
from gateway.codecs.binary_struct import crc16_modbus
from gateway.codecs.depth import nesting_depth, nesting_exceeds
from gateway.codecs.json_map import MAX_DEPTH
from gateway.profiles import BinaryStructCodec, DeviceProfile, FieldSpec, JsonMapCodec
from tests.fixtures.registry import PROFILES

T0 = 1767225600.0
# Bounded in time for CI; no example database written into the working tree.
BOUNDED = settings(
    max_examples=60,
    deadline=1000,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
JSON_PROFILES = [p for p in PROFILES.values() if not isinstance(p.codec, BinaryStructCodec)]
BINARY_PROFILES = [p for p in PROFILES.values() if isinstance(p.codec, BinaryStructCodec)]
ALL = pytest.mark.parametrize("profile", PROFILES.values(), ids=lambda p: p.name)
JSON_ONLY = pytest.mark.parametrize("profile", JSON_PROFILES, ids=lambda p: p.name)
BINARY_ONLY = pytest.mark.parametrize("profile", BINARY_PROFILES, ids=lambda p: p.name)

# Brackets, quotes and backslashes inside strings are what a depth scanner can trip over.
TRICKY_TEXT = st.text(alphabet=st.sampled_from('ab[]{}"\\:,é火 \n'), max_size=12) | st.text(
    max_size=12
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TRICKY_TEXT
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TRICKY_TEXT, inner, max_size=4),
    max_leaves=12,
)


def _keys(profile: DeviceProfile) -> list[str]:
    """Every key the codec looks at, so generated payloads hit them, not just random keys."""
    keys = [*profile.fields, "ts", "seq", "last_seen", *getattr(profile.codec, "map", {})]
    if isinstance(profile.codec, JsonMapCodec) and profile.codec.device_key:
        keys.append(profile.codec.device_key)
    return keys


def _objects(profile: DeviceProfile) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(_keys(profile)) | TRICKY_TEXT, JSON, max_size=6)


def _field_spec(profile: DeviceProfile, name: str) -> FieldSpec:
    if name in profile.fields:
        return profile.fields[name]
    base, _, channel = name.rpartition("_")
    spec = profile.fields[base]  # an undeclared name fails the test here
    assert spec.channels is not None and 1 <= int(channel) <= spec.channels
    return spec


def assert_sound(profile: DeviceProfile, decoded: Decoded, received_at: float = T0) -> None:
    """Only declared fields, each of its type and in its range; a believable time."""
    for name, value in decoded.fields.items():
        spec = _field_spec(profile, name)
        kind = {"bool": bool, "int": int, "float": float, "str": str}[spec.type]
        assert type(value) is kind, (name, value)
        if isinstance(value, float):
            assert math.isfinite(value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            assert spec.min is None or value >= spec.min
            assert spec.max is None or value <= spec.max
        if spec.enum is not None:
            assert value in spec.enum
    assert decoded.ts == received_at or EARLIEST_TS <= decoded.ts <= received_at + MAX_FUTURE_S
    assert decoded.seq is None or (type(decoded.seq) is int and decoded.seq >= 0)


def decode_or_refuse(codec: Codec, payload: bytes) -> Decoded | None:
    try:
        return codec.decode(payload, T0)
    except DecodeError:
        return None  # refused whole: the one allowed failure


@ALL
@BOUNDED
@given(payload=st.binary(max_size=300))
def test_any_bytes_are_decoded_soundly_or_refused(profile: DeviceProfile, payload: bytes) -> None:
    decoded = decode_or_refuse(build_codec(profile), payload)
    if decoded is not None:
        assert_sound(profile, decoded)


@JSON_ONLY
@BOUNDED
@given(data=st.data())
def test_any_json_object_is_decoded_soundly_or_refused(
    profile: DeviceProfile, data: st.DataObject
) -> None:
    obj = data.draw(_objects(profile))
    # The standard library writes what orjson would refuse to: integers past 64 bits.
    decoded = decode_or_refuse(build_codec(profile), json.dumps(obj).encode())
    if decoded is not None:
        assert_sound(profile, decoded)


def _valid_value(spec: FieldSpec) -> st.SearchStrategy[Any]:
    if spec.type == "bool":
        return st.booleans()
    if spec.type == "str":
        return st.sampled_from(spec.enum) if spec.enum else st.text(max_size=30)
    low = -1e6 if spec.min is None else spec.min
    high = 1e6 if spec.max is None else spec.max
    if spec.type == "int":
        return st.integers(math.ceil(low), math.floor(high))
    return st.floats(low, high, allow_nan=False) | st.integers(math.ceil(low), math.floor(high))


@JSON_ONLY
@BOUNDED
@given(data=st.data())
def test_a_valid_json_message_decodes_to_exactly_what_was_sent(
    profile: DeviceProfile, data: st.DataObject
) -> None:
    names = data.draw(st.lists(st.sampled_from(sorted(profile.fields)), unique=True))
    sent: dict[str, Any] = {}
    expected: dict[str, Any] = {}
    for name in names:
        spec = profile.fields[name]
        kind = {"bool": bool, "int": int, "float": float, "str": str}[spec.type]
        if spec.channels is None:
            sent[name] = data.draw(_valid_value(spec))
            expected[name] = kind(sent[name])
        else:
            sent[name] = data.draw(st.lists(_valid_value(spec), max_size=spec.channels))
            expected |= {f"{name}_{i}": kind(v) for i, v in enumerate(sent[name], 1)}
    ts = None
    if isinstance(profile.codec, JsonMapCodec):  # Zigbee2MQTT's time is last_seen instead
        ts = data.draw(st.none() | st.integers(int(EARLIEST_TS), int(T0)))
        if ts is not None:
            sent[profile.codec.ts_key] = ts
        if profile.codec.device_key:
            sent[profile.codec.device_key] = "tag-1"
    # A vendor's key is renamed: send the field under it when the profile maps one.
    vendor = {target: source for source, target in getattr(profile.codec, "map", {}).items()}
    payload = {vendor.get(k, k): v for k, v in sent.items()}
    decoded = build_codec(profile).decode(orjson.dumps(payload), T0)
    assert decoded.fields == expected
    assert decoded.problems == []
    assert decoded.ts == (T0 if ts is None else ts)


def _frame(profile: DeviceProfile, raws: list[int]) -> bytes:
    spec = profile.codec
    assert isinstance(spec, BinaryStructCodec)
    order = ">" if spec.byte_order == "big" else "<"
    frame = bytearray(spec.length)
    magic = bytes.fromhex(spec.magic or "")
    frame[: len(magic)] = magic
    for item, raw in zip(spec.layout, raws, strict=True):
        struct.pack_into(order + _FMT[item.type], frame, item.offset, raw)
    if spec.checksum is not None:
        at = spec.checksum.offset
        frame[at : at + 2] = crc16_modbus(bytes(frame[:at])).to_bytes(2, "little")
    return bytes(frame)


_FMT = {"u8": "B", "i8": "b", "u16": "H", "i16": "h", "u32": "I", "i32": "i"}
_RANGE = {
    "u8": (0, 2**8 - 1),
    "i8": (-(2**7), 2**7 - 1),
    "u16": (0, 2**16 - 1),
    "i16": (-(2**15), 2**15 - 1),
    "u32": (0, 2**32 - 1),
    "i32": (-(2**31), 2**31 - 1),
}


def _raws(profile: DeviceProfile) -> st.SearchStrategy[list[int]]:
    assert isinstance(profile.codec, BinaryStructCodec)
    return st.tuples(*(st.integers(*_RANGE[i.type]) for i in profile.codec.layout)).map(list)


@BINARY_ONLY
@BOUNDED
@given(data=st.data())
def test_a_well_formed_frame_decodes_every_item_by_its_layout(
    profile: DeviceProfile, data: st.DataObject
) -> None:
    raws = data.draw(_raws(profile))
    decoded = build_codec(profile).decode(_frame(profile, raws), T0)
    assert_sound(profile, decoded)
    assert isinstance(profile.codec, BinaryStructCodec)
    for item, raw in zip(profile.codec.layout, raws, strict=True):
        if item.bits is not None:
            assert {n: decoded.fields[n] for n in item.bits} == {
                n: bool(raw >> bit & 1) for n, bit in item.bits.items()
            }
        elif item.field == "seq":
            assert decoded.seq == raw
        elif item.field != "ts":
            assert item.field is not None
            value = round(raw * item.scale + item.add, 6)
            spec = profile.fields[item.field]
            inside = (spec.min is None or value >= spec.min) and (
                spec.max is None or value <= spec.max
            )
            assert decoded.fields.get(item.field) == (value if inside else None)


@BINARY_ONLY
@BOUNDED
@given(data=st.data())
def test_any_changed_byte_of_a_frame_is_refused(
    profile: DeviceProfile, data: st.DataObject
) -> None:
    frame = bytearray(_frame(profile, data.draw(_raws(profile))))
    at = data.draw(st.integers(0, len(frame) - 1))
    frame[at] ^= data.draw(st.integers(1, 255))  # CRC-16 catches every single-byte error
    with pytest.raises(DecodeError):
        build_codec(profile).decode(bytes(frame), T0)


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


@settings(BOUNDED, max_examples=200)
@given(value=JSON)
def test_the_depth_scan_agrees_with_the_parsed_value(value: Any) -> None:
    text = json.dumps(value).encode()
    assert nesting_depth(text) == _depth(value)
    assert nesting_exceeds(text, 2) == (_depth(value) > 2)


@settings(BOUNDED, max_examples=200)
@given(text=st.binary(max_size=200) | st.text(alphabet='[]{}"\\a', max_size=200).map(str.encode))
def test_the_depth_scan_reads_any_bytes_and_its_shortcut_agrees(text: bytes) -> None:
    for limit in (0, 1, 3):
        assert nesting_exceeds(text, limit) == (nesting_depth(text) > limit)


@JSON_ONLY
@pytest.mark.parametrize("extra", [0, 1])
def test_nesting_past_the_limit_is_refused_before_parsing(
    profile: DeviceProfile, extra: int
) -> None:
    nested: Any = 1
    for _ in range(MAX_DEPTH - 1 + extra):  # the object itself is one level
        nested = [nested]
    key = next(iter(profile.fields))
    payload = orjson.dumps({key: nested, "tag": "tag-1"})
    if extra:
        with pytest.raises(DecodeError) as refused:
            build_codec(profile).decode(payload, T0)
        assert refused.value.problem.reason == "too_deep"
    else:
        assert decode_or_refuse(build_codec(profile), payload) is not None


@JSON_ONLY
def test_a_nesting_bomb_the_parser_itself_would_choke_on_is_refused_as_too_deep(
    profile: DeviceProfile,
) -> None:
    bomb = b'{"smoke": ' + b"[" * 60_000 + b"]" * 60_000 + b"}"
    with pytest.raises(DecodeError) as refused:
        build_codec(profile).decode(bomb, T0)
    assert refused.value.problem.reason == "too_deep"


def test_enum_and_tag_values_are_shared_strings_not_one_per_reading() -> None:
    """A district's patrol tags each keep their latest scan: "ok" and the worker's id are held
    once, not once per tag (each decode makes new strings from the payload)."""
    codec = build_codec(PROFILES["nfc-patrol-tag"])
    first, second = (
        codec.decode(
            orjson.dumps({"tag": t, "worker_id": "w" + "017", "ts": T0, "result": "o" + "k"}),
            T0 + 1,
        )
        for t in ("04:A2:2B:1C:5F:80", "04:A2:2B:1C:5F:81")
    )
    assert first.fields["result"] == "ok" and first.fields["worker_id"] == "w017"
    assert first.fields["result"] is second.fields["result"]
    assert first.fields["worker_id"] is second.fields["worker_id"]
