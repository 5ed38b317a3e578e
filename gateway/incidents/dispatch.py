"""Dispatch targeting (分拨派遣): who gets an incident, and on which contract topic.

The escalation ladder — 小事不出网格, 大事不出社区, 重大事情不出街道 — is five rungs: the grid
worker (网格员), the grid leader (网格长), the community (社区), the street (街道) and the
centre (指挥中心). A rung nobody is registered on is skipped; the centre always answers.
Fires and critical electrical hazards also go to the nearest micro fire station (微型消防站).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.model import Device, FireStation, Grid, GridLevel
from gateway.rules.outcomes import IncidentKind, Severity

EARTH_RADIUS_M = 6_371_008.8  # IUGG mean radius

_SEVERITY_RANK = {Severity.WARNING: 0, Severity.MINOR: 1, Severity.MAJOR: 2, Severity.CRITICAL: 3}


def severity_rank(severity: Severity) -> int:
    return _SEVERITY_RANK[severity]


class Role(StrEnum):
    WORKER = "worker"  # 网格员
    LEADER = "leader"  # 网格长
    COMMUNITY = "community"  # 社区
    STREET = "street"  # 街道
    CENTRE = "centre"  # 指挥中心
    STATION = "station"  # 微型消防站
    INSTALLER = "installer"  # 安装调试人员: test incidents only


LADDER = (Role.WORKER, Role.LEADER, Role.COMMUNITY, Role.STREET, Role.CENTRE)
TOP_LEVEL = len(LADDER) - 1


def recipient_topic(role: Role, recipient_id: str) -> str:
    """The outbound MQTT topic (QoS 1) of a recipient, as the public contract names it."""
    if role is Role.STATION:
        return f"grid/stations/{recipient_id}/alarms"
    if role is Role.CENTRE:
        return "grid/centre/alarms"
    if role is Role.INSTALLER:
        return f"grid/installers/{recipient_id}/alarms"
    # Grid leaders and community/street staff are registered workers with phones too.
    return f"grid/workers/{recipient_id}/alarms"


def events_topic(incident_id: str) -> str:
    return f"grid/incidents/{incident_id}/events"


@dataclass(frozen=True, slots=True)
class Recipient:
    role: Role
    id: str = ""  # empty for the centre
    distance_m: float | None = None  # stations only
    within_radius: bool | None = None  # stations only

    @property
    def topic(self) -> str:
        return recipient_topic(self.role, self.id)


class Topology(Protocol):
    """What dispatch reads from the registry (``gateway.registry.Registry`` fits)."""

    def by_id(self, device_id: str) -> Device | None: ...

    def grid(self, code: str) -> Grid | None: ...

    def ancestors(self, code: str) -> list[Grid]: ...

    def stations(self) -> list[FireStation]: ...


def rung(topology: Topology, grid_code: str, level: int) -> list[Recipient]:
    """The people on one rung of the ladder above ``grid_code`` (empty when nobody is)."""
    role = LADDER[level]
    if role is Role.CENTRE:
        return [Recipient(Role.CENTRE)]
    if role in (Role.WORKER, Role.LEADER):
        grid = topology.grid(grid_code)
        person = None if grid is None else grid.worker_id if role is Role.WORKER else grid.leader_id
        return [Recipient(role, person)] if person else []
    wanted = GridLevel.COMMUNITY if role is Role.COMMUNITY else GridLevel.STREET
    unit = next((g for g in topology.ancestors(grid_code) if g.level is wanted), None)
    if unit is None:
        return []
    people = dict.fromkeys(p for p in (unit.leader_id, unit.worker_id) if p)
    return [Recipient(role, p) for p in people]


def climb(topology: Topology, grid_code: str, level: int) -> tuple[int, list[Recipient]]:
    """The first rung at or above ``level`` with someone on it, and who is there."""
    for at in range(level, TOP_LEVEL + 1):
        people = rung(topology, grid_code, at)
        if people:
            return at, people
    raise AssertionError("the centre rung is never empty")


class DispatchConfig(BaseModel):
    """Which incidents also go to a micro fire station, and how far one may be.

    ``station_radius_m`` (default 1 km, straight line): "3 分钟到场" leaves about 2 minutes on
    the road after turning out, ~1 km at 25-30 km/h on an e-bike or fire tricycle, and a road
    is longer than the haversine line. The nearest station inside the radius is dispatched;
    when none is inside, the nearest one beyond it is dispatched anyway (the fallback, marked
    ``within_radius: false`` and noted on the timeline: it cannot be expected in 3 minutes,
    and the on-site limit will escalate if nobody arrives), unless it is farther than
    ``station_fallback_max_m`` (default 5 km, about what a city fire brigade covers in its
    5 minutes): then no station is dispatched and the timeline says so.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    station_radius_m: float = Field(default=1000, gt=0)
    station_fallback_max_m: float | None = Field(default=5000, gt=0)
    # Kind → the lowest severity that brings a station.
    station_kinds: dict[IncidentKind, Severity] = {
        IncidentKind.FIRE: Severity.WARNING,
        IncidentKind.ELECTRICAL_HAZARD: Severity.CRITICAL,
    }

    @model_validator(mode="after")
    def _cap_beyond_radius(self) -> DispatchConfig:
        cap = self.station_fallback_max_m
        if cap is not None and cap < self.station_radius_m:
            raise ValueError("station_fallback_max_m must not be below station_radius_m")
        return self

    def wants_station(self, kind: IncidentKind, severity: Severity) -> bool:
        lowest = self.station_kinds.get(kind)
        return lowest is not None and severity_rank(severity) >= severity_rank(lowest)


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def pick_station(
    lat: float, lon: float, stations: Sequence[FireStation], config: DispatchConfig
) -> Recipient | None:
    """The nearest station, flagged inside or outside the radius; None beyond the fallback cap.

    Ties go to the lower station id, so the choice never depends on registration order.
    """
    if not stations:
        return None
    distance, station = min(
        ((haversine_m(lat, lon, s.lat, s.lon), s) for s in stations),
        key=lambda pair: (pair[0], pair[1].id),
    )
    within = distance <= config.station_radius_m
    cap = config.station_fallback_max_m
    if not within and cap is not None and distance > cap:
        return None
    return Recipient(Role.STATION, station.id, round(distance, 1), within)
