"""Grid boundaries: GeoJSON polygons in, "which grid is this point in" out.

GeoJSON orders coordinates ``[lon, lat]``; everything else in firegrid says ``lat, lon``.
The swap happens here and nowhere else: inside this module a point is ``(lon, lat)``, x then y.

Plain Python on purpose: shapely and numpy cost about 15 MiB of RSS in every gateway process.
A boundary is checked once, when it is imported, against the rules GIS tools call "valid"
(OGC simple features, as GEOS and shapely check them), with GEOS's wording for the reasons:
closed rings that do not cross or touch themselves, holes inside their shell and not inside
each other, an interior in one piece, parts of a MultiPolygon that do not overlap.
tests/unit/test_geo_vs_shapely.py cross-checks the verdicts and the lookups against shapely.

Side tests are exact: a float determinant decides unless it is within its rounding error
of zero, and then exact fractions do. So a point on a border is on it, whatever its digits.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise, permutations
from typing import Any

GeoJson = Mapping[str, Any]
Point = tuple[float, float]  # (lon, lat)
Ring = tuple[Point, ...]  # closed: the last point repeats the first
Polygon = tuple[Ring, ...]  # the outer ring (shell), then the holes
Exact = tuple[Fraction, Fraction]  # a point computed here, between two others


@dataclass(frozen=True, slots=True)
class Geometry:
    """A checked Polygon or MultiPolygon, as :func:`polygon_from_geojson` returns it."""

    type: str  # "Polygon" or "MultiPolygon", as in the GeoJSON
    polygons: tuple[Polygon, ...]  # one for a Polygon
    bounds: tuple[float, float, float, float]  # west, south, east, north: lon, lat, lon, lat

    def covers(self, lat: float, lon: float) -> bool:
        """Inside or on the border. A point in a hole is outside; on the hole's border, in."""
        west, south, east, north = self.bounds
        if not (west <= lon <= east and south <= lat <= north):
            return False
        return any(_side(polygon, (lon, lat)) >= 0 for polygon in self.polygons)

    @property
    def __geo_interface__(self) -> dict[str, Any]:
        """The GeoJSON, for other tools: ``shapely.geometry.shape(g)`` reads it."""
        return to_geojson(self)


def polygon_from_geojson(obj: GeoJson) -> Geometry:
    """A valid Polygon/MultiPolygon in WGS 84, or ValueError saying what is wrong."""
    kind = obj.get("type")
    if kind not in ("Polygon", "MultiPolygon"):
        raise ValueError(f"geometry must be a Polygon or MultiPolygon, not {kind!r}")
    coordinates = obj.get("coordinates")
    if kind == "Polygon":
        parts = [_polygon(coordinates, "coordinates")]
    else:
        parts = [
            _polygon(part, f"coordinates[{i}]")
            for i, part in enumerate(_array(coordinates, "coordinates"))
        ]
    polygons = tuple(part for part in parts if part)
    if not polygons:
        raise ValueError("geometry is empty")
    _check_valid(polygons)
    west, south, east, north = zip(*(_box(polygon[0]) for polygon in polygons), strict=True)
    return Geometry(kind, polygons, (min(west), min(south), max(east), max(north)))


def to_geojson(geometry: Geometry) -> dict[str, Any]:
    """The plain GeoJSON mapping (lists, ``[lon, lat]``); polygon_from_geojson reads it back."""
    polygons = [[[list(p) for p in ring] for ring in polygon] for polygon in geometry.polygons]
    coordinates = polygons[0] if geometry.type == "Polygon" else polygons
    return {"type": geometry.type, "coordinates": coordinates}


