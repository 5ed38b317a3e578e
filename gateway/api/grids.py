"""``/grids``: the grid map (区 → 街道 → 社区 → 网格), imported and served as GeoJSON."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.api.auth import ADMIN, VIEWER
from gateway.api.context import Context
from gateway.api.views import GridCollectionView, GridFeatureView, GridImportView
from gateway.model import GridLevel
from gateway.registry.inputs import GridCollection

router = APIRouter(prefix="/grids", tags=["grids"])


@router.post("", dependencies=[ADMIN])
async def import_grids(body: GridCollection, ctx: Context) -> GridImportView:
    """Add or update units by ``code``; a parent may come in the same collection."""
    created, updated = await ctx.registry.import_grids(body.to_records())
    return GridImportView(created=created, updated=updated)


@router.get("", dependencies=[VIEWER])
def list_grids(
    ctx: Context, level: GridLevel | None = None, parent: str | None = None
) -> GridCollectionView:
    features = [
        GridFeatureView.of(record)
        for record in ctx.registry.grids()
        if (level is None or record.grid.level is level)
        and (parent is None or record.grid.parent == parent)
    ]
    return GridCollectionView(features=features)
