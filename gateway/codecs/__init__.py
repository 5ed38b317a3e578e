"""Codecs turn a raw payload into checked fields. They are few and shared; profiles pick one."""

from __future__ import annotations

from typing import Protocol

from gateway.codecs.base import Decoded, DecodeError, Problem
from gateway.codecs.binary_struct import BinaryStructDecoder
from gateway.codecs.json_map import JsonMapDecoder, Zigbee2MqttDecoder
from gateway.profiles import DeviceProfile, JsonMapCodec, Zigbee2MqttCodec

__all__ = ["Codec", "DecodeError", "Decoded", "Problem", "build_codec"]


class Codec(Protocol):
    def decode(self, payload: bytes, received_at: float) -> Decoded:
        """Decode one payload; raise DecodeError when nothing in it is readable."""
        ...


def build_codec(profile: DeviceProfile) -> Codec:
    spec = profile.codec
    if isinstance(spec, JsonMapCodec):
        return JsonMapDecoder(spec, profile.fields)
    if isinstance(spec, Zigbee2MqttCodec):
        return Zigbee2MqttDecoder(spec, profile.fields)
    return BinaryStructDecoder(spec, profile.fields)
