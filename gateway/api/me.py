"""``GET /me``: who the token speaks for — what the web console shows after sign-in."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel

from gateway.api.auth import Principal, Role, require

router = APIRouter(tags=["tokens"])

Anyone = Annotated[Principal, require(*Role)]


class MeView(BaseModel):
    name: str
    role: Role
    token_id: str | None
    worker_id: str | None
    grids: list[str] | None  # a worker's scope; None: every grid
    actor: str  # what the incident timeline records when this token acts


@router.get("/me")
def me(caller: Anyone) -> MeView:
    return MeView(
        name=caller.name,
        role=caller.role,
        token_id=caller.token_id,
        worker_id=caller.worker_id,
        grids=None if caller.grids is None else sorted(caller.grids),
        actor=caller.actor,
    )