class GridMap:
    """Point-in-polygon over the grid-level (网格) boundaries.

    The map's extent is cut into about as many cells as there are grids, and each grid is
    filed under the cells its bounding box overlaps: a lookup tests only the few grids of
    its point's cell. A point on a border shared by two grids belongs to the one whose code
    sorts first, so the answer never depends on import order.
    """

    def __init__(self, polygons: Iterable[tuple[str, Geometry]]) -> None:
        items = sorted(polygons, key=lambda item: item[0])
        self._codes = [code for code, _ in items]
        self._geometries = [geometry for _, geometry in items]
        self._n = max(1, math.isqrt(len(items)))  # cells per side
        self._cells: list[tuple[int, ...]] = []
        self._bounds = (math.inf, math.inf, -math.inf, -math.inf)  # an empty map holds nothing
        if not items:
            return
        boxes = [geometry.bounds for geometry in self._geometries]
        west, south = min(b[0] for b in boxes), min(b[1] for b in boxes)
        east, north = max(b[2] for b in boxes), max(b[3] for b in boxes)
        self._bounds = (west, south, east, north)
        self._scale = (self._n / (east - west), self._n / (north - south))
        cells: list[list[int]] = [[] for _ in range(self._n * self._n)]
        for i, (w, s, e, n) in enumerate(boxes):
            (col0, row0), (col1, row1) = self._cell(w, s), self._cell(e, n)
            for row in range(row0, row1 + 1):
                for col in range(col0, col1 + 1):
                    cells[row * self._n + col].append(i)  # in code order
        self._cells = [tuple(cell) for cell in cells]

    def locate(self, lat: float, lon: float) -> str | None:
        """The code of the grid covering the point, or None outside every grid."""
        west, south, east, north = self._bounds
        if not (west <= lon <= east and south <= lat <= north):
            return None
        col, row = self._cell(lon, lat)
        for i in self._cells[row * self._n + col]:
            if self._geometries[i].covers(lat, lon):
                return self._codes[i]
        return None

    def _cell(self, lon: float, lat: float) -> tuple[int, int]:
        """The cell's column and row; monotonic, so a box's corners bracket its cells."""
        west, south, _, _ = self._bounds
        col = int((lon - west) * self._scale[0])
        row = int((lat - south) * self._scale[1])
        return min(col, self._n - 1), min(row, self._n - 1)


# -- reading GeoJSON ---------------------------------------------------------------------------


def _not_geojson(detail: str) -> ValueError:
    return ValueError(f"geometry is not valid GeoJSON: {detail}")


def _array(value: object, path: str) -> Sequence[Any]:
    if isinstance(value, list | tuple):
        return value
    raise _not_geojson(f"{path} must be an array, not {reprlib.repr(value)}")


def _polygon(value: object, path: str) -> Polygon:
    """A polygon's rings; () for an empty one (``[]`` or ``[[]]``)."""
    rings = _array(value, path)
    if not rings or (len(rings) == 1 and rings[0] in ([], ())):
        return ()
    return tuple(_ring(ring, f"{path}[{j}]") for j, ring in enumerate(rings))


def _ring(value: object, path: str) -> Ring:
    ring = tuple(_point(p, f"{path}[{k}]") for k, p in enumerate(_array(value, path)))
    if len(ring) < 4:
        raise _not_geojson(f"{path} has {len(ring)} positions; a ring needs at least 4")
    if ring[0] != ring[-1]:
        raise _not_geojson(f"{path} is not closed: its last position must repeat its first")
    return ring


def _point(value: object, path: str) -> Point:
    """A position as (lon, lat); an altitude, if there is one, is dropped."""
    numbers = _numbers(value)
    if numbers is None:
        shown = reprlib.repr(value)
        raise _not_geojson(f"{path} is {shown}, not a position [lon, lat] of finite numbers")
    lon, lat = numbers[0], numbers[1]
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        # The usual cause is [lat, lon] pairs: (31.2, 121.5) read as lon 31.2, lat 121.5.
        raise ValueError(
            f"coordinates out of range; GeoJSON positions are [lon, lat] ({path} is {value!r})"
        )
    return lon, lat


def _numbers(value: object) -> list[float] | None:
    if not (isinstance(value, list | tuple) and len(value) in (2, 3)):
        return None
    if not all(isinstance(n, int | float) and not isinstance(n, bool) for n in value):
        return None
    try:
        numbers = [float(n) for n in value]
    except OverflowError:  # an integer beyond any float
        return None
    return numbers if all(math.isfinite(n) for n in numbers) else None


# -- validity ----------------------------------------------------------------------------------


def _invalid(reason: str, at: Point) -> ValueError:
    """GEOS's form, e.g. "Self-intersection[121.465 31.235]" (lon lat)."""
    return ValueError(f"geometry is invalid: {reason}[{at[0]:.10g} {at[1]:.10g}]")


