"""``/workers``: grid workers (网格员) and grid leaders (网格长), who receive alarms on a phone."""

from __future__ import annotations

from fastapi import APIRouter, status

from gateway.api.auth import ADMIN, VIEWER
from gateway.api.context import Context
from gateway.api.views import WorkerView
from gateway.registry.inputs import WorkerIn

router = APIRouter(prefix="/workers", tags=["workers"])


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[ADMIN])
async def add_worker(body: WorkerIn, ctx: Context) -> WorkerView:
    worker = body.to_worker()
    await ctx.registry.add_worker(worker)
    return WorkerView.of(worker)


@router.get("", dependencies=[VIEWER])
def list_workers(ctx: Context) -> list[WorkerView]:
    return [WorkerView.of(w) for w in ctx.registry.workers()]
