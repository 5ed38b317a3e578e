"""The REST API (``/api/v1``) as an app factory: everything it serves is passed in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fastapi import APIRouter, FastAPI

from gateway.api import devices, grids, ops, stations, workers
from gateway.api import profiles as profiles_api
from gateway.api.auth import AdminToken
from gateway.api.context import ApiContext
from gateway.api.errors import api_metrics_for, install_error_handlers
from gateway.api.health import HealthCheck, no_components
from gateway.metrics import Metrics
from gateway.profiles import DeviceProfile
from gateway.registry import Registry
from gateway.tracker import DeviceTracker
from gateway.unregistered import UnregisteredLog

PREFIX = "/api/v1"
_RESOURCES = (
    grids.router,
    workers.router,
    stations.router,
    profiles_api.router,
    devices.router,
    ops.router,
)


def create_app(
    *,
    registry: Registry,
    profiles: Mapping[str, DeviceProfile],
    tracker: DeviceTracker,
    unregistered: UnregisteredLog,
    metrics: Metrics,
    admin_token: str | None,
    health: HealthCheck = no_components,
    routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """Build the API. ``routers`` mounts further resources (incidents, platform callback)
    under ``/api/v1``; they reach these objects through ``gateway.api.context.Context``.

    With no ``admin_token`` every route behind the token answers 401.
    """
    app = FastAPI(
        title="firegrid",
        summary="IoT fire-safety gateway for grid-based community governance",
        version="1",
        docs_url=f"{PREFIX}/docs",
        openapi_url=f"{PREFIX}/openapi.json",
        redoc_url=None,
    )
    api_metrics = api_metrics_for(metrics)
    app.state.firegrid = ApiContext(
        registry=registry,
        profiles=profiles,
        tracker=tracker,
        unregistered=unregistered,
        metrics=metrics,
        api_metrics=api_metrics,
        auth=AdminToken(admin_token),
        health=health,
    )
    install_error_handlers(app, api_metrics)
    for router in (*_RESOURCES, *routers):
        app.include_router(router, prefix=PREFIX)
    return app
