"""The open incidents as the demo's panel lists them, read from the incident service's memory.

Most urgent first: by severity, then oldest first; self-test incidents (the installer's) last.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.demo.feed import Rung, recipients
from gateway.incidents.dispatch import severity_rank
from gateway.incidents.model import Incident
from gateway.incidents.views import incident_view


@dataclass(frozen=True, slots=True)
class IncidentRow:
    id: str
    severity: str
    kind: str
    device: str
    grid: str
    status: str
    age_s: float
    count: int
    to: str
    test: bool = False


def _order(incident: Incident) -> tuple[bool, int, float]:
    return incident.test, -severity_rank(incident.severity), incident.opened_at


def incident_rows(
    incidents: Iterable[Incident], rung: Rung | None, now: float
) -> list[IncidentRow]:
    rows = []
    for incident in sorted(incidents, key=_order):
        kind = incident.kind.value
        if incident.subject.startswith("building:"):
            kind += " (building)"
        to = "installer only" if incident.test else recipients(incident_view(incident), rung)
        rows.append(
            IncidentRow(
                incident.id,
                incident.severity.value,
                kind,
                incident.device_id,
                incident.grid,
                incident.status.value,
                max(0.0, now - incident.opened_at),
                incident.count,
                to,
                incident.test,
            )
        )
    return rows


def by_status(rows: Iterable[IncidentRow]) -> dict[str, int]:
    """Open incidents per status, in lifecycle order (escalated last)."""
    order = ("reported", "dispatched", "accepted", "on_site", "handled", "verified", "escalated")
    counts = Counter(r.status for r in rows)
    return {s: counts[s] for s in order if counts[s]}
