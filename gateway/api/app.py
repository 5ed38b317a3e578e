"""The REST API (``/api/v1``) as an app factory: everything it serves is passed in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fastapi import APIRouter, FastAPI

from gateway.api import devices, grids, incidents, ops, stations, stats, tokens, workers
from gateway.api import profiles as profiles_api
from gateway.api.auth import AdminToken, TokenAuth
from gateway.api.context import ApiContext
from gateway.api.docs import docs_router
from gateway.api.errors import api_metrics_for, install_error_handlers
from gateway.api.health import HealthCheck, no_components
from gateway.api.incident_source import IncidentService
from gateway.api.limits import BodyLimit
from gateway.audit import AuditLog, AuditTrail, audit_router
from gateway.metrics import Metrics
from gateway.profiles import DeviceProfile
from gateway.registry import Registry
from gateway.tokens import TokenStore
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
    tokens.router,
    incidents.router,
    stats.router,
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
    tokens: TokenStore | None = None,
    incidents: IncidentService | None = None,
    audit: AuditLog | None = None,
) -> FastAPI:
    """Build the API. ``routers`` mounts further resources (incidents, platform callback)
    under ``/api/v1``; they reach these objects through ``gateway.api.context.Context``.

    ``incidents`` serves ``/incidents`` and ``/stats`` (503 without it). ``tokens`` holds the
    issued tokens (officers, installers, workers, the platform); without
    it only ``admin_token`` gets in. With neither, every route behind a token answers 401.
    """
    app = FastAPI(
        title="firegrid",
        summary="IoT fire-safety gateway for grid-based community governance",
        version="1",
        # The spec and its page are served by docs_router, behind the token.
        openapi_url=None,
        docs_url=None,
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
        auth=TokenAuth(AdminToken(admin_token), tokens, registry),
        health=health,
        tokens=tokens,
        incidents=incidents,
    )
    install_error_handlers(app, api_metrics)
    if audit is not None:  # every change, who made it, before and after (``GET /audit``)
        app.add_middleware(AuditTrail, log=audit)
        routers = (*routers, audit_router(audit))
    # Added last, so outermost: too large, too deep or not strict JSON is refused at the door.
    app.add_middleware(BodyLimit)
    for router in (*_RESOURCES, *routers, docs_router(app, PREFIX)):
        app.include_router(router, prefix=PREFIX)
    return app
