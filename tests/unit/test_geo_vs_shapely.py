"""gateway.registry.geo against shapely (GEOS), on many generated boundaries and points.

The gateway checks boundaries and places points in plain Python; shapely is a test-only
dependency here, the reference both have to agree with: the same verdict (valid or not) for
every generated boundary, the same answer for every point. Small-integer lattices give the
hard cases often — shared vertices, points on edges, collinear edges, holes touching their
shell — and both sides compute them exactly; decimal degrees around central Shanghai give
the field's numbers, which are not exact in binary.

Where the two differ by design, the case is written down in KNOWN_DIFFERENCES with why.
"""

from __future__ import annotations

import itertools
import math
import random
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import shapely
from shapely.geometry import Point, shape

from gateway.registry.geo import GridMap, polygon_from_geojson, to_geojson

Ring = list[list[float]]
Json = dict[str, Any]


def polygon(*rings: Ring) -> Json:
    return {"type": "Polygon", "coordinates": list(rings)}


def multipolygon(*polygons: list[Ring]) -> Json:
    return {"type": "MultiPolygon", "coordinates": list(polygons)}


def closed(points: list[tuple[float, float]]) -> Ring:
    return [[x, y] for x, y in [*points, points[0]]]


def box(west: float, south: float, east: float, north: float) -> Ring:
    return closed([(west, south), (east, south), (east, north), (west, north)])


def lattice_ring(rng: random.Random, size: int = 4, offset: int = 0) -> Ring:
    """3 to 6 lattice points in any order: simple, crossing, touching, collinear, repeated."""
    n = rng.randint(3, 6)
    return closed(
        [(offset + rng.randint(0, size), offset + rng.randint(0, size)) for _ in range(n)]
    )


def lattice_shape(rng: random.Random, low: int, high: int) -> Ring:
    """A box, a triangle (now and then a flat one) or any lattice ring, between low and high."""
    kind = rng.random()
    if kind < 0.45:
        west, south = rng.randint(low, high - 1), rng.randint(low, high - 1)
        return box(west, south, rng.randint(west + 1, high), rng.randint(south + 1, high))
    if kind < 0.85:
        lattice = [(x, y) for x in range(low, high + 1) for y in range(low, high + 1)]
        return closed(rng.sample(lattice, 3))
    return lattice_ring(rng, high - low, low)


def star_ring(rng: random.Random, x: float, y: float, radius: float, n: int) -> Ring:
    """A simple ring: n vertices around (x, y), each in its own slice of the circle (so no
    gap reaches half a turn), at random distances."""
    angles = [(k + rng.uniform(0, 0.4)) * 2 * math.pi / n for k in range(n)]
    return closed(
        [
            (x + r * math.cos(a), y + r * math.sin(a))
            for a, r in ((a, rng.uniform(radius / 3, radius)) for a in angles)
        ]
    )


def ours_valid(geojson: Json) -> bool:
    try:
        polygon_from_geojson(geojson)
    except ValueError as e:
        assert "geometry is invalid" in str(e), e  # generated input is always sound GeoJSON
        return False
    return True


def shapely_valid(geojson: Json) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GEOS's own notices about the invalid ones
        return bool(shape(geojson).is_valid)


def cases(seed: int, count: int) -> Iterator[Json]:
    """Lattice polygons; holes inside, outside, across and touching their shell and each
    other; MultiPolygons of 2-3 parts apart, touching, overlapping and nested."""
    rng = random.Random(seed)
    for _ in range(count):
        kind = rng.random()
        if kind < 0.2:
            yield polygon(lattice_ring(rng))
        elif kind < 0.6:
            shell = box(0, 0, 8, 8) if rng.random() < 0.6 else lattice_shape(rng, 0, 8)
            holes = []
            for _ in range(rng.randint(1, 3)):
                low = rng.randint(-1, 6)
                holes.append(lattice_shape(rng, low, low + rng.randint(1, 3)))
            if rng.random() < 0.2:  # a hole in a hole, or touching it from inside
                holes[0] = box(1, 1, 5, 5)
                holes.append(lattice_shape(rng, 1, 5))
            yield polygon(shell, *holes)
        else:
            parts = []
            for _ in range(rng.randint(2, 3)):
                low = rng.randint(0, 5)
                parts.append([lattice_shape(rng, low, low + rng.randint(1, 4))])
            if rng.random() < 0.2:
                parts[0] = [box(0, 0, 8, 8), box(1, 1, 6, 6)]  # a lake, other parts maybe in it
            yield multipolygon(*parts)


