"""JSON codecs: the canonical uplink (``json-map``) and Zigbee2MQTT device state."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.codecs.base import (
    Decoded,
    DecodeError,
    Problem,
    check_fields,
    field_checks,
    parse_seq,
    parse_ts,
)
from gateway.codecs.depth import nesting_exceeds
from gateway.profiles import FieldSpec, JsonMapCodec, Zigbee2MqttCodec

# Canonical uplinks nest two levels (an object holding a channel list); Zigbee2MQTT state a
# few more. Sixteen leaves room for any vendor and none for a nesting bomb.
MAX_DEPTH = 16


def load_object(payload: bytes) -> dict[str, Any]:
    if nesting_exceeds(payload, MAX_DEPTH):
        raise DecodeError("too_deep", f"JSON nested deeper than {MAX_DEPTH} levels")
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise DecodeError("malformed_json", str(exc)) from None
    if not isinstance(obj, dict):
        raise DecodeError("not_an_object", f"expected a JSON object, got {type(obj).__name__}")
    return obj


def _renamed(obj: dict[str, Any], rename: dict[str, str]) -> dict[str, Any]:
    if not rename:
        return obj
    return {rename.get(key, key): value for key, value in obj.items()}


class JsonMapDecoder:
    """``{"smoke": true, "battery_pct": 87, "ts": ..., "seq": ...}`` → fields."""

    def __init__(self, spec: JsonMapCodec, fields: dict[str, FieldSpec]) -> None:
        # The spec's settings copied out: reading a pydantic model's attribute from compiled
        # code is a Python attribute lookup, four per message.
        self._device_key = spec.device_key
        self._ts_key = spec.ts_key
        self._seq_key = spec.seq_key
        self._map = dict(spec.map)
        self._checks = field_checks(fields)

    def decode(self, payload: bytes, received_at: float) -> Decoded:
        obj = load_object(payload)
        problems: list[Problem] = []
        key = None
        if self._device_key is not None:
            key = obj.get(self._device_key)
            if not isinstance(key, str) or not key:
                raise DecodeError("no_device_key", f"{self._device_key}: missing or not text")
        ts = parse_ts(obj.get(self._ts_key), received_at, problems)
        seq = parse_seq(obj.get(self._seq_key), problems)
        fields = check_fields(_renamed(obj, self._map), self._checks, problems)
        return Decoded(fields, ts, seq, key, problems)


class Zigbee2MqttDecoder:
    """Zigbee2MQTT state (``{"smoke": true, "battery": 87, "linkquality": 120, ...}``).

    Z2M republishes the whole state on every change; ``last_seen`` (ISO 8601 or epoch ms,
    when enabled in Z2M's advanced settings) is the device time.
    """

    def __init__(self, spec: Zigbee2MqttCodec, fields: dict[str, FieldSpec]) -> None:
        self._map = dict(spec.map)
        self._checks = field_checks(fields)

    def decode(self, payload: bytes, received_at: float) -> Decoded:
        obj = load_object(payload)
        problems: list[Problem] = []
        ts = parse_ts(obj.get("last_seen"), received_at, problems)
        fields = check_fields(_renamed(obj, self._map), self._checks, problems)
        return Decoded(fields, ts, None, None, problems)
