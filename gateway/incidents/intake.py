"""Rule outcomes in: open, repeat, absorb (并案), clear.

Dedupe is by key (subject, rule_id): while an incident is open, the same alarm only raises
its ``count``. A confirmed-fire alarm that ``supersedes`` per-device rules absorbs their open
incidents in the same building: each is closed as ``superseded`` with ``superseded_by``
pointing at the building incident, whose ``absorbed`` lists them and whose ``count`` adds
theirs; later alarms of those rules in that building count on the building incident instead
of opening new ones. The fire itself stays open until a person verifies it.
"""

from __future__ import annotations

from gateway.incidents.assign import dispatch_new, dispatch_station
from gateway.incidents.dispatch import severity_rank
from gateway.incidents.escalation import close
from gateway.incidents.model import Incident, Outcome, Stage, Status
from gateway.incidents.unit import Unit
from gateway.model import Location
from gateway.rules.outcomes import Alarm, Clear, IncidentKind


def on_alarm(unit: Unit, alarm: Alarm) -> None:
    current = unit.find((alarm.subject, alarm.rule_id))
    if current is not None and current.test and not alarm.test:
        # A real alarm must never be folded into a test incident that only the installer sees.
        close(unit, current, Outcome.TEST, "a real alarm came in: the test incident gives way")
        current = None
    if current is not None:
        repeat(unit, current, alarm)
        if alarm.supersedes:
            absorb(unit, current, alarm)
        return
    host = None if alarm.test else _absorber_for(unit, alarm)
    if host is not None:
        repeat(unit, host, alarm)
        return
    incident = _open(unit, alarm)
    if alarm.supersedes and not alarm.test:
        absorb(unit, incident, alarm)
    dispatch_new(unit, incident)


def on_clear(unit: Unit, clear: Clear) -> None:
    incident = unit.find((clear.subject, clear.rule_id))
    if incident is None:
        return
    if incident.test:
        close(unit, incident, Outcome.TEST, "test ended: the condition cleared")
    elif incident.kind is IncidentKind.FIRE:
        unit.log(
            incident,
            "cleared",
            note="the condition cleared; a fire incident closes only when a person verifies it",
            data=dict(clear.detail),
        )
        unit.report(incident, "cleared")
    else:
        note = "recovered: the condition cleared (closed automatically)"
        close(unit, incident, Outcome.RECOVERED, note, data=dict(clear.detail))


def repeat(unit: Unit, incident: Incident, alarm: Alarm) -> None:
    """Count the alarm; one timeline line per ``repeat_note_every_s`` keeps a burst readable."""
    incident.count += 1
    incident.last_seen = max(incident.last_seen, alarm.at)
    if severity_rank(alarm.severity) > severity_rank(incident.severity):
        _raise_severity(unit, incident, alarm)
    every = unit.ctx.config.repeat_note_every_s
    last = incident.last_repeat_note_at
    if last is None or unit.now - last >= every:
        incident.last_repeat_note_at = unit.now
        data = {"count": incident.count, "subject": alarm.subject, "rule_id": alarm.rule_id}
        unit.log(incident, "repeat", note=f"repeated: {incident.count} alarms so far", data=data)
    unit.report(incident, "repeat")


def absorb(unit: Unit, host: Incident, alarm: Alarm) -> None:
    for found in unit.open_incidents():
        if found.id == host.id or found.test or found.rule_id not in alarm.supersedes:
            continue
        if not _same_place(found, host, alarm):
            continue
        other = unit.take(found)
        other.superseded_by = host.id
        close(unit, other, Outcome.SUPERSEDED, f"absorbed into {host.id}: {host.title}")
        host.absorbed.append(other.id)
        host.count += other.count
        data = {"incident_id": other.id, "subject": other.subject, "count": other.count}
        unit.log(host, "absorbed", note=f"absorbed {other.id} ({other.subject})", data=data)


def _open(unit: Unit, alarm: Alarm) -> Incident:
    ctx = unit.ctx
    device = ctx.topology.by_id(alarm.device_id)
    installer = alarm.detail.get("installer") or getattr(device, "installer", None)
    incident = Incident(
        id=ctx.new_incident_id(unit.now),
        rule_id=alarm.rule_id,
        subject=alarm.subject,
        device_id=alarm.device_id,
        kind=alarm.kind,
        severity=alarm.severity,
        title=alarm.title,
        grid=device.grid if device else _grid_of_subject(alarm.subject),
        status=Status.REPORTED,
        opened_at=unit.now,
        last_seen=alarm.at,
        test=alarm.test,
        location=device.location if device else Location(),
        community=device.community if device else "",
        street=device.street if device else "",
        detected_at=alarm.at,
        detail=dict(alarm.detail),
        installer=str(installer) if installer else None,
        supersedes=alarm.supersedes,
    )
    if alarm.test:  # never escalated; closes itself if nobody does
        incident.due_stage = Stage.EXPIRE
        incident.due_at = unit.now + ctx.config.test_ttl_s
    unit.add(incident)
    data = {"rule_id": alarm.rule_id, "detected_at": alarm.at, "test": alarm.test}
    unit.move(incident, Status.REPORTED, note=alarm.title, data=data)
    return incident


def _raise_severity(unit: Unit, incident: Incident, alarm: Alarm) -> None:
    wanted_before = unit.ctx.config.dispatch.wants_station(incident.kind, incident.severity)
    note = f"severity raised from {incident.severity.value} to {alarm.severity.value}"
    incident.severity = alarm.severity
    incident.due_stage = None  # a stricter time-limit rule may apply now
    unit.log(incident, "severity", note=note)
    wanted = unit.ctx.config.dispatch.wants_station(incident.kind, incident.severity)
    if wanted and not wanted_before and incident.station_id is None and not incident.test:
        dispatch_station(unit, incident)


def _absorber_for(unit: Unit, alarm: Alarm) -> Incident | None:
    device = unit.ctx.topology.by_id(alarm.device_id)
    place = None if device is None else (device.grid, device.building)
    for host in unit.absorbers():
        if host.test or alarm.rule_id not in host.supersedes:
            continue
        listed = alarm.subject in _devices(host.detail.get("devices"))
        if listed or (place is not None and place[1] and place == _building(host)):
            return unit.take(host)
    return None


def _same_place(found: Incident, host: Incident, alarm: Alarm) -> bool:
    if found.subject == host.subject:
        return True
    listed = _devices(alarm.detail.get("devices"))
    if found.subject in listed or found.device_id in listed:
        return True
    place = _building(host)
    return place is not None and place == _building(found)


def _building(incident: Incident) -> tuple[str, str] | None:
    building = incident.location.building
    return (incident.grid, building) if building else None


def _devices(value: object) -> set[str]:
    return {str(v) for v in value} if isinstance(value, list | tuple | set | frozenset) else set()


def _grid_of_subject(subject: str) -> str:
    """``grid:<code>`` and ``building:<grid>/<building>`` carry their grid in the subject."""
    if subject.startswith("grid:"):
        return subject.removeprefix("grid:")
    if subject.startswith("building:"):
        return subject.removeprefix("building:").split("/", 1)[0]
    return ""
