"""Bearer-token authentication and role checks.

Two kinds of token get in: the bootstrap admin token (``FIREGRID_ADMIN_TOKEN``) and tokens
issued through ``/tokens`` (kept hashed in :class:`~gateway.tokens.TokenStore`). Each route
names the roles it admits with :func:`require`; an admin passes every check. A worker token
(网格员) also carries the grids it reaches (:mod:`gateway.api.scope`), and the incident and
stats routes filter by them.

Who may do what:

============  ===========================================================================
admin         everything: the grid map, workers, stations, tokens, every incident action
officer       reads the registry, every incident and the stats; verifies and closes
installer     reads the registry; registers and removes devices
worker        its own grids' incidents and stats; ack, arrive, handle, escalate as itself
platform      the grid platform's callback only (issue 4)
viewer        read-only: the registry, incidents, stats and ``/metrics`` (dashboards)
============  ===========================================================================
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from time import monotonic
from typing import Annotated, Any, Protocol

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.api.scope import worker_scope
from gateway.registry import Registry
from gateway.tokens import Role, TokenRecord, TokenStore

__all__ = [
    "ADMIN",
    "INSTALLER",
    "VIEWER",
    "AdminToken",
    "Authenticator",
    "Principal",
    "Role",
    "TokenAuth",
    "require",
]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a role, a name, and for a worker its id and grids."""

    name: str
    role: Role
    token_id: str | None = None
    worker_id: str | None = None
    grids: frozenset[str] | None = None  # None: every grid

    def holds(self, *roles: Role) -> bool:
        return self.role is Role.ADMIN or self.role in roles

    def sees(self, grid: str) -> bool:
        return self.grids is None or grid in self.grids

    @property
    def actor(self) -> str:
        """The name recorded on an incident's timeline when this caller acts."""
        return self.worker_id or self.name


class Authenticator(Protocol):
    def authenticate(self, token: str) -> Principal | None: ...


class AdminToken:
    """The bootstrap admin token; with none configured it lets nobody in."""

    def __init__(self, token: str | None) -> None:
        self._token = token.encode() if token else None

    def authenticate(self, token: str) -> Principal | None:
        # Constant-time comparison: response timing must not reveal how much of a guess matched.
        if self._token is None or not hmac.compare_digest(token.encode(), self._token):
            return None
        return Principal("admin", Role.ADMIN)


# Working out a worker's grids walks the whole grid map (~7 ms at 10,000 grids): too much for
# every request of every phone, so it is kept this long. A re-assigned grid reaches the tokens
# within it; a revoked token is refused at once (that is a dict lookup, never cached).
SCOPE_TTL_S = 10.0


class TokenAuth:
    """The bootstrap admin token first, then the issued tokens (when a store is configured)."""

    def __init__(
        self,
        admin: AdminToken,
        store: TokenStore | None,
        registry: Registry,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._admin = admin
        self._store = store
        self._registry = registry
        self._clock = clock or monotonic
        self._scopes: dict[tuple[str, tuple[str, ...] | None], tuple[float, frozenset[str]]] = {}

    def authenticate(self, token: str) -> Principal | None:
        principal = self._admin.authenticate(token)
        if principal is not None or self._store is None:
            return principal
        record = self._store.authenticate(token)
        return None if record is None else self._principal(record)

    def _principal(self, record: TokenRecord) -> Principal:
        grids = self._scope(record) if record.role is Role.WORKER else None
        return Principal(record.name, record.role, record.id, record.worker_id, grids)

    def _scope(self, record: TokenRecord) -> frozenset[str]:
        # A worker token without a worker id is refused at issue; "" reaches nothing anyway.
        key = (record.worker_id or "", record.grids)
        now = self._clock()
        cached = self._scopes.get(key)
        if cached is not None and now - cached[0] < SCOPE_TTL_S:
            return cached[1]
        grids = worker_scope(self._registry, key[0], record.grids)
        self._scopes[key] = (now, grids)
        return grids


_bearer = HTTPBearer(auto_error=False, description="FIREGRID_ADMIN_TOKEN or an issued token")


def _refuse(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"}
    )


def require(*roles: Role) -> Any:
    """A route dependency admitting any of ``roles`` (and admin): ``dependencies=[require(…)]``,
    or ``caller: Annotated[Principal, require(…)]`` when the route needs to know who called."""
    needed = " or ".join(role.value for role in roles)

    def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None:
            raise _refuse("missing bearer token (Authorization: Bearer <token>)")
        authenticator: Authenticator = request.app.state.firegrid.auth
        principal = authenticator.authenticate(credentials.credentials)
        if principal is None:
            raise _refuse("invalid token")
        if not principal.holds(*roles):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the {needed} role")
        return principal

    checker: Callable[..., Principal] = check
    return Depends(checker)


ADMIN = require(Role.ADMIN)
INSTALLER = require(Role.INSTALLER)
# Reading the registry and /metrics: everyone but workers (who stay inside their grids) and
# the platform (which only posts callbacks).
VIEWER = require(Role.OFFICER, Role.INSTALLER, Role.VIEWER)
PLATFORM = require(Role.PLATFORM)
