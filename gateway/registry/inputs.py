"""What installers send — REST bodies and CSV rows — validated at the edge by pydantic.

Errors carry field names (``location.lat``), which the REST API and the CSV import pass on.
Accepted input becomes the plain dataclasses the registry works with.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from gateway.model import FireStation, Grid, GridLevel, GridWorker, Location
from gateway.registry.devices import DeviceDraft
from gateway.registry.geo import polygon_from_geojson, to_geojson
from gateway.registry.grids import GridRecord


def _blank_is_none(value: object) -> object:
    """GIS exports and spreadsheets write an empty string where they mean "none"."""
    return None if isinstance(value, str) and not value.strip() else value


# Ids end up in MQTT topics (devices/{id}/up) and URLs: no wildcards, slashes or spaces.
Code = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$", max_length=128)]
OptionalCode = Annotated[Code | None, BeforeValidator(_blank_is_none)]
Text = Annotated[str, Field(max_length=500)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Phone = Annotated[str, Field(pattern=r"^[0-9+() -]*$", max_length=32)]
Lat = Annotated[float, Field(ge=-90, le=90)]
Lon = Annotated[float, Field(ge=-180, le=180)]
OptionalLat = Annotated[Lat | None, BeforeValidator(_blank_is_none)]
OptionalLon = Annotated[Lon | None, BeforeValidator(_blank_is_none)]


class _Body(BaseModel):
    # A mistyped key ("lattitude") is refused by name rather than silently dropped.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class LocationIn(_Body):
    address: Text = ""
    building: Text = ""
    floor: Annotated[str, Field(max_length=32)] = ""
    lat: OptionalLat = None
    lon: OptionalLon = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> LocationIn:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give both lat and lon, or neither")
        return self

    def to_location(self) -> Location:
        return Location(self.address, self.building, self.floor, self.lat, self.lon)


class _DeviceFields(_Body):
    """What a registration says about a device, its id apart."""

    profile: Name
    name: Name
    external_id: Annotated[str | None, BeforeValidator(_blank_is_none)] = Field(
        default=None, max_length=256, description="e.g. the Zigbee2MQTT friendly name"
    )
    location: LocationIn = Field(default_factory=LocationIn)
    grid: OptionalCode = Field(default=None, description="omit to find it from lat/lon")
    thresholds: dict[str, Annotated[float, Field(allow_inf_nan=False)]] = Field(
        default_factory=dict, description="per-device overrides of the profile's thresholds"
    )
    installer: OptionalCode = Field(default=None, description="installer id: gets test incidents")
    commissioning_until: AwareDatetime | None = Field(
        default=None, description="RFC 3339; until then the device's alarms are test alarms"
    )

    @field_validator("external_id")
    @classmethod
    def _no_wildcards(cls, value: str | None) -> str | None:
        if value is not None and any(c in value for c in "+#\0"):
            raise ValueError("must not contain the MQTT wildcards + or #")
        return value

    def draft_of(self, device_id: str) -> DeviceDraft:
        return DeviceDraft(
            id=device_id,
            profile=self.profile,
            name=self.name,
            location=self.location.to_location(),
            external_id=self.external_id,
            grid=self.grid,
            thresholds=self.thresholds,
            installer=self.installer,
            commissioning_until=(
                None if self.commissioning_until is None else self.commissioning_until.timestamp()
            ),
        )


class DeviceIn(_DeviceFields):
    """A device to register: id, profile, name, optional external id, location, grid, thresholds."""

    id: Code

    def to_draft(self) -> DeviceDraft:
        return self.draft_of(self.id)


class DeviceEditIn(_DeviceFields):
    """A device's new registration (``PUT /devices/{id}``): the whole of it, as registered."""

    id: OptionalCode = Field(default=None, description="if given, the id in the path")


class WorkerIn(_Body):
    """A grid worker (网格员) or grid leader (网格长)."""

    id: Code
    name: Name
    phone: Phone = ""

    def to_worker(self) -> GridWorker:
        return GridWorker(self.id, self.name, self.phone)


class StationIn(_Body):
    """A micro fire station (微型消防站); its position decides which is nearest to an alarm."""

    id: Code
    name: Name
    phone: Phone = ""
    lat: Lat
    lon: Lon

    def to_station(self) -> FireStation:
        return FireStation(self.id, self.name, self.lat, self.lon, self.phone)


class GridProperties(BaseModel):
    # GIS tools add their own properties (area, colour, ...): keep ours, ignore theirs.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    code: Code
    name: Name
    level: GridLevel
    parent: OptionalCode = None
    worker_id: OptionalCode = None
    leader_id: OptionalCode = None


class GridFeature(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["Feature"]
    properties: GridProperties
    geometry: dict[str, Any] | None = None

    @field_validator("geometry")
    @classmethod
    def _polygon(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else to_geojson(polygon_from_geojson(value))


class GridCollection(BaseModel):
    """A GeoJSON FeatureCollection of grid units, positions in [lon, lat] (WGS 84)."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["FeatureCollection"]
    features: Annotated[list[GridFeature], Field(min_length=1)]

    def to_records(self) -> list[GridRecord]:
        records = []
        for feature in self.features:
            p = feature.properties
            grid = Grid(p.code, p.name, p.level, p.parent, p.worker_id, p.leader_id)
            records.append(GridRecord(grid, feature.geometry))
        return records
