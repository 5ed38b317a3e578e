"""``GET /stats``: the 考核评价 numbers for a window — counts, response times, on-time rates,
false-alarm rates (see :mod:`gateway.stats`). Officers see everything; a worker its grids."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, NoReturn

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime, BaseModel

from gateway.api.auth import Principal, Role, require
from gateway.api.context import Context
from gateway.api.incident_source import IncidentService, fetch
from gateway.api.incidents import service
from gateway.api.views import rfc3339
from gateway.incidents.model import Incident
from gateway.incidents.repository import IncidentQuery
from gateway.stats import (
    Counts,
    FalseAlarms,
    OnTime,
    ResponseTimes,
    compute_stats,
    incidents_between,
)

DEFAULT_WINDOW = timedelta(days=30)
MAX_WINDOW = timedelta(days=366)  # a year's ranking, not the whole history in one request

router = APIRouter(tags=["stats"])

Reader = Annotated[Principal, require(Role.OFFICER, Role.WORKER, Role.VIEWER)]


class StatsView(BaseModel):
    since: str
    until: str
    grids: list[str] | None  # a worker's scope; None: every grid
    incidents: int
    counts: Counts
    response_times: ResponseTimes
    on_time: OnTime
    false_alarms: FalseAlarms


@router.get("/stats")
async def stats(
    ctx: Context,
    caller: Reader,
    since: Annotated[
        AwareDatetime | None, Query(description="default: 30 days before until")
    ] = None,
    until: Annotated[AwareDatetime | None, Query(description="default: now")] = None,
) -> StatsView:
    """Incidents opened in ``[since, until)``, test incidents left out."""
    end = until or datetime.fromtimestamp(time.time(), UTC)
    try:
        start = since or end - DEFAULT_WINDOW
    except OverflowError:  # until in January of year 1: the default window starts before it
        _invalid("until", f"the {DEFAULT_WINDOW.days} days before until start before year 1")
    _check_window(start, end)
    incidents = await _load(service(ctx), start.timestamp(), end.timestamp(), caller.grids)
    result = compute_stats(incidents, start.timestamp(), end.timestamp())
    return StatsView(
        since=rfc3339(start.timestamp()) or "",
        until=rfc3339(end.timestamp()) or "",
        grids=None if caller.grids is None else sorted(caller.grids),
        incidents=result.incidents,
        counts=result.counts,
        response_times=result.response_times,
        on_time=result.on_time,
        false_alarms=result.false_alarms,
    )


def _check_window(start: datetime, end: datetime) -> None:
    problem = None
    if start >= end:
        problem = "since must be before until"
    elif end - start > MAX_WINDOW:
        problem = f"the window may span at most {MAX_WINDOW.days} days"
    if problem:
        _invalid("since", problem)


def _invalid(parameter: str, problem: str) -> NoReturn:
    """A 422 naming the query parameter, as FastAPI's own validation errors do."""
    error = {"type": "value_error", "loc": ("query", parameter), "msg": problem, "input": None}
    raise RequestValidationError([error])


async def _load(
    incidents: IncidentService, since: float, until: float, grids: frozenset[str] | None
) -> list[Incident]:
    async def read(query: IncidentQuery) -> list[Incident]:
        return await fetch(incidents, query)

    if grids is None:
        return await incidents_between(read, since, until)
    found: list[Incident] = []
    for grid in sorted(grids):
        found += await incidents_between(read, since, until, grid)
    return found
