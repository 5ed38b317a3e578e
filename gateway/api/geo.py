"""``GET /geo/grid?lat=&lon=``: which grid (网格) covers a point, before anything is saved.

The installer's form shows it as the sensor is placed, from the same point-in-polygon lookup
``POST /devices`` uses when no grid is named — so what the form shows is what registration
assigns.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from gateway.api.auth import VIEWER
from gateway.api.context import Context
from gateway.model import GridLevel

router = APIRouter(prefix="/geo", tags=["grids"])


class UnitView(BaseModel):
    code: str
    name: str
    level: GridLevel


class GridAtView(BaseModel):
    lat: float
    lon: float
    grid: UnitView | None  # None: outside every grid (registration then needs a named grid)
    ladder: list[UnitView]  # the grid, then each unit above it: 网格 → 社区 → 街道 → 区
    worker_id: str | None
    leader_id: str | None


@router.get("/grid", dependencies=[VIEWER])
def grid_at(
    lat: Annotated[float, Query(ge=-90, le=90)],
    lon: Annotated[float, Query(ge=-180, le=180)],
    ctx: Context,
) -> GridAtView:
    code = ctx.registry.locate(lat, lon)
    ladder = [] if code is None else ctx.registry.ancestors(code)
    units = [UnitView(code=g.code, name=g.name, level=g.level) for g in ladder]
    base = ladder[0] if ladder else None
    return GridAtView(
        lat=lat,
        lon=lon,
        grid=units[0] if units else None,
        ladder=units,
        worker_id=None if base is None else base.worker_id,
        leader_id=None if base is None else base.leader_id,
    )
