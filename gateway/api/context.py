"""What every route needs, handed to it through FastAPI's dependency injection (no globals)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from gateway.api.auth import Authenticator
from gateway.api.errors import ApiMetrics
from gateway.api.health import HealthCheck
from gateway.api.incident_source import IncidentService
from gateway.metrics import Metrics
from gateway.profiles import DeviceProfile
from gateway.registry import Registry
from gateway.tokens import TokenStore
from gateway.tracker import DeviceTracker
from gateway.unregistered import UnregisteredLog


@dataclass(frozen=True, slots=True)
class ApiContext:
    registry: Registry
    profiles: Mapping[str, DeviceProfile]
    tracker: DeviceTracker
    unregistered: UnregisteredLog
    metrics: Metrics
    api_metrics: ApiMetrics
    auth: Authenticator
    health: HealthCheck
    tokens: TokenStore | None = None  # None: only the bootstrap admin token gets in
    incidents: IncidentService | None = None  # None: the incident routes answer 503


def get_context(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.firegrid
    return context


Context = Annotated[ApiContext, Depends(get_context)]
