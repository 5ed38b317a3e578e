"""The simulated fleet: which devices of which profile are installed where.

The mix follows the reference district of DOMAIN.md (网格化+消防: 4064 patrol tags, 2113
electrical-fire monitors, 430 fire-water monitors, 2861 wireless smoke detectors), scaled to the
requested size with at least one device of every shipped profile. Each device gets what an
installer would enter: a name, a place inside its grid, and the external id its transport uses
(the Zigbee2MQTT friendly name, the NB-IoT IMEI, the NFC tag's UID).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from gateway.model import Location
from gateway.sim.district import District

# How the reference district's totals split within a kind is our assumption: the report gives
# one number per kind.
REFERENCE_FLEET: Mapping[str, int] = {
    "nfc-patrol-tag": 4064,
    "electrical-fire-monitor": 2113,
    "water-pressure-sensor": 300,
    "water-level-sensor": 130,
    "smoke-detector": 1200,
    "smoke-detector-nb": 1061,
    "smoke-detector-z2m": 600,
}


@dataclass(frozen=True, slots=True)
class Site:
    """Where a kind of device is typically mounted: id prefix, rooms (中文, topic-safe), floors."""

    prefix: str
    rooms: tuple[tuple[str, str], ...]
    floors: tuple[str, ...]


SITES: Mapping[str, Site] = {
    "smoke-detector": Site("sd", (("厨房", "kitchen"), ("卧室", "bedroom")), ("2", "5", "9")),
    "smoke-detector-z2m": Site("z2m", (("客厅", "living"), ("厨房", "kitchen")), ("3", "6")),
    "smoke-detector-nb": Site("nb", (("楼道", "stairwell"), ("储藏室", "storage")), ("1", "4")),
    "electrical-fire-monitor": Site("ef", (("配电间", "switchroom"),), ("B1", "1")),
    "water-pressure-sensor": Site("wp", (("消防泵房", "pumproom"),), ("B1",)),
    "water-level-sensor": Site("wl", (("屋顶水箱", "rooftank"),), ("RF",)),
    "nfc-patrol-tag": Site("tag", (("安全出口", "exit"), ("消火栓", "hydrant")), ("1", "2")),
}
SMOKE_PROFILES = frozenset({"smoke-detector", "smoke-detector-z2m", "smoke-detector-nb"})
NEXT_DOOR_DEG = 0.00005  # about 5 m: another flat of the same block
_ROADS = ["福州路", "广东路", "九江路", "汉口路", "四川中路", "江西中路", "河南中路", "山东中路"]


@dataclass(frozen=True, slots=True)
class SimDevice:
    """One installed device, as registered through ``POST /api/v1/devices``."""

    id: str
    profile: str
    name: str
    grid: str
    location: Location
    external_id: str | None = None
    silent: bool = False  # installed, never powered up: stays never_seen

    def registration(self) -> dict[str, Any]:
        loc = self.location
        body: dict[str, Any] = {
            "id": self.id,
            "profile": self.profile,
            "name": self.name,
            "grid": self.grid,
            "location": {
                "address": loc.address,
                "building": loc.building,
                "floor": loc.floor,
                "lat": loc.lat,
                "lon": loc.lon,
            },
        }
        if self.external_id is not None:
            body["external_id"] = self.external_id
        return body


def fleet_mix(total: int, reference: Mapping[str, int] = REFERENCE_FLEET) -> dict[str, int]:
    """``total`` devices split like ``reference``, at least one per profile (largest remainder)."""
    if total < len(reference):
        raise ValueError(f"a fleet needs at least {len(reference)} devices, one per profile")
    spare = total - len(reference)
    whole = sum(reference.values())
    shares = {p: spare * n / whole for p, n in reference.items()}
    counts = {p: 1 + int(share) for p, share in shares.items()}
    by_remainder = sorted(reference, key=lambda p: shares[p] - int(shares[p]), reverse=True)
    for profile in by_remainder[: total - sum(counts.values())]:
        counts[profile] += 1
    return counts


def _external_id(profile: str, serial: int, english_room: str, floor: str) -> str | None:
    if profile == "smoke-detector-z2m":
        return f"{english_room}-{floor}F-{serial:04d}"  # a Zigbee2MQTT friendly name
    if profile == "smoke-detector-nb":
        return f"86{serial:013d}"  # a 15-digit IMEI
    if profile == "nfc-patrol-tag":
        uid = (0x04A22B1C0000 + serial).to_bytes(6, "big")  # NXP UIDs start 04
        return ":".join(f"{b:02X}" for b in uid)
    return None


def build_fleet(
    district: District,
    total: int,
    seed: int = 2026,
    silent_share: float = 0.05,
    mix: Mapping[str, int] | None = None,
) -> list[SimDevice]:
    """``total`` devices dealt round-robin over the base grids; a few never come online.

    ``mix`` (devices per profile) replaces the reference split of ``total`` when given.
    """
    rng = random.Random(seed)
    grids = district.base_grids()
    devices: list[SimDevice] = []
    slot = 0
    for profile, count in (mix or fleet_mix(total)).items():
        site = SITES[profile]
        for serial in range(1, count + 1):
            unit = grids[slot % len(grids)]
            slot += 1
            room, english_room = rng.choice(site.rooms)
            floor = rng.choice(site.floors)
            lat, lon = unit.box.point(rng)
            road = rng.choice(_ROADS)
            building = f"{rng.randint(1, 12)}号楼"
            location = Location(f"{road}{rng.randint(1, 399)}号", building, floor, lat, lon)
            devices.append(
                SimDevice(
                    id=f"{site.prefix}-{serial:04d}",
                    profile=profile,
                    name=f"{building}{floor}层{room}",
                    grid=unit.grid.code,
                    location=location,
                    external_id=_external_id(profile, serial, english_room, floor),
                )
            )
    return _share_buildings(_silence_some(devices, silent_share, rng))


def _silent_candidates(devices: list[SimDevice]) -> list[int]:
    """Devices that may stay silent: never the only one of their profile, and never a patrol
    tag (a tag is passive: it is "seen" when a worker scans it)."""
    first_of_profile: dict[str, int] = {}
    for i, d in enumerate(devices):
        first_of_profile.setdefault(d.profile, i)
    firsts = set(first_of_profile.values())
    return [i for i, d in enumerate(devices) if i not in firsts and d.profile != "nfc-patrol-tag"]


def _silence_some(devices: list[SimDevice], share: float, rng: random.Random) -> list[SimDevice]:
    candidates = _silent_candidates(devices)
    count = min(len(candidates), round(len(devices) * share))
    chosen = set(rng.sample(candidates, count))
    return [
        replace(d, name=d.name + " (待通电)", silent=True) if i in chosen else d
        for i, d in enumerate(devices)
    ]


def _share_buildings(devices: list[SimDevice]) -> list[SimDevice]:
    """The second powered smoke detector of each grid goes into the first one's building (on
    its own floor), so two detectors can confirm a fire together (correlation.yaml: two
    detectors of one building within 2 minutes). Uses no randomness: the rest of the fleet
    stays as the seed drew it."""
    first: dict[str, SimDevice] = {}
    paired: set[str] = set()
    moved = []
    for d in devices:
        if d.profile in SMOKE_PROFILES and not d.silent and d.grid not in paired:
            host = first.setdefault(d.grid, d)
            if host is not d:
                paired.add(d.grid)
                d = _next_door(d, host)
        moved.append(d)
    return moved


def _next_door(device: SimDevice, host: SimDevice) -> SimDevice:
    at, old = host.location, device.location
    location = Location(
        at.address,
        at.building,
        old.floor,
        None if at.lat is None else round(at.lat + NEXT_DOOR_DEG, 6),
        at.lon,
    )
    name = (at.building or "") + device.name.removeprefix(old.building or "")  # "8号楼1层楼道"
    return replace(device, name=name, location=location)


def building_pairs(fleet: list[SimDevice]) -> list[tuple[SimDevice, SimDevice]]:
    """Two powered smoke detectors of one building, one pair per building that has them."""
    by_building: dict[tuple[str, str], list[SimDevice]] = {}
    for d in fleet:
        if d.profile in SMOKE_PROFILES and not d.silent and d.location.building:
            by_building.setdefault((d.grid, d.location.building), []).append(d)
    return [(found[0], found[1]) for found in by_building.values() if len(found) >= 2]
