"""The points the dashboards read besides readings: incident transitions and device positions.

All of them go through the time-series sink as :class:`Reading` + :class:`Device` pairs, so
:class:`~gateway.sinks.lineprotocol.LineProtocol` serialises them like any reading; their
string fields become tags when the sink is built with :data:`TAG_FIELDS` among its tag fields
(see :func:`sink_field_roles`).

``incident`` — one point per incident transition (发现上报 … 归档) of a non-test incident.
Tags: ``device``, ``profile``, ``grid``, ``community``, ``street`` (the incident's snapshot),
``kind``, ``severity``, ``transition`` (``reported``, ``accepted``, …, ``closed``, or
``repeat`` / ``remind`` / ``cleared``), ``worker_id`` (dispatched at open) and, on
``closed``, ``outcome``. Fields, each only where it means something:

- ``alarm`` 1 on ``reported`` and ``repeat``: ``sum(alarm)`` counts alarms;
- ``open_delta`` +1 on ``reported``, −1 on ``closed``: ``sum(open_delta)`` over all time is
  the number of incidents open now;
- ``seconds_to_accept`` / ``seconds_to_arrive`` / ``seconds_to_handle`` on the transition that
  reached the step (acceptance may be implied by a later step), counted from ``opened_at``;
- ``on_time`` 1/0 once per judged incident, as ``gateway.stats`` judges it: 0 on the
  escalation of its first missed time limit (open or not), else 1 when it is handled;
- ``false_alarm`` 1/0 on ``closed`` (outcome ``false_alarm``);
- ``count``, ``escalation_level``, and ``lat`` / ``lon`` when the incident has a position.
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.incidents.model import Incident, Outcome, Status, Transition
from gateway.incidents.unit import SYSTEM
from gateway.model import Device, FieldValue, Reading
from gateway.profiles import DeviceProfile
from gateway.sinks.lineprotocol import field_roles

INCIDENT_MEASUREMENT = "incident"
# Incident tags, and the Prometheus labels the ``gateway`` measurement keeps as tags.
INCIDENT_TAGS = frozenset({"kind", "severity", "transition", "outcome", "worker_id"})
GATEWAY_TAGS = frozenset({"reason", "measurement", "sink", "status", "channel"})
TAG_FIELDS = INCIDENT_TAGS | GATEWAY_TAGS

# Closed without anyone acting: nobody's performance is judged (as in gateway.stats).
_SELF_CLOSED = frozenset({Outcome.RECOVERED, Outcome.SUPERSEDED, Outcome.TEST})
_DONE_BY_PEOPLE = frozenset(
    {Status.ACCEPTED, Status.ON_SITE, Status.HANDLED, Status.VERIFIED, Status.CLOSED}
)


def sink_field_roles(
    profiles: Iterable[DeviceProfile],
) -> tuple[frozenset[str], frozenset[str]]:
    """``field_roles(profiles)`` plus the tags of the incident and gateway points."""
    tags, strings = field_roles(profiles)
    return tags | TAG_FIELDS, strings


def position(device: Device) -> dict[str, FieldValue]:
    """``lat``/``lon`` of a device for its ``device_status`` points (the overview's map)."""
    return _coordinates(device.lat, device.lon)


def incident_point(transition: Transition, device: Device | None) -> tuple[Reading, Device] | None:
    """The ``incident`` point of one transition; ``None`` for a test incident (调试).

    ``device`` is the registry's device (for its profile), or ``None`` when it is gone.
    """
    incident = transition.incident
    if incident.test:
        return None
    where = Device(
        id=incident.device_id,
        profile=device.profile if device is not None else "",
        name="",
        grid=incident.grid,
        community=incident.community,
        street=incident.street,
    )
    fields: dict[str, FieldValue] = {
        "kind": incident.kind.value,
        "severity": incident.severity.value,
        "transition": transition.event,
        "count": incident.count,
        "escalation_level": incident.escalation_level,
    }
    if incident.worker_id:
        fields["worker_id"] = incident.worker_id
    fields |= _progress(incident, transition)
    fields |= _coordinates(incident.location.lat, incident.location.lon)
    reading = Reading(where.id, where.profile, INCIDENT_MEASUREMENT, transition.at, fields)
    return reading, where


def _coordinates(lat: float | None, lon: float | None) -> dict[str, FieldValue]:
    # Always floats: one integer ``lat=31i`` would make InfluxDB refuse the whole batch
    # (a field keeps the type it was first written with).
    return {} if lat is None or lon is None else {"lat": float(lat), "lon": float(lon)}


def _progress(incident: Incident, transition: Transition) -> dict[str, FieldValue]:
    event, at = transition.event, transition.at
    fields: dict[str, FieldValue] = {}
    if event in (Status.REPORTED, "repeat"):
        fields["alarm"] = 1
    if event == Status.REPORTED:
        fields["open_delta"] = 1
    if event in _DONE_BY_PEOPLE:
        # A step reached in this very transition carries this transition's time.
        for name, reached in (
            ("seconds_to_accept", incident.accepted_at),
            ("seconds_to_arrive", incident.on_site_at),
            ("seconds_to_handle", incident.handled_at),
        ):
            if reached == at:
                fields[name] = max(0.0, at - incident.opened_at)
    on_time = _judged(incident, transition)
    if on_time is not None:
        fields["on_time"] = on_time
    if event == Status.CLOSED:
        fields["open_delta"] = -1
        fields["false_alarm"] = int(incident.outcome is Outcome.FALSE_ALARM)
        if incident.outcome is not None:
            fields["outcome"] = incident.outcome.value
    return fields


def _judged(incident: Incident, transition: Transition) -> int | None:
    """``on_time`` when this transition is the one ``gateway.stats`` would judge it by.

    Late the moment it first misses a limit (the system escalates it then), still open or
    not; on time when handled without a miss, or closed by hand without being handled.
    """
    event = transition.event
    if event == Status.ESCALATED:
        first_miss = transition.actor == SYSTEM and len(incident.breaches) == 1
        return 0 if first_miss and incident.handled_at is None else None
    if incident.breaches:
        return None  # judged late when it missed the limit
    if event == Status.HANDLED:
        return 1
    if event == Status.CLOSED and incident.handled_at is None:
        return None if incident.outcome in _SELF_CLOSED else 1
    return None
