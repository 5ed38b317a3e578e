"""Grid boundaries: GeoJSON polygons in, "which grid is this point in" out.

GeoJSON orders coordinates ``[lon, lat]``; everything else in firegrid says ``lat, lon``.
The swap happens here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import shapely
from shapely.errors import ShapelyError
from shapely.geometry import MultiPolygon, Point, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.strtree import STRtree

GeoJson = Mapping[str, Any]


def polygon_from_geojson(obj: GeoJson) -> BaseGeometry:
    """A valid Polygon/MultiPolygon in WGS 84, or ValueError saying what is wrong."""
    kind = obj.get("type")
    if kind not in ("Polygon", "MultiPolygon"):
        raise ValueError(f"geometry must be a Polygon or MultiPolygon, not {kind!r}")
    try:
        geometry = shape(obj)
    # LookupError: "coordinates": [] fails by index, "coordinates": {} by key (a 500 once).
    except (ValueError, TypeError, AttributeError, LookupError, ShapelyError) as e:
        raise ValueError(f"geometry is not valid GeoJSON: {e}") from e
    if geometry.is_empty:
        raise ValueError("geometry is empty")
    min_lon, min_lat, max_lon, max_lat = geometry.bounds
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        # The usual cause is [lat, lon] pairs: (31.2, 121.5) read as lon 31.2, lat 121.5.
        raise ValueError("coordinates out of range; GeoJSON positions are [lon, lat]")
    if not geometry.is_valid:
        raise ValueError(f"geometry is invalid: {shapely.is_valid_reason(geometry)}")
    assert isinstance(geometry, Polygon | MultiPolygon)
    return geometry


def to_geojson(geometry: BaseGeometry) -> dict[str, Any]:
    return dict(mapping(geometry))


class GridMap:
    """Point-in-polygon over the grid-level (网格) boundaries, through an STR-tree.

    A point on a border shared by two grids belongs to the one whose code sorts first, so
    the answer never depends on import order.
    """

    def __init__(self, polygons: Iterable[tuple[str, BaseGeometry]]) -> None:
        items = sorted(polygons, key=lambda item: item[0])
        self._codes = [code for code, _ in items]
        self._tree = STRtree([geometry for _, geometry in items])

    def locate(self, lat: float, lon: float) -> str | None:
        hits = self._tree.query(Point(lon, lat), predicate="covered_by")
        return self._codes[min(hits)] if len(hits) else None
