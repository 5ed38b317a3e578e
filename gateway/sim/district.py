"""A simulated district: the grid ladder (区 → 街道 → 社区 → 网格) drawn as rectangles, its
people (网格员 per grid, 网格长 per community, street and district) and its micro fire stations
(微型消防站).

Everything is derived from a :class:`DistrictPlan` and a seed, so the same plan always draws the
same map; ``firegrid demo`` uses :data:`DEMO_DISTRICT`, a district-scale run a bigger plan.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gateway.model import FireStation, Grid, GridLevel, GridWorker

ORIGIN = (31.23, 121.47)  # lat, lon: central Shanghai
# About 330 m × 330 m: a base grid of 300-500 households (DOMAIN.md).
GRID_DLAT = 0.003
GRID_DLON = 0.0035
PAD = 0.0004  # margin between a unit and its parent's boundary, in degrees

_STREETS = ["南京东路", "外滩", "半淞园路", "小东门", "豫园", "老西门", "五里桥", "打浦桥"]
_COMMUNITIES = ["福佑", "宝兴", "金陵", "贵州", "云南", "牯岭", "江阴", "新桥"]
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林"
_GIVEN = ["伟", "芳", "敏", "静", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超", "霞"]


@dataclass(frozen=True, slots=True)
class DistrictPlan:
    """How big the district is: the demo's is one community of four grids."""

    streets: int = 1
    communities_per_street: int = 1
    grids_per_community: int = 4
    stations: int = 3
    seed: int = 2026


DEMO_DISTRICT = DistrictPlan()


@dataclass(frozen=True, slots=True)
class Box:
    """A lat/lon rectangle."""

    south: float
    west: float
    north: float
    east: float

    def ring(self) -> list[list[float]]:
        """The closed GeoJSON ring, positions ``[lon, lat]``, counter-clockwise."""
        s, w, n, e = self.south, self.west, self.north, self.east
        return [[w, s], [e, s], [e, n], [w, n], [w, s]]

    def contains(self, lat: float, lon: float) -> bool:
        return self.south <= lat <= self.north and self.west <= lon <= self.east

    def point(self, rng: random.Random, margin: float = 0.0002) -> tuple[float, float]:
        """A random (lat, lon) inside, ``margin`` degrees clear of the edges."""
        lat = rng.uniform(self.south + margin, self.north - margin)
        lon = rng.uniform(self.west + margin, self.east - margin)
        return round(lat, 6), round(lon, 6)


@dataclass(frozen=True, slots=True)
class Unit:
    """One unit of the ladder with its boundary."""

    grid: Grid
    box: Box


@dataclass(frozen=True, slots=True)
class District:
    units: tuple[Unit, ...]
    people: tuple[GridWorker, ...]  # grid workers (网格员) and leaders (网格长)
    stations: tuple[FireStation, ...]

    def base_grids(self) -> list[Unit]:
        """The 网格 level, where devices are installed and workers patrol."""
        return [u for u in self.units if u.grid.level is GridLevel.GRID]

    def unit(self, code: str) -> Unit:
        return next(u for u in self.units if u.grid.code == code)

    def feature_collection(self) -> dict[str, Any]:
        """The GeoJSON ``POST /api/v1/grids`` takes, parents before children."""
        return {"type": "FeatureCollection", "features": [_feature(u) for u in self.units]}


def _feature(unit: Unit) -> dict[str, Any]:
    g = unit.grid
    return {
        "type": "Feature",
        "properties": {
            "code": g.code,
            "name": g.name,
            "level": g.level.value,
            "parent": g.parent,
            "worker_id": g.worker_id,
            "leader_id": g.leader_id,
        },
        "geometry": {"type": "Polygon", "coordinates": [unit.box.ring()]},
    }


def _tiles(n: int) -> tuple[int, int]:
    """Columns and rows of the most nearly square arrangement of ``n`` tiles."""
    cols = math.ceil(math.sqrt(n))
    return cols, math.ceil(n / cols)


