"""The REST API, ``/api/v1``: build it with :func:`create_app`."""

from gateway.api.app import create_app
from gateway.api.auth import PLATFORM, Principal, Role, require
from gateway.api.context import ApiContext, Context
from gateway.api.health import HealthCheck

__all__ = [
    "PLATFORM",
    "ApiContext",
    "Context",
    "HealthCheck",
    "Principal",
    "Role",
    "create_app",
    "require",
]
