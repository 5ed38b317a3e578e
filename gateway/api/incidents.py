"""``/incidents``: grid incidents and their closed loop, with role checks.

A worker (网格员) sees and moves only the incidents of its own grids; any other incident is
"not found" to it, so a worker cannot even learn which ids exist elsewhere. Who may do what:

- a worker: ``ack`` (接单), ``arrive`` (到场), ``handle`` (处置反馈) and ``escalate``, always as
  itself — a body naming another actor is refused (403) rather than rewritten, so a phone
  logged in as the wrong person is noticed instead of silently crediting someone else;
- an officer: ``verify`` (任务核查), ``close`` (归档) and ``escalate``; the officer who
  handled nothing cannot be credited with a worker's step, which keeps the 考核评价 times
  honest. An officer (or admin) recording what a worker phoned in may name the ``actor``;
  otherwise the token's name is recorded;
- an admin: everything.

Whether a step fits the incident as it stands (``arrive`` before ``ack``, ``close`` twice) is
the incident service's call: it refuses with 409, naming the current status.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi import status as http
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.auth import Principal, Role, require
from gateway.api.context import ApiContext, Context
from gateway.api.incident_source import IncidentService, scoped_query
from gateway.incidents.model import Action, Incident, Outcome, Status
from gateway.incidents.repository import IncidentQuery
from gateway.incidents.views import incident_view
from gateway.registry import NotFoundError
from gateway.registry.inputs import Code
from gateway.rules.outcomes import IncidentKind

router = APIRouter(prefix="/incidents", tags=["incidents"])

WORKER_ACTIONS = frozenset({Action.ACK, Action.ARRIVE, Action.HANDLE, Action.ESCALATE})
OFFICER_ACTIONS = frozenset({Action.VERIFY, Action.CLOSE, Action.ESCALATE})

Reader = Annotated[Principal, require(Role.OFFICER, Role.WORKER, Role.VIEWER)]
Actor = Annotated[Principal, require(Role.OFFICER, Role.WORKER)]


class ActionIn(BaseModel):
    """One step on an incident; ``outcome`` (处置结果) is what the false-alarm statistics use."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    action: Action
    actor: Code | None = Field(default=None, description="default: the caller (a worker: itself)")
    note: str = Field(default="", max_length=2000)
    outcome: Outcome | None = None


def service(ctx: ApiContext) -> IncidentService:
    if ctx.incidents is None:
        raise HTTPException(http.HTTP_503_SERVICE_UNAVAILABLE, "incidents are not configured")
    return ctx.incidents


async def _visible(ctx: ApiContext, caller: Principal, incident_id: str) -> Incident:
    incident = await service(ctx).get(incident_id)  # IncidentNotFound: 404
    if not caller.sees(incident.grid):
        # The very answer an unknown id gets: a worker learns nothing of other grids.
        raise NotFoundError(f"no incident {incident_id}")
    return incident


@router.get("")
async def list_incidents(
    ctx: Context,
    caller: Reader,
    status: Status | None = None,
    grid: str | None = None,
    device: str | None = None,
    kind: IncidentKind | None = None,
    open_: Annotated[
        bool | None, Query(alias="open", description="true: not closed; false: closed only")
    ] = None,
    test: Annotated[bool | None, Query(description="default: both")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[dict[str, Any]]:
    """Newest first (by ``opened_at``); a worker gets its own grids' incidents only."""
    if open_ is False:
        if status not in (None, Status.CLOSED):
            return []
        status = Status.CLOSED
    query = IncidentQuery(
        status=status,
        grid=grid,
        device=device,
        kind=kind,
        open_only=bool(open_),
        test=test,
        limit=limit,
        offset=offset,
    )
    found = await scoped_query(service(ctx), query, caller.grids)
    return [incident_view(i) for i in found]


@router.get("/{incident_id}")
async def get_incident(incident_id: str, ctx: Context, caller: Reader) -> dict[str, Any]:
    """The incident with its whole timeline (who did what, when, with which note)."""
    return incident_view(await _visible(ctx, caller, incident_id), timeline=True)


@router.post("/{incident_id}/actions")
async def act(incident_id: str, body: ActionIn, ctx: Context, caller: Actor) -> dict[str, Any]:
    """Move the incident one step; answers with the incident as it now stands."""
    _check_may(caller, body.action)
    await _visible(ctx, caller, incident_id)
    incident = await service(ctx).act(
        incident_id, body.action, _actor(caller, body.actor), body.note, body.outcome
    )
    return incident_view(incident, timeline=True)


def _check_may(caller: Principal, action: Action) -> None:
    if caller.role is Role.ADMIN:
        return
    allowed = WORKER_ACTIONS if caller.role is Role.WORKER else OFFICER_ACTIONS
    if action not in allowed:
        who = "an officer" if caller.role is Role.WORKER else "the grid worker"
        raise HTTPException(
            http.HTTP_403_FORBIDDEN, f"the {caller.role} role may not {action}; that is for {who}"
        )


def _actor(caller: Principal, named: str | None) -> str:
    if caller.role is not Role.WORKER:
        return named or caller.actor
    if named is not None and named != caller.worker_id:
        raise HTTPException(
            http.HTTP_403_FORBIDDEN,
            f"this token acts as {caller.worker_id}, not as {named}",
        )
    return caller.actor
