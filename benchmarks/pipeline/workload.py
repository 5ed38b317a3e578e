"""The benchmark's fleet and its messages, built from the shipped device profiles.

The fleet is the reference district of DOMAIN.md (1089 grids, its people and micro fire
stations, the reference mix of device kinds) with as many devices as asked for, drawn by
``gateway.sim`` and registered over REST as an installer would (CSV import).

Every message is one of the profile's own ``examples:`` — a heartbeat, so the throughput load
raises no incident — with three changes a real fleet makes anyway: its own device id or
external id, a distinct ``ts``/``seq`` (InfluxDB keeps one point per series and timestamp, so
every message must land as its own point to be counted back), and for a patrol scan the
tag's own position and a patrol phone per tag (the example's fixed position and worker would
be a "scan far from its tag" / "impossible travel" incident on every tag). The smoke alarm is
the ``smoke-detector`` alarm example.
"""

from __future__ import annotations

import random
import struct
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from gateway.model import GridLevel
from gateway.profiles import BinaryStructCodec, DeviceProfile, load_profiles
from gateway.sim.district import District, build_district
from gateway.sim.fleet import SimDevice, build_fleet, fleet_mix
from gateway.sim.frames import encode_frame
from gateway.sim.scale import district_plan

# profile → (index of its heartbeat example, field overrides). The smoke profiles' first
# examples are alarms or faults; these are their quiet reports.
HEARTBEAT_EXAMPLES: Mapping[str, tuple[int, Mapping[str, Any]]] = {
    "smoke-detector": (1, {}),  # {smoke: false, battery_pct: 64.5}
    "smoke-detector-z2m": (2, {}),  # {smoke: false, battery: 55, last_seen: epoch ms}
    "smoke-detector-nb": (0, {"smoke": False}),  # the alarm frame with the smoke bit clear
    "electrical-fire-monitor": (0, {}),  # 4 channels, 42.5 mA
    "water-pressure-sensor": (0, {}),  # 0.32 MPa
    "water-level-sensor": (0, {}),  # 2.35 m
    "nfc-patrol-tag": (0, {}),  # an ok scan
}
ALARM_PROFILE = "smoke-detector"
ALARM_EXAMPLE = 0  # {smoke: true, fault: false, tamper: false, test: false, battery_pct: 87}
MEASUREMENTS = ("smoke", "electrical", "water", "patrol")
# Device timestamps start a day back: ts must be distinct per message of a device, and no
# later than the gateway's clock allows (5 minutes ahead), however many rounds are sent.
TS_BACK_S = 86400


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class Batch:
    """Messages of rounds ``first``..``last`` and how many readings each measurement gets."""

    messages: list[Message]
    first: int
    last: int
    per_measurement: dict[str, int]

    def __len__(self) -> int:
        return len(self.messages)


@dataclass(frozen=True, slots=True)
class Fleet:
    district: District
    devices: list[SimDevice]
    profiles: dict[str, DeviceProfile]

    def by_measurement(self) -> dict[str, int]:
        counts = dict.fromkeys(MEASUREMENTS, 0)
        for d in self.devices:
            counts[self.profiles[d.profile].measurement] += 1
        return counts


def build(total: int, profiles_dir: Path, seed: int = 2026) -> Fleet:
    """``total`` powered devices of every shipped profile in the reference district."""
    profiles = load_profiles(profiles_dir)
    district = build_district(district_plan(1.0, seed))
    devices = build_fleet(district, total, seed, silent_share=0.0, mix=fleet_mix(total))
    return Fleet(district, devices, profiles)


def ladder(district: District) -> dict[str, tuple[str, str]]:
    """Base grid code → (community, street): the tags the registry derives for a device."""
    parents = {u.grid.code: u.grid.parent or "" for u in district.units}
    return {
        u.grid.code: (parents[u.grid.code], parents.get(parents[u.grid.code], ""))
        for u in district.units
        if u.grid.level is GridLevel.GRID
    }


