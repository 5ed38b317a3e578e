"""Domain value objects shared by every stage of the pipeline.

Plain, typed, immutable classes: pydantic validates at the edges (MQTT payloads, REST
bodies, YAML files) and turns what it accepts into these. Compiled with the hot path
(``gateway.compiled``): no class here is meant to be subclassed or patched.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

FieldValue = bool | int | float | str


def nan_for_none(value: float | None) -> float:
    """How per-device objects keep an optional number: compiled (``gateway.compiled``), a
    ``float`` attribute is stored in the object itself, an optional one as a float object of
    its own — 24 bytes more per value, 2.3 MiB per such attribute over 100k devices. NaN
    stands for None behind a ``float | None`` property (:func:`none_for_nan`)."""
    return math.nan if value is None else value


def none_for_nan(stored: float) -> float | None:
    return None if math.isnan(stored) else stored


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


class Reading:
    """One decoded, validated message from one device.

    Produced once by the profile's codec; everything downstream consumes it and never
    re-parses the raw payload. ``fields`` are flat scalars: a multi-channel value such as
    cable temperatures arrives as ``cable_temp_c_1`` … ``cable_temp_c_4``.

    Immutable: every attribute is ``Final`` (mypy refuses an assignment; compiled, the
    attributes are read-only). Not a dataclass: compiled, a dataclass's generated
    ``__init__`` may not assign its own ``Final`` fields.
    """

    __slots__ = ("device_id", "fields", "measurement", "profile", "seq", "ts")

    def __init__(
        self,
        device_id: str,
        profile: str,
        measurement: str,
        ts: float,
        fields: Mapping[str, FieldValue],
        seq: int | None = None,
    ) -> None:
        self.device_id: Final = device_id
        self.profile: Final = profile
        self.measurement: Final = measurement
        self.ts: Final = ts
        self.fields: Final = fields
        self.seq: Final = seq

    def _key(self) -> tuple[str, str, str, float, Mapping[str, FieldValue], int | None]:
        return (self.device_id, self.profile, self.measurement, self.ts, self.fields, self.seq)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Reading) and self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]  # mutable fields: not hashable, as a dataclass

    def __repr__(self) -> str:
        return (
            f"Reading(device_id={self.device_id!r}, profile={self.profile!r}, "
            f"measurement={self.measurement!r}, ts={self.ts!r}, fields={self.fields!r}, "
            f"seq={self.seq!r})"
        )


class DeviceStatus(StrEnum):
    NEVER_SEEN = "never_seen"
    ONLINE = "online"
    OFFLINE = "offline"


NOWHERE = Location()


class Device:
    """A registered sensor (or NFC patrol tag) and the grid it belongs to. Immutable: the
    registry shares one instance with every stage (``replace`` makes a changed copy).

    One record per device: where it is mounted is held in its own fields and :attr:`location`
    builds the :class:`Location` when asked (a Location object apiece cost 72 bytes per
    device, 7 MiB in a district of 100k).
    """

    __slots__ = (
        "_lat",
        "_lon",
        "address",
        "building",
        "commissioning_until",
        "community",
        "external_id",
        "floor",
        "grid",
        "id",
        "installer",
        "name",
        "profile",
        "street",
        "thresholds",
    )

    def __init__(
        self,
        id: str,
        profile: str,
        name: str,
        grid: str,
        location: Location = NOWHERE,
        external_id: str | None = None,
        thresholds: Mapping[str, float] = NO_THRESHOLDS,
        community: str = "",
        street: str = "",
        installer: str | None = None,  # who installed it: receives its test incidents
        commissioning_until: float | None = None,  # 调试: alarms are test alarms until then
    ) -> None:
        self.id: Final = id
        self.profile: Final = profile
        self.name: Final = name
        self.grid: Final = grid
        self.address: Final = location.address
        self.building: Final = location.building
        self.floor: Final = location.floor
        self._lat: Final = nan_for_none(location.lat)  # see nan_for_none: 4.6 MiB per 100k
        self._lon: Final = nan_for_none(location.lon)
        self.external_id: Final = external_id
        self.thresholds: Final = thresholds
        self.community: Final = community
        self.street: Final = street
        self.installer: Final = installer
        self.commissioning_until: Final = commissioning_until

    @property
    def lat(self) -> float | None:
        return none_for_nan(self._lat)

    @property
    def lon(self) -> float | None:
        return none_for_nan(self._lon)

    @property
    def location(self) -> Location:
        return Location(self.address, self.building, self.floor, self.lat, self.lon)

    def as_dict(self) -> dict[str, Any]:
        """The constructor's arguments by name (``location`` as a :class:`Location`): what
        ``orjson.dumps(device, default=as_json)`` writes."""
        return {
            "id": self.id,
            "profile": self.profile,
            "name": self.name,
            "grid": self.grid,
            "location": self.location,
            "external_id": self.external_id,
            "thresholds": self.thresholds,
            "community": self.community,
            "street": self.street,
            "installer": self.installer,
            "commissioning_until": self.commissioning_until,
        }

    def replace(self, **changes: Any) -> Device:
        """A copy with ``changes`` (the constructor's names), as ``dataclasses.replace``."""
        return Device(**(self.as_dict() | changes))

    def __copy__(self) -> Device:
        return self  # immutable: a copy is the same device (and a compiled class has no
        # default copy: copy.deepcopy, which dataclasses.asdict uses, would fail)

    def __deepcopy__(self, memo: dict[int, object]) -> Device:
        return self

    def __eq__(self, other: object) -> bool:
        if type(other) is not Device:
            return NotImplemented
        return self.as_dict() == other.as_dict()

    __hash__ = None  # type: ignore[assignment]  # equal by value, thresholds a mapping

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.as_dict().items())
        return f"Device({fields})"

    def commissioning(self, now: float) -> bool:
        """In commissioning mode (its alarms go only to the installer)? The window expires by
        itself, so a forgotten flag can never silence a detector for good."""
        return self.commissioning_until is not None and now < self.commissioning_until


def as_json(value: object) -> Any:
    """``orjson.dumps(..., default=as_json)``: a :class:`Device` as its fields (orjson writes
    dataclasses itself; Device is a plain slotted class)."""
    if type(value) is Device:
        return value.as_dict()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


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
