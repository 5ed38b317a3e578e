"""Grid boundaries: GeoJSON checked on the way in, points placed in the right grid."""

from __future__ import annotations

import pytest
from shapely.geometry import box

from gateway.registry.geo import GridMap, polygon_from_geojson


def square(west: float, south: float, size: float = 0.01) -> dict[str, object]:
    e, n = west + size, south + size
    ring = [[west, south], [e, south], [e, n], [west, n], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def test_a_polygon_and_a_multipolygon_are_accepted() -> None:
    assert polygon_from_geojson(square(121.46, 31.23)).area > 0
    multi = {
        "type": "MultiPolygon",
        "coordinates": [square(121.46, 31.23)["coordinates"], square(121.5, 31.23)["coordinates"]],
    }
    assert polygon_from_geojson(multi).geom_type == "MultiPolygon"


@pytest.mark.parametrize(
    ("geometry", "says"),
    [
        ({"type": "Point", "coordinates": [121.46, 31.23]}, "Polygon or MultiPolygon"),
        ({"type": "Polygon", "coordinates": "nonsense"}, "not valid GeoJSON"),
        (square(31.23, 121.46), "[lon, lat]"),  # the usual slip: lat and lon swapped
        (
            {  # a bow tie: the ring crosses itself
                "type": "Polygon",
                "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]],
            },
            "Self-intersection",
        ),
    ],
)
def test_a_bad_boundary_is_refused_with_the_reason(geometry: dict[str, object], says: str) -> None:
    with pytest.raises(ValueError, match=says.replace("[", r"\[").replace("]", r"\]")):
        polygon_from_geojson(geometry)


def test_a_point_is_placed_in_the_grid_that_covers_it() -> None:
    grids = GridMap(
        [
            ("G-02", box(121.47, 31.23, 121.48, 31.24)),
            ("G-01", box(121.46, 31.23, 121.47, 31.24)),
        ]
    )
    assert grids.locate(31.235, 121.465) == "G-01"
    assert grids.locate(31.235, 121.475) == "G-02"
    assert grids.locate(31.2, 121.4) is None


def test_a_point_on_a_shared_border_goes_to_the_lower_code_whatever_the_order() -> None:
    west, east = box(121.46, 31.23, 121.47, 31.24), box(121.47, 31.23, 121.48, 31.24)
    assert GridMap([("G-02", east), ("G-01", west)]).locate(31.235, 121.47) == "G-01"
    assert GridMap([("G-01", west), ("G-02", east)]).locate(31.235, 121.47) == "G-01"


def test_an_empty_map_places_nothing() -> None:
    assert GridMap([]).locate(31.23, 121.47) is None
