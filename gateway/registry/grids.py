"""The grid hierarchy (区/县 → 街道/乡镇 → 社区/村 → 网格): import checks and parent walks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.model import Grid, GridLevel
from gateway.registry.errors import Problem

_RANK = {GridLevel.DISTRICT: 0, GridLevel.STREET: 1, GridLevel.COMMUNITY: 2, GridLevel.GRID: 3}


@dataclass(frozen=True, slots=True)
class GridRecord:
    """A unit of the hierarchy with its boundary as GeoJSON (None when not drawn)."""

    grid: Grid
    geometry: Mapping[str, Any] | None = None


def check_import(
    records: Sequence[GridRecord],
    existing: Mapping[str, GridRecord],
    device_counts: Mapping[str, int],
) -> list[Problem]:
    """Problems with importing ``records`` over ``existing`` (a re-import updates a unit).

    A parent must be of a higher level than its child — that alone rules out cycles — and
    may come from the same import or from an earlier one. A base grid must be drawn, or no
    device could ever be placed in it.
    """
    problems: list[Problem] = []
    merged = dict(existing)
    seen: dict[str, int] = {}
    for i, record in enumerate(records):
        code = record.grid.code
        at = ("features", i, "properties")
        if code in seen:
            problems.append(Problem((*at, "code"), f"code {code} repeats feature {seen[code]}"))
        seen[code] = i
        merged[code] = record
        if record.grid.level is GridLevel.GRID and record.geometry is None:
            problems.append(Problem(("features", i, "geometry"), f"grid {code} has no boundary"))
        old = existing.get(code)
        held = device_counts.get(code, 0)
        if old is not None and held and old.grid.level is not record.grid.level:
            problems.append(
                Problem(
                    (*at, "level"),
                    f"{code} holds {held} device(s); its level cannot change from "
                    f"{old.grid.level} to {record.grid.level}",
                )
            )
    for i, record in enumerate(records):
        problems += _check_parent(i, record.grid, merged)
    problems += _check_children(seen, merged)
    return problems


def _check_parent(i: int, grid: Grid, merged: Mapping[str, GridRecord]) -> list[Problem]:
    if grid.parent is None:
        return []
    at = ("features", i, "properties", "parent")
    parent = merged.get(grid.parent)
    if parent is None:
        return [Problem(at, f"parent {grid.parent} of {grid.code} is neither registered nor here")]
    if _RANK[parent.grid.level] >= _RANK[grid.level]:
        return [
            Problem(
                at,
                f"parent {grid.parent} is a {parent.grid.level}; a {grid.level} must sit "
                "under a higher level",
            )
        ]
    return []


def _check_children(imported: Mapping[str, int], merged: Mapping[str, GridRecord]) -> list[Problem]:
    """A re-imported unit must still rank above the registered units that hang under it."""
    problems = []
    for record in merged.values():
        child, parent_code = record.grid, record.grid.parent
        if child.code in imported or parent_code is None or parent_code not in imported:
            continue
        parent = merged[parent_code].grid
        if _RANK[parent.level] >= _RANK[child.level]:
            problems.append(
                Problem(
                    ("features", imported[parent_code], "properties", "level"),
                    f"{parent.code} would be a {parent.level} above the {child.level} "
                    f"{child.code}, which is registered under it",
                )
            )
    return problems


def ancestors(code: str, grids: Mapping[str, GridRecord]) -> list[Grid]:
    """The unit itself, then each parent up to the top.

    Levels strictly rise along the chain, so it has at most four links; the bound also keeps
    a hand-edited database with a loop from hanging the caller.
    """
    chain: list[Grid] = []
    record = grids.get(code)
    for _ in _RANK:
        if record is None:
            break
        chain.append(record.grid)
        record = grids.get(record.grid.parent) if record.grid.parent else None
    return chain


def community_and_street(code: str, grids: Mapping[str, GridRecord]) -> tuple[str, str]:
    """The codes of the community (社区) and street (街道) above a grid; "" where there is none."""
    levels = {g.level: g.code for g in ancestors(code, grids)}
    return levels.get(GridLevel.COMMUNITY, ""), levels.get(GridLevel.STREET, "")
