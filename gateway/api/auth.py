"""Bearer-token authentication, shaped for roles.

Today one token exists — the bootstrap admin token (``FIREGRID_ADMIN_TOKEN``) — and it holds
every role. Each route already names the role it needs, so per-user tokens for installers,
officers or the grid platform slot in as another :class:`Authenticator` without touching the
routes.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Protocol

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer


class Role(StrEnum):
    ADMIN = "admin"  # grids, workers, stations: the map and who answers for it
    INSTALLER = "installer"  # registers and removes devices
    VIEWER = "viewer"  # reads everything


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    roles: frozenset[Role]


class Authenticator(Protocol):
    def authenticate(self, token: str) -> Principal | None: ...


class AdminToken:
    """The bootstrap admin token; with none configured every request is refused."""

    def __init__(self, token: str | None) -> None:
        self._token = token.encode() if token else None

    def authenticate(self, token: str) -> Principal | None:
        # Constant-time comparison: response timing must not reveal how much of a guess matched.
        if self._token is None or not hmac.compare_digest(token.encode(), self._token):
            return None
        return Principal("admin", frozenset(Role))


_bearer = HTTPBearer(auto_error=False, description="FIREGRID_ADMIN_TOKEN")


def _refuse(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"}
    )


def require(role: Role) -> Any:
    """A route dependency: ``dependencies=[require(Role.INSTALLER)]``."""

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
        if role not in principal.roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the {role} role")
        return principal

    checker: Callable[..., Principal] = check
    return Depends(checker)


ADMIN = require(Role.ADMIN)
INSTALLER = require(Role.INSTALLER)
VIEWER = require(Role.VIEWER)