def _check_valid(polygons: Sequence[Polygon]) -> None:
    """Raise ValueError("geometry is invalid: ...") unless every rule of a valid area holds."""
    rings: list[Ring] = []  # every ring, repeated consecutive points dropped
    members: list[list[int]] = []  # each polygon's rings: its shell, then its holes
    for polygon in polygons:
        members.append([])
        for ring in polygon:
            points = (ring[0], *(b for a, b in pairwise(ring) if b != a))
            if len(points) < 4:
                raise _invalid("Too few points in geometry component", ring[0])
            if all(_orient(points[0], points[1], c) == 0 for c in points[2:]):
                raise _invalid("Zero area", ring[0])
            members[-1].append(len(rings))
            rings.append(points)
    contacts = _contacts(rings)
    boxes = [_box(ring) for ring in rings]

    def relation(r: int, others: list[int]) -> tuple[bool, bool, Point]:
        """Whether ring r has stretches in the interior of the polygon made of rings
        ``others`` (a shell and its holes), stretches outside it, and a point where they
        meet (else r's first point)."""
        meets = [(e, at) for e, at, o in contacts.get(r, []) if o in others]
        polygon = tuple(rings[o] for o in others)
        sides = {_side(polygon, q) for q in _stretches(rings[r], meets)}
        return 1 in sides, -1 in sides, meets[0][1] if meets else rings[r][0]

    for shell, *holes in members:
        for hole in holes:
            inside, outside, at = relation(hole, [shell])
            if outside:
                raise _invalid("Self-intersection" if inside else "Hole lies outside shell", at)
        for hole, other in permutations(holes, 2):
            if _overlap(boxes[hole], boxes[other]):
                inside, outside, at = relation(hole, [other])
                if inside:
                    raise _invalid("Self-intersection" if outside else "Holes are nested", at)
        _check_connected([shell, *holes], contacts)
    for mine, theirs in permutations(members, 2):
        if _overlap(boxes[mine[0]], boxes[theirs[0]]):
            inside, outside, at = relation(mine[0], theirs)
            if inside:
                raise _invalid("Self-intersection" if outside else "Nested shells", at)


def _box(ring: Ring) -> tuple[float, float, float, float]:
    lons, lats = [lon for lon, _ in ring], [lat for _, lat in ring]
    return min(lons), min(lats), max(lons), max(lats)


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def _contacts(rings: Sequence[Ring]) -> dict[int, list[tuple[int, Point, int]]]:
    """Where rings touch other rings: ring → (its edge, the point, the other ring).

    Raises if two edges cross or overlap, or a ring touches itself. Edges are swept in
    order of their west end, so each is compared only with those overlapping it east-west.
    """
    edges = sorted(
        (min(a[0], b[0]), max(a[0], b[0]), min(a[1], b[1]), max(a[1], b[1]), r, e, a, b)
        for r, ring in enumerate(rings)
        for e, (a, b) in enumerate(pairwise(ring))
    )
    contacts: dict[int, list[tuple[int, Point, int]]] = {}
    for i, (_, east, south, north, r, e, a, b) in enumerate(edges):
        for j in range(i + 1, len(edges)):
            west2, _, south2, north2, r2, e2, c, d = edges[j]
            if west2 > east:
                break
            if south2 > north or north2 < south:
                continue
            meeting = _meet(a, b, c, d)
            if meeting is None:
                continue
            how, at = meeting
            if how != "touch":
                raise _invalid("Self-intersection", at)
            if r == r2:
                if (e - e2) % (len(rings[r]) - 1) not in (1, len(rings[r]) - 2):
                    raise _invalid("Ring Self-intersection", at)
                continue  # neighbouring edges, touching at the vertex they share
            contacts.setdefault(r, []).append((e, at, r2))
            contacts.setdefault(r2, []).append((e2, at, r))
    return contacts


def _meet(a: Point, b: Point, c: Point, d: Point) -> tuple[str, Point] | None:
    """How segments ab and cd meet: "cross" (properly, inside both), "overlap" (collinear
    along a stretch), "touch" (at a point that is an end of one of them), or None."""
    abc, abd, cda, cdb = _orient(a, b, c), _orient(a, b, d), _orient(c, d, a), _orient(c, d, b)
    if abc * abd > 0 or cda * cdb > 0:
        return None
    if abc == abd == 0:  # on one line: points order along it as tuples do
        start, end = max(min(a, b), min(c, d)), min(max(a, b), max(c, d))
        return None if start > end else ("touch" if start == end else "overlap", start)
    if abc and abd and cda and cdb:
        return "cross", _crossing(a, b, c, d)
    # An end on the line of the other segment lies on that segment, given the signs above.
    return "touch", next(p for p, side in ((c, abc), (d, abd), (a, cda), (b, cdb)) if not side)


