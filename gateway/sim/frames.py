"""Binary frames built from a profile's ``binary-struct`` layout: the decoder run backwards.

Nothing here knows the NB-IoT smoke detector's frame: any profile declaring a ``binary-struct``
codec (magic, offsets, types, scales, flag bits, checksum) can be simulated from its YAML.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

from gateway.codecs.binary_struct import crc16_modbus
from gateway.model import FieldValue
from gateway.profiles import BinaryStructCodec, StructItem

_FORMATS = {"u8": "B", "i8": "b", "u16": "H", "i16": "h", "u32": "I", "i32": "i", "f32": "f"}


def _raw(item: StructItem, value: float) -> float | int:
    """The stored number for a field value: undo ``scale``/``add``, rounding integer types."""
    raw = (value - item.add) / item.scale
    return raw if item.type == "f32" else round(raw)


def _item_value(item: StructItem, values: Mapping[str, FieldValue]) -> float | int:
    if item.bits is not None:
        return sum(1 << bit for name, bit in item.bits.items() if values.get(name))
    assert item.field is not None
    value = values.get(item.field, 0)
    if isinstance(value, str):
        raise ValueError(f"{item.field}: a binary frame cannot carry text")
    return _raw(item, float(value))


def encode_frame(
    spec: BinaryStructCodec,
    fields: Mapping[str, FieldValue],
    ts: float | None = None,
    seq: int | None = None,
) -> bytes:
    """A frame the profile's codec decodes back to ``fields``; absent values are sent as 0."""
    values: dict[str, FieldValue] = {**fields, "ts": int(ts or 0), "seq": seq or 0}
    order = ">" if spec.byte_order == "big" else "<"
    frame = bytearray(spec.length)
    if spec.magic:
        magic = bytes.fromhex(spec.magic)
        frame[: len(magic)] = magic
    for item in spec.layout:
        struct.pack_into(order + _FORMATS[item.type], frame, item.offset, _item_value(item, values))
    if spec.checksum is not None:
        at = spec.checksum.offset
        if spec.checksum.type == "crc16-modbus":
            # Modbus sends the CRC low byte first, whatever the frame's byte order.
            frame[at : at + 2] = crc16_modbus(bytes(frame[:at])).to_bytes(2, "little")
        else:
            frame[at] = sum(frame[:at]) & 0xFF
    return bytes(frame)
