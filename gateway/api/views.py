"""What the API answers with: response models, built from the registry's dataclasses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel

from gateway.model import Device, DeviceStatus, FieldValue, FireStation, GridLevel, GridWorker
from gateway.profiles import DeviceProfile
from gateway.registry import GridRecord
from gateway.tracker import DeviceState
from gateway.unregistered import UnregisteredSource


def rfc3339(ts: float | None) -> str | None:
    if ts is None:
        return None
    moment = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
    return moment.replace("+00:00", "Z")


class LocationView(BaseModel):
    address: str
    building: str
    floor: str
    lat: float | None
    lon: float | None


class DeviceView(BaseModel):
    """A registered device, its place in the grid ladder, and how it is doing."""

    id: str
    profile: str
    name: str
    external_id: str | None
    location: LocationView
    grid: str
    community: str
    street: str
    thresholds: dict[str, float]
    installer: str | None
    commissioning_until: str | None
    status: DeviceStatus
    last_seen: str | None
    latest: dict[str, FieldValue]
    latest_at: str | None

    @classmethod
    def of(cls, device: Device, status: DeviceStatus, state: DeviceState | None) -> DeviceView:
        loc = device.location
        return cls(
            id=device.id,
            profile=device.profile,
            name=device.name,
            external_id=device.external_id,
            location=LocationView(
                address=loc.address,
                building=loc.building,
                floor=loc.floor,
                lat=loc.lat,
                lon=loc.lon,
            ),
            grid=device.grid,
            community=device.community,
            street=device.street,
            thresholds=dict(device.thresholds),
            installer=device.installer,
            commissioning_until=(
                None if device.commissioning_until is None else rfc3339(device.commissioning_until)
            ),
            status=status,
            last_seen=rfc3339(state.last_seen) if state else None,
            latest=dict(state.latest) if state else {},
            latest_at=rfc3339(state.latest_ts) if state else None,
        )


class UnregisteredView(BaseModel):
    """A device that talks but is not registered: what an installer registers next."""

    topic: str
    key: str
    first_seen: str
    last_seen: str
    count: int
    sample: str

    @classmethod
    def of(cls, source: UnregisteredSource) -> UnregisteredView:
        return cls(
            topic=source.topic,
            key=source.key,
            first_seen=rfc3339(source.first_seen) or "",
            last_seen=rfc3339(source.last_seen) or "",
            count=source.count,
            sample=source.sample,
        )


class WorkerView(BaseModel):
    id: str
    name: str
    phone: str

    @classmethod
    def of(cls, worker: GridWorker) -> WorkerView:
        return cls(id=worker.id, name=worker.name, phone=worker.phone)


class StationView(BaseModel):
    id: str
    name: str
    phone: str
    lat: float
    lon: float

    @classmethod
    def of(cls, s: FireStation) -> StationView:
        return cls(id=s.id, name=s.name, phone=s.phone, lat=s.lat, lon=s.lon)


class GridPropertiesView(BaseModel):
    code: str
    name: str
    level: GridLevel
    parent: str | None
    worker_id: str | None
    leader_id: str | None


class GridFeatureView(BaseModel):
    type: Literal["Feature"] = "Feature"
    properties: GridPropertiesView
    geometry: dict[str, Any] | None

    @classmethod
    def of(cls, record: GridRecord) -> GridFeatureView:
        g = record.grid
        properties = GridPropertiesView(
            code=g.code,
            name=g.name,
            level=g.level,
            parent=g.parent,
            worker_id=g.worker_id,
            leader_id=g.leader_id,
        )
        geometry = None if record.geometry is None else dict(record.geometry)
        return cls(properties=properties, geometry=geometry)


class GridCollectionView(BaseModel):
    """The grids as GeoJSON, ready for a map layer."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[GridFeatureView]


class GridImportView(BaseModel):
    created: int
    updated: int


class ImportView(BaseModel):
    imported: int
    ids: list[str]


class ProfileSummary(BaseModel):
    """What an installer chooses from; ``GET /profiles/{name}`` gives the whole profile."""

    name: str
    description: str
    measurement: str
    vendor: str
    heartbeat_s: int
    offline_after_s: int
    topics: list[str]
    fields: list[str]
    thresholds: dict[str, float]

    @classmethod
    def of(cls, p: DeviceProfile) -> ProfileSummary:
        return cls(
            name=p.name,
            description=p.description,
            measurement=p.measurement,
            vendor=p.vendor,
            heartbeat_s=p.heartbeat_s,
            offline_after_s=p.offline_after_s,
            topics=list(p.topics),
            fields=list(p.fields),
            thresholds=dict(p.thresholds),
        )
