"""Domain value objects shared by every stage of the pipeline.

Plain, typed, immutable dataclasses: pydantic validates at the edges (MQTT payloads,
REST bodies, YAML files) and turns what it accepts into these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

FieldValue = bool | int | float | str

# What almost every device has: no threshold of its own. One shared empty mapping instead of an
# empty dict per device (64 bytes each, 6 MiB in a district of 100k). A plain dict, so that
# dataclasses.asdict and orjson take it as they take any other; typed read-only, never written.
NO_THRESHOLDS: Mapping[str, float] = {}


@dataclass(frozen=True, slots=True)
class Location:
    """Where a device is mounted: the address a grid worker (网格员) walks to."""

    address: str = ""
    building: str = ""
    floor: str = ""
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True, slots=True)
class Reading:
    """One decoded, validated message from one device.

    Produced once by the profile's codec; everything downstream consumes it and never
    re-parses the raw payload. ``fields`` are flat scalars: a multi-channel value such as
    cable temperatures arrives as ``cable_temp_c_1`` … ``cable_temp_c_4``.
    """

    device_id: str
    profile: str
    measurement: str
    ts: float
    fields: Mapping[str, FieldValue]
    seq: int | None = None


class DeviceStatus(StrEnum):
    NEVER_SEEN = "never_seen"
    ONLINE = "online"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class Device:
    """A registered sensor (or NFC patrol tag) and the grid it belongs to."""

    id: str
    profile: str
    name: str
    grid: str
    location: Location = field(default_factory=Location)
    external_id: str | None = None
    thresholds: Mapping[str, float] = field(default_factory=lambda: NO_THRESHOLDS)
    community: str = ""
    street: str = ""
    installer: str | None = None  # who installed it: receives its test incidents
    commissioning_until: float | None = None  # 调试: alarms are test alarms until then

    def commissioning(self, now: float) -> bool:
        """In commissioning mode (its alarms go only to the installer)? The window expires by
        itself, so a forgotten flag can never silence a detector for good."""
        return self.commissioning_until is not None and now < self.commissioning_until


class GridLevel(StrEnum):
    """The grid ladder: 区/县 → 街道/乡镇 → 社区/村 → 网格."""

    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"
    GRID = "grid"


@dataclass(frozen=True, slots=True)
class Grid:
    """A unit of the grid hierarchy with its responsible people (网格员, 网格长)."""

    code: str
    name: str
    level: GridLevel
    parent: str | None = None
    worker_id: str | None = None
    leader_id: str | None = None


@dataclass(frozen=True, slots=True)
class GridWorker:
    """A grid worker (网格员) or grid leader (网格长) who receives alarms on a phone."""

    id: str
    name: str
    phone: str = ""


@dataclass(frozen=True, slots=True)
class FireStation:
    """A micro fire station (微型消防站): staffed 24 h, on site within 3 minutes."""

    id: str
    name: str
    lat: float
    lon: float
    phone: str = ""
