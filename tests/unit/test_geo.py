"""Grid boundaries: GeoJSON checked on the way in, points placed in the right grid."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest

from gateway.registry.geo import Geometry, GridMap, polygon_from_geojson, to_geojson


def square(west: float, south: float, size: float = 0.01) -> dict[str, Any]:
    e, n = west + size, south + size
    ring = [[west, south], [e, south], [e, n], [west, n], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def box(west: float, south: float, east: float, north: float) -> Geometry:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return polygon_from_geojson({"type": "Polygon", "coordinates": [ring]})


def polygon(*rings: list[list[float]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": list(rings)}


def ring(*points: tuple[float, float]) -> list[list[float]]:
    return [[x, y] for x, y in [*points, points[0]]]


SHELL = ring((0, 0), (4, 0), (4, 4), (0, 4))


def test_a_polygon_and_a_multipolygon_are_accepted() -> None:
    grid = polygon_from_geojson(square(121.46, 31.23))
    assert grid.type == "Polygon"
    assert grid.bounds == pytest.approx((121.46, 31.23, 121.47, 31.24))
    multi = {
        "type": "MultiPolygon",
        "coordinates": [square(121.46, 31.23)["coordinates"], square(121.5, 31.23)["coordinates"]],
    }
    geometry = polygon_from_geojson(multi)
    assert geometry.type == "MultiPolygon" and len(geometry.polygons) == 2
    assert geometry.bounds == pytest.approx((121.46, 31.23, 121.51, 31.24))


@pytest.mark.parametrize(
    ("geometry", "says"),
    [
        ({"type": "Point", "coordinates": [121.46, 31.23]}, "Polygon or MultiPolygon"),
        ({"type": "Polygon", "coordinates": "nonsense"}, "not valid GeoJSON"),
        ({"type": "Polygon", "coordinates": {}}, "not valid GeoJSON: coordinates must be an array"),
        ({"type": "Polygon"}, "not valid GeoJSON: coordinates must be an array, not None"),
        ({"type": "MultiPolygon", "coordinates": [{}]}, "coordinates[0] must be an array"),
        ({"type": "Polygon", "coordinates": [[1, 2]]}, "coordinates[0][0] is 1, not a position"),
        ({"type": "Polygon", "coordinates": []}, "geometry is empty"),
        ({"type": "Polygon", "coordinates": [[]]}, "geometry is empty"),
        ({"type": "MultiPolygon", "coordinates": [[], [[]]]}, "geometry is empty"),
        (
            polygon([[0, 0], ["1", 0], [1, 1], [0, 0]]),
            "coordinates[0][1] is ['1', 0], not a position",
        ),
        (polygon([[0, 0], [1, 0], [1, True], [0, 0]]), "coordinates[0][2] is [1, True], not a"),
        (polygon([[0, 0], [1], [1, 1], [0, 0]]), "coordinates[0][1] is [1], not a position"),
        (polygon([[0, 0], [1, 0, 0, 0], [1, 1], [0, 0]]), "not a position [lon, lat]"),
        (polygon([[0, 0], [float("nan"), 0], [1, 1], [0, 0]]), "finite numbers"),
        (polygon([[0, 0], [float("inf"), 0], [1, 1], [0, 0]]), "finite numbers"),
        (polygon([[0, 0], [10**400, 0], [1, 1], [0, 0]]), "finite numbers"),
        (
            polygon([[0, 0], [1, 0], [0, 0]]),
            "coordinates[0] has 3 positions; a ring needs at least 4",
        ),
        (polygon(SHELL, []), "coordinates[1] has 0 positions"),
        (polygon([[0, 0], [1, 0], [1, 1], [0, 1]]), "coordinates[0] is not closed"),
        (square(31.23, 121.46), "[lon, lat]"),  # the usual slip: lat and lon swapped
        (polygon([[181, 0], [1, 0], [1, 1], [181, 0]]), "coordinates out of range"),
        (
            {  # a bow tie: the ring crosses itself
                "type": "Polygon",
                "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]],
            },
            "geometry is invalid: Self-intersection[0.5 0.5]",
        ),
        (
            polygon(ring((121.46, 31.23), (121.47, 31.24), (121.47, 31.23), (121.46, 31.24))),
            "Self-intersection[121.465 31.235]",
        ),
        (polygon(ring((0, 0), (1, 0), (1, 0))), "Too few points in geometry component[0 0]"),
        (polygon(ring((0, 0), (1, 0), (2, 0))), "Zero area[0 0]"),  # all on one line
        (polygon(ring((0, 0), (2, 0), (2, 2), (1, 0), (0, 2))), "Ring Self-intersection[1 0]"),
        (polygon(ring((0, 0), (2, 0), (1, 0), (1, 1))), "Self-intersection"),  # a spike back
        (polygon(SHELL, ring((5, 5), (6, 5), (6, 6))), "Hole lies outside shell[5 5]"),
        (polygon(SHELL, ring((1, 1), (6, 1), (6, 2))), "Self-intersection[4 1]"),  # across
        (polygon(SHELL, ring((0, 0), (4, 0), (2, 1))), "Self-intersection"),  # along an edge
        (polygon(SHELL, ring((2, 0), (5, 2), (2, 4), (1, 2))), "Self-intersection[4 1.333333333]"),
        (polygon(SHELL, SHELL), "Self-intersection"),
        (
            polygon(
                SHELL, ring((1, 1), (3, 1), (3, 3), (1, 3)), ring((1.5, 1.5), (2, 1.5), (2, 2))
            ),
            "Holes are nested[1.5 1.5]",
        ),
        (
            polygon(SHELL, ring((1, 1), (3, 1), (3, 3), (1, 3)), ring((2, 2), (3, 2), (3, 3))),
            "Self-intersection",  # a hole overlapping another along an edge
        ),
        (  # a hole touching the shell at two points cuts the polygon in two
            polygon(SHELL, ring((0, 2), (2, 0), (4, 2), (2, 4))),
            "Interior is disconnected",
        ),
        (  # so do two holes touching each other and each the shell
            polygon(SHELL, ring((0, 2), (2, 1), (2, 3)), ring((2, 2), (4, 2), (3, 3))),
            "Interior is disconnected",
        ),
        (
            {  # two parts of a MultiPolygon sharing an edge: one polygon, drawn as two
                "type": "MultiPolygon",
                "coordinates": [
                    [ring((0, 0), (1, 0), (1, 1), (0, 1))],
                    [ring((1, 0), (2, 0), (2, 1), (1, 1))],
                ],
            },
            "Self-intersection",
        ),
        (
            {  # overlapping parts
                "type": "MultiPolygon",
                "coordinates": [
                    [ring((0, 0), (2, 0), (2, 2), (0, 2))],
                    [ring((1, 1), (3, 1), (3, 3), (1, 3))],
                ],
            },
            "Self-intersection",
        ),
        (
            {  # overlapping parts whose edges meet only at vertices
                "type": "MultiPolygon",
                "coordinates": [
                    [ring((0, 0), (2, 0), (2, 2), (0, 2))],
                    [ring((3, 1), (2, 2), (1, 1), (2, 0))],
                ],
            },
            "Self-intersection",
        ),
        (
            {  # one part inside another
                "type": "MultiPolygon",
                "coordinates": [[SHELL], [ring((1, 1), (2, 1), (2, 2), (1, 2))]],
            },
            "Nested shells[1 1]",
        ),
    ],
)
def test_a_bad_boundary_is_refused_with_the_reason(geometry: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        polygon_from_geojson(geometry)


@pytest.mark.parametrize(
    "geometry",
    [
        polygon(SHELL, ring((0, 0), (2, 1), (1, 2))),  # a hole touching its shell at one point
        polygon(SHELL, ring((1, 1), (2, 1), (2, 2)), ring((2, 2), (3, 2), (3, 3))),  # holes at one
        polygon(ring((0, 0), (4, 0), (4, 4), (4, 4), (0, 4))),  # a repeated position
        polygon(ring((4, 0), (0, 0), (0, 4))),  # clockwise
        polygon([[0, 0, 3], [1, 0, 3], [1, 1, 3], [0, 0, 3]]),  # with altitudes
        {  # parts touching at a corner
            "type": "MultiPolygon",
            "coordinates": [
                [ring((0, 0), (1, 0), (1, 1), (0, 1))],
                [ring((1, 1), (2, 1), (2, 2), (1, 2))],
            ],
        },
        {  # an island in a lake
            "type": "MultiPolygon",
            "coordinates": [
                [SHELL, ring((1, 1), (3, 1), (3, 3), (1, 3))],
                [ring((1.5, 1.5), (2.5, 1.5), (2, 2.5))],
            ],
        },
    ],
)
def test_valid_boundaries_with_touching_rings_are_accepted(geometry: dict[str, Any]) -> None:
    assert polygon_from_geojson(geometry).bounds


def test_to_geojson_gives_plain_lists_that_read_back_the_same() -> None:
    multi = {
        "type": "MultiPolygon",
        "coordinates": [[SHELL, ring((1, 1), (2, 1), (2, 2))], [ring((5, 5), (6, 5), (6, 6))]],
    }
    for geojson in (square(121.46, 31.23), multi):
        geometry = polygon_from_geojson(geojson)
        out = to_geojson(geometry)
        assert out == {"type": geojson["type"], "coordinates": geojson["coordinates"]}
        shell = out["coordinates"][0] if out["type"] == "Polygon" else out["coordinates"][0][0]
        assert type(shell) is list and type(shell[0]) is list  # JSON-ready, as the API sends it
        assert all(type(n) is float for n in shell[0])
        assert polygon_from_geojson(out) == geometry
    assert to_geojson(
        polygon_from_geojson(polygon([[0, 0, 9], [1, 0, 9], [1, 1, 9], [0, 0, 9]]))
    ) == {
        "type": "Polygon",
        "coordinates": [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]],
    }


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
    assert grids.locate(31.235, 121.485) is None  # inside the map's extent, in no grid


def test_a_point_on_a_shared_border_goes_to_the_lower_code_whatever_the_order() -> None:
    west, east = box(121.46, 31.23, 121.47, 31.24), box(121.47, 31.23, 121.48, 31.24)
    assert GridMap([("G-02", east), ("G-01", west)]).locate(31.235, 121.47) == "G-01"
    assert GridMap([("G-01", west), ("G-02", east)]).locate(31.235, 121.47) == "G-01"
    assert GridMap([("G-02", east), ("G-01", west)]).locate(31.24, 121.47) == "G-01"  # corner
    assert GridMap([("G-02", east)]).locate(31.235, 121.47) == "G-02"  # a border is covered


def test_a_point_on_a_diagonal_border_is_covered() -> None:
    """Decimal degrees are not exact in binary; the side tests are, so a vertex of the
    neighbouring grid that lies on the border counts as on it."""
    lower = polygon_from_geojson(polygon(ring((121.46, 31.23), (121.49, 31.23), (121.49, 31.26))))
    grids = GridMap([("G-01", lower)])
    assert grids.locate(31.23, 121.46) == "G-01"  # a vertex
    assert grids.locate(31.24, 121.47) == grids.locate(31.25, 121.48) == "G-01"  # on the edge
    assert grids.locate(31.2400001, 121.47) is None


def test_a_hole_is_outside_but_its_border_is_in() -> None:
    courtyard = polygon_from_geojson(polygon(SHELL, ring((1, 1), (3, 1), (3, 3), (1, 3))))
    assert courtyard.covers(0.5, 0.5)
    assert not courtyard.covers(2, 2)
    assert courtyard.covers(1, 2) and courtyard.covers(3, 3)
    assert not courtyard.covers(5, 5)
    grids = GridMap([("G-01", courtyard), ("G-02", box(1, 1, 3, 3))])
    assert grids.locate(2, 2) == "G-02"
    assert grids.locate(1, 2) == "G-01"  # on both borders: the lower code


def test_a_multipolygon_grid_covers_each_part() -> None:
    parts = polygon_from_geojson(
        {
            "type": "MultiPolygon",
            "coordinates": [
                [ring((0, 0), (1, 0), (1, 1), (0, 1))],
                [ring((2, 0), (3, 0), (3, 1), (2, 1))],
            ],
        }
    )
    grids = GridMap([("G-01", parts)])
    assert grids.locate(0.5, 0.5) == grids.locate(0.5, 2.5) == "G-01"
    assert grids.locate(0.5, 1.5) is None


def test_an_empty_map_places_nothing() -> None:
    assert GridMap([]).locate(31.23, 121.47) is None


def test_a_large_map_places_points_as_a_scan_of_every_grid_would() -> None:
    """4900 grids in the cell index: the answer equals testing every grid in code order."""
    rng = random.Random(3)
    size = 0.003
    grids = [
        (
            f"G-{rng.randrange(10**6):06d}",
            box(121.3 + i * size, 31.1 + j * size, 121.3 + (i + 1) * size, 31.1 + (j + 1) * size),
        )
        for i in range(70)
        for j in range(70)
    ]
    grid_map = GridMap(grids)
    ordered = sorted(grids, key=lambda item: item[0])
    points = [
        (31.1 + rng.uniform(-0.01, 0.22), 121.3 + rng.uniform(-0.01, 0.22)) for _ in range(300)
    ]
    points += [
        (31.1 + j * size, 121.3 + i * size)
        for i, j in ((rng.randrange(71), rng.randrange(71)) for _ in range(100))
    ]
    for lat, lon in points:
        expected = next((code for code, g in ordered if g.covers(lat, lon)), None)
        assert grid_map.locate(lat, lon) == expected, (lat, lon)