class Traffic:
    """Hands out rounds of heartbeat messages; round ``k`` is every device's ``k``-th message."""

    def __init__(self, fleet: Fleet, ts0: float | None = None, seed: int = 7) -> None:
        self._fleet = fleet
        self._ts0 = int(ts0 if ts0 is not None else time.time() - TS_BACK_S)
        self._round = 0
        self._templates = {name: _template(fleet.profiles[name]) for name in HEARTBEAT_EXAMPLES}
        # Kinds interleaved, as a district's traffic is (the fleet lists them kind by kind).
        self._order = list(fleet.devices)
        random.Random(seed).shuffle(self._order)

    @property
    def ts0(self) -> int:
        """Round ``k`` carries device time ``ts0 + k``."""
        return self._ts0

    def messages(self, count: int, exclude: frozenset[str] = frozenset()) -> Batch:
        """``count`` messages, device after device, as many rounds as that takes; devices in
        ``exclude`` (the alarm detectors) send none."""
        pool = [d for d in self._order if d.id not in exclude]
        out: list[Message] = []
        per_measurement = dict.fromkeys(MEASUREMENTS, 0)
        first = self._round + 1
        while len(out) < count:
            self._round += 1
            ts = self._ts0 + self._round
            for device in pool[: count - len(out)]:
                out.append(self._message(device, ts, self._round))
                per_measurement[self._fleet.profiles[device.profile].measurement] += 1
        return Batch(out, first, self._round, per_measurement)

    def _message(self, device: SimDevice, ts: int, seq: int) -> Message:
        profile = self._fleet.profiles[device.profile]
        body = dict(self._templates[device.profile])
        codec = profile.codec
        if isinstance(codec, BinaryStructCodec):
            return Message(f"devices/{device.id}/up", encode_frame(codec, body, ts=ts, seq=seq))
        if codec.type == "zigbee2mqtt":
            body["last_seen"] = ts * 1000
            return Message(f"zigbee2mqtt/{device.external_id}", orjson.dumps(body))
        body["ts"], body["seq"] = ts, seq
        if device.profile == "nfc-patrol-tag":
            body["tag"] = device.external_id
            body["worker_id"] = "wk-" + device.id  # the phone that patrols this tag
            body["lat"], body["lon"] = device.location.lat, device.location.lon
            return Message(f"patrol/ph-{device.id}/scan", orjson.dumps(body))
        return Message(f"devices/{device.id}/up", orjson.dumps(body))


def alarm_message(device: SimDevice, profiles: Mapping[str, DeviceProfile], ts: float) -> Message:
    """The ``smoke-detector`` alarm example from ``device``, stamped now, on the device's
    alarm topic (read on the gateway's alarm session, apart from the telemetry)."""
    example = profiles[ALARM_PROFILE].examples[ALARM_EXAMPLE]
    assert example.payload is not None
    body = dict(example.payload) | {"ts": round(ts, 3), "seq": 1}
    return Message(f"devices/{device.id}/alarm", orjson.dumps(body))


def alarm_detectors(fleet: Fleet, count: int) -> list[SimDevice]:
    """``count`` canonical-JSON smoke detectors, each in its own grid (so no two share a
    building and correlation never merges their incidents)."""
    seen: set[str] = set()
    chosen: list[SimDevice] = []
    for d in fleet.devices:
        if d.profile == ALARM_PROFILE and d.grid not in seen:
            seen.add(d.grid)
            chosen.append(d)
            if len(chosen) == count:
                return chosen
    raise ValueError(f"only {len(chosen)} grids have a {ALARM_PROFILE}; asked for {count}")


def _template(profile: DeviceProfile) -> dict[str, Any]:
    index, overrides = HEARTBEAT_EXAMPLES[profile.name]
    example = profile.examples[index]
    if example.payload is not None:
        body = dict(example.payload)
        for key in ("ts", "seq", "last_seen"):
            body.pop(key, None)
        return body | dict(overrides)
    assert example.reading is not None, f"{profile.name} example {index} decodes to nothing"
    return dict(example.reading.fields) | dict(overrides)


def write_messages(path: Path, messages: list[Message]) -> Path:
    """The publisher's input: per message a u16 topic length, topic, u32 payload length, payload."""
    with path.open("wb") as out:
        for m in messages:
            topic = m.topic.encode()
            out.write(struct.pack("!H", len(topic)) + topic + struct.pack("!I", len(m.payload)))
            out.write(m.payload)
    return path


def read_messages(path: Path) -> Iterator[tuple[bytes, bytes]]:
    data = path.read_bytes()
    at = 0
    while at < len(data):
        (tlen,) = struct.unpack_from("!H", data, at)
        topic = data[at + 2 : at + 2 + tlen]
        at += 2 + tlen
        (plen,) = struct.unpack_from("!I", data, at)
        yield topic, data[at + 4 : at + 4 + plen]
        at += 4 + plen


def registry_json(fleet: Fleet) -> bytes:
    """What the Node-RED flow looks devices up in: the registry's view of each device."""
    tags = ladder(fleet.district)
    by_id: dict[str, Any] = {}
    by_ext: dict[str, str] = {}
    for d in fleet.devices:
        community, street = tags[d.grid]
        by_id[d.id] = {
            "profile": d.profile,
            "grid": d.grid,
            "community": community,
            "street": street,
        }
        if d.external_id:
            by_ext[d.external_id] = d.id
    return orjson.dumps({"by_id": by_id, "by_external_id": by_ext})
