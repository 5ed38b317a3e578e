"""Bad messages, one now and then, so the gateway's rejection counters have something to count.

Each is what the field really produces: firmware that cuts JSON short, a broken probe, a device
nobody registered, a frame with a flipped bit. They come in turn, so a short run sees each kind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import orjson

from gateway.profiles import BinaryStructCodec, DeviceProfile
from gateway.sim.behaviour import topic_for
from gateway.sim.fleet import SimDevice
from gateway.sim.frames import encode_frame
from gateway.sim.plan import Message

FAULTS = "faults"  # not a profile: its interval is TrafficPlan.bad_message_every_s
UNREGISTERED_ID = "sd-unregistered-1"

Fault = Callable[[float], Message]


def _first(fleet: list[SimDevice], profile: str) -> SimDevice | None:
    return next((d for d in fleet if d.profile == profile and not d.silent), None)


class BadMessages:
    """Cycles through the kinds of bad input the fleet can produce."""

    key = FAULTS

    def __init__(self, fleet: list[SimDevice], profiles: Mapping[str, DeviceProfile]) -> None:
        self._faults = _faults(fleet, profiles)
        self._next = 0

    def report(self, now: float) -> Message:
        fault = self._faults[self._next % len(self._faults)]
        self._next += 1
        return fault(now)


def _fixed(message: Message) -> Fault:
    return lambda now: message


def _faults(fleet: list[SimDevice], profiles: Mapping[str, DeviceProfile]) -> list[Fault]:
    # Counted as unknown_device and listed at GET /api/v1/devices/unregistered.
    unknown = Message(f"devices/{UNREGISTERED_ID}/up", orjson.dumps({"smoke": False}))
    faults = [_fixed(unknown)]
    smoke = _first(fleet, "smoke-detector")
    if smoke is not None:
        topic = topic_for(profiles[smoke.profile], smoke)
        faults.append(_fixed(Message(topic, b'{"smoke": tru')))  # malformed_json
    pressure = _first(fleet, "water-pressure-sensor")
    if pressure is not None:
        topic = topic_for(profiles[pressure.profile], pressure)
        # Below vacuum: a broken transducer. The only field is dropped → no_valid_fields.
        faults.append(_fixed(Message(topic, orjson.dumps({"pressure_mpa": -3.5}))))
    nb = _first(fleet, "smoke-detector-nb")
    if nb is not None:
        faults.append(_bad_crc(profiles[nb.profile], nb))
    return faults


def _bad_crc(profile: DeviceProfile, device: SimDevice) -> Fault:
    codec = profile.codec
    assert isinstance(codec, BinaryStructCodec) and codec.checksum is not None
    topic = topic_for(profile, device)
    at = codec.checksum.offset - 1  # the last byte the checksum covers

    def flipped(now: float) -> Message:
        frame = bytearray(encode_frame(codec, {"battery_pct": 80}, now, 1))
        frame[at] ^= 0x01  # one bit flipped on the radio link: the CRC no longer matches
        return Message(topic, bytes(frame))

    return flipped