def _cells(box: Box, n: int, pad: float) -> Iterator[Box]:
    """``n`` equal child boxes tiling ``box`` row by row, each ``pad`` inside its cell."""
    cols, rows = _tiles(n)
    dlat, dlon = (box.north - box.south) / rows, (box.east - box.west) / cols
    for i in range(n):
        row, col = divmod(i, cols)
        s, w = box.south + row * dlat, box.west + col * dlon
        yield Box(
            round(s + pad, 6), round(w + pad, 6), round(s + dlat - pad, 6), round(w + dlon - pad, 6)
        )


def _span(n: int, inner_dlat: float, inner_dlon: float) -> tuple[float, float]:
    """The size of a parent holding ``n`` children of the given size, with padding."""
    cols, rows = _tiles(n)
    return rows * (inner_dlat + 2 * PAD), cols * (inner_dlon + 2 * PAD)


class _People:
    """Hands out people with plausible names and phone numbers, ids in order."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._counts: dict[str, int] = {}
        self.made: list[GridWorker] = []

    def new(self, prefix: str) -> str:
        rng = self._rng
        name = rng.choice(_SURNAMES) + "".join(rng.choices(_GIVEN, k=rng.choice((1, 2))))
        self._counts[prefix] = self._counts.get(prefix, 0) + 1
        person_id = f"{prefix}{self._counts[prefix]:03d}"
        phone = f"13{rng.randint(0, 9)}{rng.randint(0, 99_999_999):08d}"
        self.made.append(GridWorker(person_id, name, phone))
        return person_id


def build_district(plan: DistrictPlan = DEMO_DISTRICT) -> District:
    """Draw the ladder top-down: every child lies inside its parent, siblings never overlap."""
    rng = random.Random(plan.seed)
    people = _People(rng)
    community_size = _span(plan.grids_per_community, GRID_DLAT, GRID_DLON)
    street_size = _span(plan.communities_per_street, *community_size)
    dlat, dlon = _span(plan.streets, *street_size)
    lat0, lon0 = ORIGIN[0] - dlat / 2, ORIGIN[1] - dlon / 2
    district_box = Box(round(lat0, 6), round(lon0, 6), round(lat0 + dlat, 6), round(lon0 + dlon, 6))
    district = Grid("HP", "示范区", GridLevel.DISTRICT, leader_id=people.new("ld"))
    units = [Unit(district, district_box)]
    for s, street_box in enumerate(_cells(district_box, plan.streets, PAD), start=1):
        street = Grid(
            f"HP-{s:02d}",
            f"{_STREETS[(s - 1) % len(_STREETS)]}街道",
            GridLevel.STREET,
            parent=district.code,
            leader_id=people.new("ls"),
        )
        units.append(Unit(street, street_box))
        for c, community_box in enumerate(_cells(street_box, plan.communities_per_street, PAD), 1):
            units += _community(plan, people, street, c, community_box)
    return District(tuple(units), tuple(people.made), _stations(plan, units, rng))


def _community(plan: DistrictPlan, people: _People, street: Grid, c: int, box: Box) -> list[Unit]:
    leader = people.new("lc")
    community = Grid(
        f"{street.code}-{c:02d}",
        f"{_COMMUNITIES[(c - 1) % len(_COMMUNITIES)]}社区",
        GridLevel.COMMUNITY,
        parent=street.code,
        leader_id=leader,
    )
    units = [Unit(community, box)]
    for g, grid_box in enumerate(_cells(box, plan.grids_per_community, PAD), start=1):
        grid = Grid(
            f"{community.code}-{g:02d}",
            f"{community.name}第{g}网格",
            GridLevel.GRID,
            parent=community.code,
            worker_id=people.new("w"),
            leader_id=leader,
        )
        units.append(Unit(grid, grid_box))
    return units


def _stations(plan: DistrictPlan, units: list[Unit], rng: random.Random) -> tuple[FireStation, ...]:
    """Spread the stations evenly over the base grids, each at a point inside its grid."""
    grids = [u for u in units if u.grid.level is GridLevel.GRID]
    stations = []
    for i in range(plan.stations):
        unit = grids[(i * max(1, len(grids) // max(1, plan.stations))) % len(grids)]
        lat, lon = unit.box.point(rng)
        phone = f"021-{rng.randint(5000_0000, 6999_9999)}"
        name = f"{unit.grid.name}微型消防站"
        stations.append(FireStation(f"ms-{i + 1:02d}", name, lat, lon, phone))
    return tuple(stations)
