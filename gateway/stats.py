"""Incident statistics for officers: the 考核评价 (evaluation) step of the closed loop.

A pure function over incidents — no database, no clock — so every number is checked on a
hand-built set. The caller selects the window (a store query on ``opened_at``); this module
keeps only incidents opened inside it and drops test incidents (调试) wherever they come from.

- **Counts** by kind, grid and status.
- **Response times** (seconds from ``opened_at``, the gateway's clock — device clocks drift) to
  accept (接单), arrive (到场) and handle (处置反馈): p50 and p90, nearest-rank, so each value is
  one that really happened.
- **On-time rate** (按时率) per grid worker (网格员), grid and community: of the incidents
  judged, the share with no time-limit breach. An incident is judged once it missed a limit
  (the incident service records each missed stage in ``breaches``) or once someone handled
  it; one still open inside its limits is not judged yet, and one that closed by itself
  (recovered, superseded) judged nobody. The worker is the one dispatched at open.
- **False-alarm rate** (误报率) per device and per site (grid + building): closed incidents with
  outcome ``false_alarm`` ÷ closed incidents. A noisy device is a maintenance matter; a site
  with more than 5 false alarms a day must agree a handling plan (DOMAIN.md).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from gateway.incidents.model import Incident, Outcome, Status
from gateway.incidents.repository import IncidentQuery

# Closed without anyone acting: nobody's performance is in it.
_SELF_CLOSED = frozenset({Outcome.RECOVERED, Outcome.SUPERSEDED, Outcome.TEST})


@dataclass(frozen=True, slots=True)
class Durations:
    """Seconds from opening to a step, over the incidents that reached it."""

    count: int
    p50_s: float | None
    p90_s: float | None


@dataclass(frozen=True, slots=True)
class ResponseTimes:
    accept: Durations
    arrive: Durations
    handle: Durations


@dataclass(frozen=True, slots=True)
class OnTimeRow:
    key: str
    judged: int
    on_time: int
    rate: float


@dataclass(frozen=True, slots=True)
class OnTime:
    """The 考核评价 ranking: best rate first, then the busiest."""

    by_worker: list[OnTimeRow]
    by_grid: list[OnTimeRow]
    by_community: list[OnTimeRow]


@dataclass(frozen=True, slots=True)
class FalseAlarmRow:
    key: str
    closed: int
    false_alarms: int
    rate: float


@dataclass(frozen=True, slots=True)
class FalseAlarms:
    """Noisiest first."""

    by_device: list[FalseAlarmRow]
    by_site: list[FalseAlarmRow]


@dataclass(frozen=True, slots=True)
class Counts:
    by_kind: dict[str, int]
    by_grid: dict[str, int]
    by_status: dict[str, int]


@dataclass(frozen=True, slots=True)
class IncidentStats:
    incidents: int
    counts: Counts
    response_times: ResponseTimes
    on_time: OnTime
    false_alarms: FalseAlarms


def compute_stats(incidents: Iterable[Incident], since: float, until: float) -> IncidentStats:
    """Statistics of the non-test incidents opened in ``[since, until)``."""
    chosen = [i for i in incidents if not i.test and since <= i.opened_at < until]
    return IncidentStats(
        incidents=len(chosen),
        counts=Counts(
            by_kind=_count(i.kind.value for i in chosen),
            by_grid=_count(i.grid for i in chosen),
            by_status=_count(i.status.value for i in chosen),
        ),
        response_times=ResponseTimes(
            accept=_durations(chosen, lambda i: i.accepted_at),
            arrive=_durations(chosen, lambda i: i.on_site_at),
            handle=_durations(chosen, lambda i: i.handled_at),
        ),
        on_time=_on_time([i for i in chosen if _judged(i)]),
        false_alarms=_false_alarms([i for i in chosen if i.status is Status.CLOSED]),
    )


async def incidents_between(
    fetch: Callable[[IncidentQuery], Awaitable[list[Incident]]],
    since: float,
    until: float,
    grid: str | None = None,
    page: int = 1000,
) -> list[Incident]:
    """The non-test incidents opened in ``[since, until)``, read page by page, newest first.

    The walk stops at the first page reaching back past ``since``, so a day's statistics read
    a day's rows, not the whole history; only rows newer than ``until`` are read and skipped.
    A row opened while walking shifts the pages by one: ids already seen are dropped.
    """
    found: dict[str, Incident] = {}
    offset = 0
    while True:
        rows = await fetch(IncidentQuery(grid=grid, test=False, limit=page, offset=offset))
        for incident in rows:
            if since <= incident.opened_at < until:
                found.setdefault(incident.id, incident)
        if len(rows) < page or rows[-1].opened_at < since:
            return list(found.values())
        offset += page


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least ``p`` % of them at or below."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def site_of(incident: Incident) -> str:
    """A site is a building in a grid (``G-0101/3号楼``); a device with no building, its grid."""
    building = incident.location.building
    return f"{incident.grid}/{building}" if building else incident.grid


def _count(keys: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(keys).items()))


def _durations(
    incidents: Sequence[Incident], reached: Callable[[Incident], float | None]
) -> Durations:
    spans = []
    for incident in incidents:
        at = reached(incident)
        if at is not None:
            spans.append(max(0.0, at - incident.opened_at))
    return Durations(len(spans), percentile(spans, 50), percentile(spans, 90))


def _judged(incident: Incident) -> bool:
    if incident.breaches:
        return True
    if incident.handled_at is not None:
        return True
    return incident.status is Status.CLOSED and incident.outcome not in _SELF_CLOSED


def _on_time(judged: Sequence[Incident]) -> OnTime:
    return OnTime(
        by_worker=_rank(judged, lambda i: i.worker_id),
        by_grid=_rank(judged, lambda i: i.grid),
        by_community=_rank(judged, lambda i: i.community or None),
    )


def _rank(judged: Sequence[Incident], key_of: Callable[[Incident], str | None]) -> list[OnTimeRow]:
    totals: Counter[str] = Counter()
    met: Counter[str] = Counter()
    for incident in judged:
        key = key_of(incident)
        if key is None:
            continue  # e.g. no worker was registered on the grid at open
        totals[key] += 1
        met[key] += not incident.breaches
    rows = [OnTimeRow(k, n, met[k], met[k] / n) for k, n in totals.items()]
    return sorted(rows, key=lambda r: (-r.rate, -r.judged, r.key))


def _false_alarms(closed: Sequence[Incident]) -> FalseAlarms:
    return FalseAlarms(
        by_device=_noisiest(closed, lambda i: i.device_id),
        by_site=_noisiest(closed, site_of),
    )


def _noisiest(closed: Sequence[Incident], key_of: Callable[[Incident], str]) -> list[FalseAlarmRow]:
    totals: Counter[str] = Counter()
    false: Counter[str] = Counter()
    for incident in closed:
        key = key_of(incident)
        totals[key] += 1
        false[key] += incident.outcome is Outcome.FALSE_ALARM
    rows = [FalseAlarmRow(k, n, false[k], false[k] / n) for k, n in totals.items()]
    return sorted(rows, key=lambda r: (-r.rate, -r.false_alarms, r.key))
