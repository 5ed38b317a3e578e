"""The incident service's persistence, as a small interface: SQLite now, PostgreSQL later.

A store keeps and returns rows. Dedupe, the lifecycle, dispatch and timers live in the
service; the store's only promise is that a :class:`Batch` lands whole or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from gateway.incidents.model import Incident, Status, TimelineEntry
from gateway.incidents.outbox import OutboxMessage
from gateway.rules.outcomes import IncidentKind


@dataclass(frozen=True, slots=True)
class Batch:
    """One write: incidents as they now stand, their new timeline entries, their outbox."""

    incidents: Sequence[Incident]
    entries: Sequence[tuple[str, TimelineEntry]] = ()
    messages: Sequence[OutboxMessage] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class IncidentQuery:
    status: Status | None = None
    grid: str | None = None
    device: str | None = None
    kind: IncidentKind | None = None
    open_only: bool = False
    test: bool | None = None  # None: both; stats pass False
    limit: int = 100
    offset: int = 0


class IncidentStore(Protocol):
    async def load_open(self) -> list[Incident]:
        """Every open incident, without timelines: the service's memory after a restart."""

    async def get(self, incident_id: str) -> Incident | None:
        """One incident with its timeline."""

    async def query(self, query: IncidentQuery) -> list[Incident]:
        """Newest first, without timelines."""

    async def commit(self, batch: Batch) -> None:
        """All of ``batch`` in one transaction (outbox rows with the changes they report)."""
