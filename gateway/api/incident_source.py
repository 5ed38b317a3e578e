"""What the incident routes need from the incident service, and reading it within a scope.

The store answers one grid (or all) per query. A worker's scope is a handful of grids, so a
page of its incidents is merged from one query per grid: each asks for ``offset + limit``
rows, newest first, and the merge keeps the same order the store would have given.
"""

from __future__ import annotations

import asyncio
import builtins
import heapq
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from gateway.incidents.model import Action, Incident, Outcome, Status
from gateway.incidents.repository import IncidentQuery
from gateway.rules.outcomes import IncidentKind


class IncidentService(Protocol):
    """The part of :class:`gateway.incidents.service.IncidentService` the API uses."""

    async def get(self, incident_id: str) -> Incident:
        """One incident with its timeline; IncidentNotFound (404) when there is none."""

    async def list(
        self,
        *,
        status: Status | None = None,
        grid: str | None = None,
        device: str | None = None,
        kind: IncidentKind | None = None,
        open_only: bool = False,
        test: bool | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[Incident]:
        """Newest first (``opened_at``, then id), without timelines."""

    async def act(
        self,
        incident_id: str,
        action: Action,
        actor: str,
        note: str = "",
        outcome: Outcome | None = None,
        platform_ref: str | None = None,
    ) -> Incident:
        """IncidentNotFound (404) or InvalidTransition (409, naming the current status)."""


def _store_order(incident: Incident) -> tuple[float, str]:
    return (incident.opened_at, incident.id)  # descending, as the store sorts


async def fetch(service: IncidentService, q: IncidentQuery) -> list[Incident]:
    return await service.list(
        status=q.status,
        grid=q.grid,
        device=q.device,
        kind=q.kind,
        open_only=q.open_only,
        test=q.test,
        limit=q.limit,
        offset=q.offset,
    )


async def scoped_query(
    service: IncidentService, query: IncidentQuery, grids: frozenset[str] | None
) -> list[Incident]:
    """``query`` limited to ``grids`` (None: every grid), paged as one query would be."""
    if grids is None:
        return await fetch(service, query)
    if query.grid is not None:
        return await fetch(service, query) if query.grid in grids else []
    wanted = query.offset + query.limit
    per_grid = [replace(query, grid=g, offset=0, limit=wanted) for g in sorted(grids)]
    pages: Sequence[list[Incident]] = await asyncio.gather(*(fetch(service, q) for q in per_grid))
    merged = heapq.merge(*pages, key=_store_order, reverse=True)
    return list(merged)[query.offset : wanted]