def _crossing(a: Point, b: Point, c: Point, d: Point) -> Point:
    """Where segments ab and cd cross properly (exact arithmetic: they are not parallel)."""
    (ax, ay), (bx, by), (cx, cy), (dx, dy) = (tuple(map(Fraction, p)) for p in (a, b, c, d))
    t = ((cx - ax) * (dy - cy) - (cy - ay) * (dx - cx)) / (
        (bx - ax) * (dy - cy) - (by - ay) * (dx - cx)
    )
    return float(ax + t * (bx - ax)), float(ay + t * (by - ay))


def _stretches(ring: Ring, meets: list[tuple[int, Point]]) -> list[Point | Exact]:
    """A point on each stretch of the ring between the points (on its edges) where it meets
    another ring. Each stretch lies wholly on one side of that ring: edges do not cross.
    The points are exact midpoints: a float one can fall on the wrong side of an edge that
    runs almost along the stretch (a vertex a hair off a neighbour's border)."""
    if not meets:
        return [ring[0]]
    points: list[Point | Exact] = []
    for e, at in meets:
        a, b = ring[e], ring[e + 1]
        if at == b:
            continue  # the next edge starts there
        forward = a < b  # points along a segment order as tuples do
        ahead = [q for f, q in meets if f == e and (at < q if forward else q < at)] + [b]
        stop = min(ahead) if forward else max(ahead)
        ax, ay, sx, sy = map(Fraction, (*at, *stop))
        points.append(((ax + sx) / 2, (ay + sy) / 2))
    return points


def _check_connected(
    members: list[int], contacts: Mapping[int, list[tuple[int, Point, int]]]
) -> None:
    """A polygon's interior falls apart when its rings (``members``) touch in a cycle: shell
    and hole at two points, or hole to hole to shell. Union-find over rings and points."""
    parent: dict[object, object] = {}

    def root(node: object) -> object:
        while node in parent:
            node = parent[node]
        return node

    links = {(r, at) for r in members for _, at, o in contacts.get(r, []) if o in members}
    for ring, at in sorted(links):
        ring_root, point_root = root(ring), root(at)
        if ring_root == point_root:
            raise _invalid("Interior is disconnected", at)
        parent[ring_root] = point_root


# -- exact side tests --------------------------------------------------------------------------

_ERROR = 3.3306690738754716e-16  # (3 + 16ε)ε: Shewchuk's bound on the float determinant's error


def _orient(a: Point, b: Point, c: Point | Exact) -> int:
    """1 if c lies left of the line a→b, -1 if right, 0 if on it."""
    if isinstance(c[0], float):  # (Fraction mixed with float would compute in floats)
        if c in (a, b) or a[0] == b[0] == c[0] or a[1] == b[1] == c[1]:
            return 0  # the common exact zeros, without fractions: a shared vertex, a grid line
        left = (b[0] - a[0]) * (c[1] - a[1])
        right = (b[1] - a[1]) * (c[0] - a[0])
        det = left - right
        if abs(det) > _ERROR * (abs(left) + abs(right)) + 1e-300:  # (1e-300: underflows)
            return 1 if det > 0 else -1
    ax, ay, bx, by, cx, cy = map(Fraction, (*a, *b, *c))
    exact = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
    return (exact > 0) - (exact < 0)


def _where(ring: Ring, point: Point | Exact) -> int:
    """1 if the point is inside the ring, 0 on it, -1 outside: a ray cast east from a point
    inside crosses the ring an odd number of times."""
    x, y = point
    inside = False
    for a, b in pairwise(ring):
        (x1, y1), (x2, y2) = a, b
        if (y1 > y) != (y2 > y):  # the edge spans the ray's height (its lower end counts)
            side = _orient(a, b, point)
            if side == 0:
                return 0
            if (side > 0) == (y2 > y1):  # the edge passes east of the point
                inside = not inside
        elif y1 == y and (x1 == x or (y2 == y and min(x1, x2) <= x <= max(x1, x2))):
            return 0  # on a vertex, or on a horizontal edge
    return 1 if inside else -1


def _side(polygon: Polygon, point: Point | Exact) -> int:
    """1 in the polygon's interior, 0 on its border (a hole's too), -1 outside or in a hole."""
    side = _where(polygon[0], point)
    for hole in polygon[1:]:
        if side < 1:
            break
        side = -_where(hole, point)
    return side
