"""``/stations``: micro fire stations (微型消防站), dispatched by distance to an alarm."""

from __future__ import annotations

from fastapi import APIRouter, status

from gateway.api.auth import ADMIN, VIEWER
from gateway.api.context import Context
from gateway.api.views import StationView
from gateway.registry.inputs import StationIn

router = APIRouter(prefix="/stations", tags=["stations"])


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[ADMIN])
async def add_station(body: StationIn, ctx: Context) -> StationView:
    station = body.to_station()
    await ctx.registry.add_station(station)
    return StationView.of(station)


@router.get("", dependencies=[VIEWER])
def list_stations(ctx: Context) -> list[StationView]:
    return [StationView.of(s) for s in ctx.registry.stations()]
