"""``/tokens``: issue, list and revoke API tokens (admin only). The secret is shown once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi import status as http
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.api.auth import ADMIN
from gateway.api.context import ApiContext, Context
from gateway.api.scope import assigned_units
from gateway.api.views import rfc3339
from gateway.registry import InvalidError, NotFoundError, Problem
from gateway.registry.inputs import Code, Name
from gateway.tokens import Role, TokenRecord, TokenStore

router = APIRouter(prefix="/tokens", tags=["tokens"], dependencies=[ADMIN])


class TokenIn(BaseModel):
    """A token to issue. A worker token names its worker; ``grids`` narrows or widens its
    reach explicitly (otherwise: where the registry names it worker or leader)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    role: Role
    name: Name = Field(description="who holds it, e.g. 'officer Zhang' or 'prometheus'")
    worker_id: Code | None = None
    grids: Annotated[list[Code], Field(min_length=1, max_length=10_000)] | None = None

    @model_validator(mode="after")
    def _worker_fields(self) -> TokenIn:
        if self.role is Role.WORKER and self.worker_id is None:
            raise ValueError("a worker token needs worker_id")
        if self.role is not Role.WORKER and (self.worker_id or self.grids):
            raise ValueError("worker_id and grids belong to worker tokens only")
        return self


class TokenView(BaseModel):
    id: str
    name: str
    role: Role
    worker_id: str | None
    grids: list[str] | None
    created_at: str
    revoked_at: str | None

    @classmethod
    def of(cls, t: TokenRecord) -> TokenView:
        return cls(
            id=t.id,
            name=t.name,
            role=t.role,
            worker_id=t.worker_id,
            grids=None if t.grids is None else list(t.grids),
            created_at=rfc3339(t.created_at) or "",
            revoked_at=rfc3339(t.revoked_at),
        )


class IssuedTokenView(TokenView):
    secret: str = Field(description="the bearer token; shown only now, stored only as a hash")


def _store(ctx: ApiContext) -> TokenStore:
    if ctx.tokens is None:
        raise HTTPException(http.HTTP_503_SERVICE_UNAVAILABLE, "no token store is configured")
    return ctx.tokens


def _check_registry(ctx: ApiContext, body: TokenIn) -> None:
    """A token for a worker nobody registered, or for grids not on the map, reaches nothing:
    refuse it at issue rather than let it fail silently in the field."""
    problems = []
    worker_id = body.worker_id
    if worker_id is not None and not (
        ctx.registry.worker(worker_id) or assigned_units(ctx.registry, worker_id)
    ):
        message = f"no worker {worker_id}: register it, or name it on a grid"
        problems.append(Problem(("worker_id",), message))
    for i, code in enumerate(body.grids or []):
        if ctx.registry.grid(code) is None:
            problems.append(Problem(("grids", i), f"no grid {code}"))
    if problems:
        raise InvalidError(problems)


@router.post("", status_code=http.HTTP_201_CREATED)
async def issue_token(body: TokenIn, ctx: Context) -> IssuedTokenView:
    store = _store(ctx)
    _check_registry(ctx, body)
    record, secret = await store.issue(body.role, body.name, body.worker_id, body.grids)
    return IssuedTokenView(**TokenView.of(record).model_dump(), secret=secret)


@router.get("")
def list_tokens(ctx: Context, include_revoked: Annotated[bool, Query()] = False) -> list[TokenView]:
    """Issued tokens, oldest first, without their secrets."""
    return [TokenView.of(t) for t in _store(ctx).tokens(include_revoked)]


@router.delete("/{token_id}", status_code=http.HTTP_204_NO_CONTENT)
async def revoke_token(token_id: str, ctx: Context) -> None:
    """Revoke at once; revoking twice is harmless. The record stays, for the audit trail."""
    if await _store(ctx).revoke(token_id) is None:
        raise NotFoundError(f"no token {token_id}")
