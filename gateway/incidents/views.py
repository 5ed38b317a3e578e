"""Incidents as the outside world sees them: the REST view, the dispatch and the event payloads.

One rendering for all three, so the platform webhook, the MQTT topics and ``GET /incidents``
never disagree. Times are RFC 3339 UTC with milliseconds (as the rest of the API writes them).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway.incidents.dispatch import LADDER, Recipient, Role
from gateway.incidents.model import Incident, TimelineEntry

EVENT_SCHEMA_VERSION = 1  # of the lifecycle event payload below; bump on a breaking change

JsonObject = dict[str, Any]


def rfc3339(ts: float | None) -> str | None:
    if ts is None:
        return None
    moment = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
    return moment.replace("+00:00", "Z")


def location_view(incident: Incident) -> JsonObject:
    loc = incident.location
    return {
        "address": loc.address,
        "building": loc.building,
        "floor": loc.floor,
        "lat": loc.lat,
        "lon": loc.lon,
    }


def incident_view(incident: Incident, *, timeline: bool = False) -> JsonObject:
    """The incident as ``GET /incidents`` shows it; ``timeline=True`` for the single view."""
    i = incident
    view: JsonObject = {
        "id": i.id,
        "kind": i.kind.value,
        "severity": i.severity.value,
        "status": i.status.value,
        "title": i.title,
        "device_id": i.device_id,
        "subject": i.subject,
        "rule_id": i.rule_id,
        "grid": i.grid,
        "community": i.community,
        "street": i.street,
        "location": location_view(i),
        "opened_at": rfc3339(i.opened_at),
        "detected_at": rfc3339(i.detected_at),
        "last_seen": rfc3339(i.last_seen),
        "closed_at": rfc3339(i.closed_at),
        "count": i.count,
        "test": i.test,
        "escalation_level": i.escalation_level,
        "escalation": LADDER[i.escalation_level].value,
        "worker_id": i.worker_id,
        "station_id": i.station_id,
        "distance_m": i.distance_m,
        "outcome": None if i.outcome is None else i.outcome.value,
        "platform_ref": i.platform_ref,
        "accepted_at": rfc3339(i.accepted_at),
        "on_site_at": rfc3339(i.on_site_at),
        "handled_at": rfc3339(i.handled_at),
        "verified_at": rfc3339(i.verified_at),
        "due": None
        if i.due_at is None or i.due_stage is None
        else {"stage": i.due_stage.value, "at": rfc3339(i.due_at)},
        "breaches": list(i.breaches),
        "superseded_by": i.superseded_by,
        "absorbed": list(i.absorbed),
    }
    if timeline:
        view["timeline"] = [entry_view(e) for e in i.timeline]
    return view


def entry_view(entry: TimelineEntry) -> JsonObject:
    return {
        "at": rfc3339(entry.at),
        "event": entry.event,
        "actor": entry.actor,
        "note": entry.note,
        "data": dict(entry.data),
    }


def dispatch_payload(
    incident: Incident,
    recipient: Recipient,
    *,
    event_id: str,
    reminder: int | None = None,
    reason: str = "",
) -> JsonObject:
    """A dispatch (or reminder) on ``grid/{workers|stations|centre|installers}/…/alarms``.

    The contract fields first; ``event_id`` lets a phone app drop a redelivered copy
    (delivery is at least once), ``reminder`` counts reminders at the current level.
    """
    i = incident
    payload: JsonObject = {
        "incident_id": i.id,
        "kind": i.kind.value,
        "severity": i.severity.value,
        "title": i.title,
        "device_id": i.device_id,
        "location": location_view(i),
        "grid": i.grid,
        "opened_at": rfc3339(i.opened_at),
        "event_id": event_id,
        "role": recipient.role.value,
        "escalation_level": i.escalation_level,
        "test": i.test,
    }
    if recipient.role is Role.STATION:
        payload["distance_m"] = recipient.distance_m
        payload["within_radius"] = recipient.within_radius
    if reminder is not None:
        payload["reminder"] = reminder
    if reason:
        payload["reason"] = reason
    return payload


def event_payload(
    incident: Incident, *, event_id: str, transition: str, at: float, actor: str, note: str
) -> JsonObject:
    """A lifecycle event: ``grid/incidents/{id}/events`` and the grid-platform webhook body.

    ``seq`` numbers the incident's events 1, 2, 3 … without gaps, so a receiver can tell a
    lost event from a duplicate (same ``event_id``) or a stale one (lower ``seq``).
    """
    return {
        "version": EVENT_SCHEMA_VERSION,
        "event_id": event_id,
        "incident_id": incident.id,
        "seq": incident.event_seq,
        "transition": transition,
        "occurred_at": rfc3339(at),
        "actor": actor,
        "note": note,
        "incident": incident_view(incident),
    }