@pytest.mark.parametrize("seed", range(4))
def test_the_validity_verdicts_agree_with_shapely(seed: int) -> None:
    disagreements = [
        geojson for geojson in cases(seed, 1500) if ours_valid(geojson) != shapely_valid(geojson)
    ]
    assert disagreements == []


def test_the_generated_cases_cover_valid_and_each_kind_of_invalid() -> None:
    """The cross-check above means something only if the cases hit every reason."""
    reasons: set[str] = set()
    valid = 0
    for geojson in cases(0, 1500):
        try:
            polygon_from_geojson(geojson)
            valid += 1
        except ValueError as e:
            reasons.add(str(e).removeprefix("geometry is invalid: ").split("[")[0])
    assert valid > 300
    assert reasons >= {
        "Too few points in geometry component",
        "Zero area",
        "Self-intersection",
        "Ring Self-intersection",
        "Hole lies outside shell",
        "Holes are nested",
        "Interior is disconnected",
        "Nested shells",
    }


@pytest.mark.parametrize("seed", range(3))
def test_random_simple_rings_are_valid_for_both(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(300):
        ring = star_ring(rng, 121.47, 31.23, 0.01, rng.randint(3, 40))
        assert ours_valid(polygon(ring)) == shapely_valid(polygon(ring)), ring
    # And the same vertices in a random order: mostly crossing rings.
    for _ in range(300):
        ring = star_ring(rng, 121.47, 31.23, 0.01, rng.randint(4, 12))[:-1]
        rng.shuffle(ring)
        ring.append(ring[0])
        assert ours_valid(polygon(ring)) == shapely_valid(polygon(ring)), ring


def lattice_points(low: float, high: float) -> list[tuple[float, float]]:
    steps = range(int(low * 2), int(high * 2) + 1)
    return [(x / 2, y / 2) for x in steps for y in steps]


@pytest.mark.parametrize("seed", range(3))
def test_covers_agrees_with_shapely_on_vertices_edges_and_holes(seed: int) -> None:
    """Every half-lattice point — vertices, points on edges, inside, in holes, outside."""
    checked = 0
    for geojson in cases(seed, 400):
        if not ours_valid(geojson):
            continue
        ours, theirs = polygon_from_geojson(geojson), shape(geojson)
        for x, y in lattice_points(-1, 7):
            assert ours.covers(y, x) == theirs.covers(Point(x, y)), (geojson, x, y)
            checked += 1
    assert checked > 10_000


def test_covers_agrees_with_shapely_in_decimal_degrees() -> None:
    """Field numbers: vertices, edge midpoints and random points around simple rings."""
    rng = random.Random(7)
    for _ in range(200):
        ring = star_ring(rng, 121.47, 31.23, 0.01, rng.randint(3, 12))
        ours, theirs = polygon_from_geojson(polygon(ring)), shape(polygon(ring))
        points = [(x, y) for x, y in ring]
        points += [((a[0] + b[0]) / 2, (a[1] + b[1]) / 2) for a, b in itertools.pairwise(ring)]
        points += [(121.47 + rng.uniform(-0.01, 0.01), 31.23 + rng.uniform(-0.01, 0.01))]
        for x, y in points:
            assert ours.covers(y, x) == theirs.covers(Point(x, y)), (ring, x, y)


def test_the_grid_map_agrees_with_shapely_on_a_decimal_grid_with_shared_borders() -> None:
    """Boxes 0.01° apart, cut in two along a diagonal here and there, one with a hole."""
    rng = random.Random(11)
    grids: dict[str, Json] = {}
    for i in range(12):
        for j in range(12):
            west, south = round(121.40 + i * 0.01, 2), round(31.20 + j * 0.01, 2)
            east, north = round(west + 0.01, 2), round(south + 0.01, 2)
            code = f"G-{rng.randrange(10_000):04d}-{i:02d}{j:02d}"  # codes in no grid order
            if (i + j) % 5 == 0:  # two triangles sharing a diagonal
                grids[code + "a"] = polygon(closed([(west, south), (east, south), (east, north)]))
                grids[code + "b"] = polygon(closed([(west, south), (east, north), (west, north)]))
            elif (i * j) % 7 == 3:
                hole = box(west + 0.002, south + 0.002, west + 0.005, south + 0.004)
                grids[code] = polygon(box(west, south, east, north), hole)
            else:
                grids[code] = polygon(box(west, south, east, north))
    grid_map = GridMap((code, polygon_from_geojson(g)) for code, g in grids.items())
    reference = sorted((code, shape(g)) for code, g in grids.items())

    def expected(lat: float, lon: float) -> str | None:
        return next((code for code, g in reference if g.covers(Point(lon, lat))), None)

    points = [
        (31.2 + rng.uniform(-0.01, 0.13), 121.4 + rng.uniform(-0.01, 0.13)) for _ in range(1500)
    ]
    for g in grids.values():  # every vertex and every edge's midpoint
        ring = g["coordinates"][0]
        points += [(lat, lon) for lon, lat in ring]
        points += [((a[1] + b[1]) / 2, (a[0] + b[0]) / 2) for a, b in itertools.pairwise(ring)]
    for lat, lon in points:
        assert grid_map.locate(lat, lon) == expected(lat, lon), (lat, lon)


def test_to_geojson_round_trips_and_shapely_reads_the_same_area() -> None:
    for geojson in cases(3, 300):
        if ours_valid(geojson):
            ours = polygon_from_geojson(geojson)
            assert polygon_from_geojson(to_geojson(ours)) == ours
            assert shape(ours).equals(shape(geojson))  # through __geo_interface__


# Where shapely and the gateway differ by design: (case, shapely's answer, ours, why).
KNOWN_DIFFERENCES: list[tuple[Json, str, str, str]] = [
    (
        polygon([[0, 0], [1, 0], [1, 1]]),
        "Valid Geometry",
        "not valid GeoJSON: coordinates[0] has 3 positions",
        "shapely closes an open ring itself; GeoJSON (RFC 7946 §3.1.6) requires it closed, "
        "and an open ring in an import is more likely a truncated file than a shorthand",
    ),
    (
        polygon([[0, 0], [1, 0], [1, 1], [0, 1]]),
        "Valid Geometry",
        "not valid GeoJSON: coordinates[0] is not closed",
        "the same, with enough positions",
    ),
    (
        polygon([[0, 0], [1, 0], [0, 0]]),
        "Too few points in geometry component[0 0]",
        "not valid GeoJSON: coordinates[0] has 3 positions; a ring needs at least 4",
        "both refuse; fewer than 4 positions is a GeoJSON error before it is a geometry one",
    ),
    (
        polygon(box(0, 0, 1, 1), []),
        "Valid Geometry",
        "not valid GeoJSON: coordinates[1] has 0 positions",
        "shapely keeps an empty hole; in GeoJSON a ring has at least 4 positions",
    ),
    (
        polygon([["0", "0"], ["1", "0"], [1, 1], [0, 0]]),
        "Valid Geometry",
        "not valid GeoJSON: coordinates[0][0] is ['0', '0']",
        "numpy parses numeric strings; GeoJSON positions are numbers",
    ),
    (
        polygon([[0, 0], [1, 0], [1, True], [0, 0]]),
        "Valid Geometry",
        "not valid GeoJSON: coordinates[0][2] is [1, True]",
        "numpy reads true as 1; GeoJSON positions are numbers",
    ),
    (
        polygon([[0, 0], [1, 0], [2, 0], [0, 0]]),
        "Self-intersection[1 0]",
        "geometry is invalid: Zero area[0 0]",
        "both refuse; a ring along one line is named for what it is",
    ),
    (
        polygon([[0, 0], [1e-300, 0], [1e-300, 1e-300], [0, 0]]),
        "Self-intersection[1e-300 0]",
        "",  # valid: the gateway's side tests are exact
        "GEOS's arithmetic underflows on a triangle 1e-300 wide; no boundary on Earth is",
    ),
]


@pytest.mark.parametrize(
    ("geojson", "theirs", "ours", "why"),
    KNOWN_DIFFERENCES,
    ids=[d[3][:40] for d in KNOWN_DIFFERENCES],
)
def test_the_known_differences_from_shapely_are_as_written(
    geojson: Json, theirs: str, ours: str, why: str
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert shapely.is_valid_reason(shape(geojson)) == theirs
    if ours:
        with pytest.raises(ValueError, match=ours.replace("[", r"\[").replace("]", r"\]")):
            polygon_from_geojson(geojson)
    else:
        polygon_from_geojson(geojson)


def test_an_altitude_is_dropped_where_shapely_keeps_it() -> None:
    """A known difference too: grid boundaries are flat, so [lon, lat, alt] becomes [lon, lat]."""
    geojson = polygon([[0, 0, 5], [1, 0, 5], [1, 1, 5], [0, 0, 5]])
    assert shape(geojson).has_z
    assert to_geojson(polygon_from_geojson(geojson))["coordinates"] == [
        [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]
    ]
