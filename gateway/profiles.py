"""Device profiles: one declarative YAML file per device model (what installers choose).

A profile names the device's measurement (``smoke``, ``electrical``, ``water``, ``patrol``),
its fields with units and valid ranges, its heartbeat, its default thresholds, the MQTT topics
it reports on, the codec that turns its payload into a :class:`~gateway.model.Reading`, and
``examples`` (raw payload → exact expected reading) that the test suite runs for every profile.
Adding a device model is adding one YAML file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.yamlfile import ConfigFileError, load_yaml_model

Measurement = Literal["smoke", "electrical", "water", "patrol"]
FieldType = Literal["bool", "int", "float", "str"]
_TOPIC_VAR = re.compile(r"\{([a-z_]+)\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSpec(_Strict):
    """One reported quantity. ``channels: 4`` makes ``name_1`` … ``name_4`` from a list."""

    type: FieldType
    unit: str = ""
    description: str = ""
    min: float | None = None
    max: float | None = None
    enum: tuple[str, ...] | None = None
    channels: Annotated[int, Field(ge=1, le=64)] | None = None
    tag: bool = Field(default=False, description="string field written as an InfluxDB tag")

    @model_validator(mode="after")
    def _range_is_ordered(self) -> FieldSpec:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        if self.tag and self.type != "str":
            raise ValueError("only str fields can be tags")
        return self


class JsonMapCodec(_Strict):
    """Canonical JSON: keys are field names, ``map`` renames vendor keys to field names."""

    type: Literal["json-map"]
    map: dict[str, str] = Field(default_factory=dict)
    device_key: str | None = Field(
        default=None, description="payload key naming the device (id or external_id)"
    )
    ts_key: str = "ts"
    seq_key: str = "seq"


class Zigbee2MqttCodec(_Strict):
    """Zigbee2MQTT device state JSON; ``last_seen`` (if enabled in Z2M) gives the time."""

    type: Literal["zigbee2mqtt"]
    map: dict[str, str] = Field(default_factory=dict)


StructType = Literal["u8", "i8", "u16", "i16", "u32", "i32", "f32"]


class StructItem(_Strict):
    """One value at a fixed byte offset. ``bits`` splits a flag byte into bool fields."""

    offset: Annotated[int, Field(ge=0)]
    type: StructType
    field: str | None = None
    scale: float = 1.0
    add: float = 0.0
    bits: dict[str, Annotated[int, Field(ge=0, le=31)]] | None = None

    @model_validator(mode="after")
    def _names_something(self) -> StructItem:
        if (self.field is None) == (self.bits is None):
            raise ValueError("give exactly one of 'field' or 'bits'")
        return self


class Checksum(_Strict):
    type: Literal["crc16-modbus", "sum8"]
    offset: Annotated[int, Field(ge=1)]


class BinaryStructCodec(_Strict):
    """Fixed binary frame (NB-IoT style): declared offsets, types and scales, no code."""

    type: Literal["binary-struct"]
    byte_order: Literal["big", "little"] = "big"
    length: Annotated[int, Field(ge=1, le=1024)]
    magic: str | None = Field(default=None, description="hex bytes the frame starts with")
    checksum: Checksum | None = None
    layout: list[StructItem]

    @model_validator(mode="after")
    def _fits_in_frame(self) -> BinaryStructCodec:
        sizes = {"u8": 1, "i8": 1, "u16": 2, "i16": 2, "u32": 4, "i32": 4, "f32": 4}
        for i, item in enumerate(self.layout):
            if item.offset + sizes[item.type] > self.length:
                raise ValueError(f"layout[{i}] ends past the frame length {self.length}")
        if self.checksum and self.checksum.offset + 2 > self.length + 1:
            raise ValueError("checksum lies past the frame length")
        if self.magic is not None:
            bytes.fromhex(self.magic)
        return self


CodecSpec = Annotated[
    JsonMapCodec | Zigbee2MqttCodec | BinaryStructCodec, Field(discriminator="type")
]


class ExpectedReading(_Strict):
    ts: float
    seq: int | None = None
    fields: dict[str, bool | int | float | str]


class ProfileExample(_Strict):
    """A raw message and exactly what it must decode to (the TTN device-repository habit)."""

    description: str
    topic: str
    payload: dict[str, Any] | None = None
    payload_hex: str | None = None
    payload_text: str | None = None
    received_at: float = 1767225600.0  # 2026-01-01T00:00:00Z
    device_key: str | None = None
    reading: ExpectedReading | None = None
    problems: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_payload(self) -> ProfileExample:
        given = [p for p in (self.payload, self.payload_hex, self.payload_text) if p is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of payload, payload_hex, payload_text")
        return self

    def raw(self) -> bytes:
        import orjson

        if self.payload is not None:
            return orjson.dumps(self.payload)
        if self.payload_hex is not None:
            return bytes.fromhex(self.payload_hex)
        assert self.payload_text is not None
        return self.payload_text.encode()


class DeviceProfile(_Strict):
    """What a device model reports and how to read it."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    description: str
    measurement: Measurement
    vendor: str = ""
    heartbeat_s: Annotated[int, Field(gt=0)]
    offline_after_missed: Annotated[int, Field(ge=1)] = 2
    topics: list[str] = Field(default_factory=lambda: ["devices/{device_id}/up"])
    codec: CodecSpec
    fields: dict[str, FieldSpec]
    thresholds: dict[str, float] = Field(default_factory=dict)
    examples: list[ProfileExample] = Field(default_factory=list)

    @field_validator("topics")
    @classmethod
    def _topics_name_the_device(cls, topics: list[str]) -> list[str]:
        for topic in topics:
            names = set(_TOPIC_VAR.findall(topic))
            if "#" in topic or "+" in topic:
                raise ValueError(f"{topic!r}: use {{name}} placeholders, not MQTT wildcards")
            if not names and "/" not in topic:
                raise ValueError(f"{topic!r}: a topic needs at least one level")
        return topics

    @model_validator(mode="after")
    def _codec_refers_to_fields(self) -> DeviceProfile:
        targets: list[str] = []
        if isinstance(self.codec, JsonMapCodec | Zigbee2MqttCodec):
            targets = list(self.codec.map.values())
        else:
            for item in self.codec.layout:
                targets += [item.field] if item.field else list(item.bits or {})
        unknown = [t for t in targets if t not in self.fields and t not in ("ts", "seq")]
        if unknown:
            raise ValueError(f"codec names fields not declared under 'fields': {unknown}")
        for topic in self.topics:
            names = set(_TOPIC_VAR.findall(topic))
            has_key = names & {"device_id", "external_id"}
            payload_key = isinstance(self.codec, JsonMapCodec) and self.codec.device_key
            if not has_key and not payload_key:
                raise ValueError(
                    f"topic {topic!r} names no {{device_id}} or {{external_id}} and the codec "
                    "declares no device_key"
                )
        return self

    @property
    def offline_after_s(self) -> int:
        return self.heartbeat_s * self.offline_after_missed


def load_profile(path: Path) -> DeviceProfile:
    profile = load_yaml_model(path, DeviceProfile)
    if profile.name != path.stem:
        raise ConfigFileError(
            f"{path}: name {profile.name!r} must match the file name {path.stem!r}"
        )
    return profile


def load_profiles(directory: Path) -> dict[str, DeviceProfile]:
    """Load every ``*.yaml`` in ``directory``; all errors are reported together."""
    profiles: dict[str, DeviceProfile] = {}
    errors: list[str] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            profile = load_profile(path)
        except ConfigFileError as exc:
            errors.append(str(exc))
            continue
        profiles[profile.name] = profile
    if errors:
        raise ConfigFileError("\n".join(errors))
    if not profiles:
        raise ConfigFileError(f"{directory}: no device profiles (*.yaml) found")
    return profiles
