"""Time limits, escalation up the ladder, and reminders until someone acknowledges.

A stage's deadline counts from ``opened_at``; a breach escalates one rung (grid worker →
grid leader → community → street → centre), re-dispatches to the new rung, gives that rung
a fresh clock for the same stage, and reminds it every ``remind_every_s`` until someone acts
(ThingsBoard's most-asked-for missing feature). At the centre nothing is above: the breach
is recorded and the reminders go on.
"""

from __future__ import annotations

from gateway.incidents.dispatch import LADDER, TOP_LEVEL, climb, rung
from gateway.incidents.model import Incident, Outcome, Stage, Status
from gateway.incidents.timelimits import pending_stage
from gateway.incidents.unit import SYSTEM, Unit


def escalate(unit: Unit, incident: Incident, actor: str, note: str, reason: str) -> None:
    """One rung up (skipping empty rungs), re-dispatch there, and remind until acknowledged."""
    level, people = climb(unit.ctx.topology, incident.grid, incident.escalation_level + 1)
    incident.escalation_level = level
    _restart_clock(unit, incident)
    _arm_reminders(unit, incident)
    data = {"level": level, "to": LADDER[level].value, "reason": reason}
    unit.move(incident, Status.ESCALATED, actor, note, data)
    for person in people:
        unit.send(incident, person, reason=reason)


def breach(unit: Unit, incident: Incident) -> None:
    """A deadline passed: escalate, or at the centre record it and keep reminding."""
    stage = incident.due_stage
    assert stage is not None
    incident.breaches.append(stage.value)
    reason = f"{stage.value}_overdue"
    note = f"{stage.value} time limit missed at the {LADDER[incident.escalation_level].value}"
    if incident.escalation_level < TOP_LEVEL:
        escalate(unit, incident, SYSTEM, note, reason)
        return
    incident.due_at = None  # nothing above the centre; the reminders carry on
    if incident.next_reminder_at is None:
        _arm_reminders(unit, incident)
    if incident.status is Status.ESCALATED:
        unit.log(incident, "note", note=note, data={"reason": reason})
    else:
        unit.move(incident, Status.ESCALATED, SYSTEM, note, {"reason": reason})


def remind(unit: Unit, incident: Incident) -> None:
    """The next reminder to whoever holds the incident at its current rung."""
    incident.reminders += 1
    people = rung(unit.ctx.topology, incident.grid, incident.escalation_level)
    if not people:  # the rung was emptied since the escalation (a registry change)
        incident.escalation_level, people = climb(
            unit.ctx.topology, incident.grid, incident.escalation_level
        )
    for person in people:
        unit.send(incident, person, reminder=incident.reminders, reason="reminder")
    incident.next_reminder_at = unit.now + unit.ctx.config.time_limits.remind_interval(incident)
    unit.report(incident, "remind")


def acknowledge(incident: Incident) -> None:
    """Someone acted on an escalated incident: the reminders stop."""
    incident.next_reminder_at = None
    incident.reminders = 0


def due(unit: Unit, incident: Incident) -> None:
    """Whatever timer of ``incident`` has come due by ``unit.now``."""
    if incident.due_at is not None and incident.due_at <= unit.now:
        if incident.due_stage is Stage.EXPIRE:
            close(unit, incident, Outcome.TEST, "test incident expired")
        else:
            breach(unit, incident)
    elif incident.next_reminder_at is not None and incident.next_reminder_at <= unit.now:
        remind(unit, incident)


def close(
    unit: Unit,
    incident: Incident,
    outcome: Outcome,
    note: str,
    actor: str = SYSTEM,
    data: dict[str, object] | None = None,
) -> None:
    incident.outcome = outcome
    acknowledge(incident)
    unit.move(incident, Status.CLOSED, actor, note, {"outcome": outcome.value, **(data or {})})


def _restart_clock(unit: Unit, incident: Incident) -> None:
    """The new rung gets the whole limit again for the same stage (none at the centre)."""
    limits = unit.ctx.config.time_limits
    rule = limits.rule_for(incident.kind, incident.severity)
    stage = pending_stage(incident, rule)
    limit = None if rule is None or stage is None else rule.limit(stage)
    incident.due_stage = stage
    incident.due_at = (
        limit.due(unit.now, unit.ctx.calendar, limits.zone)
        if limit is not None and incident.escalation_level < TOP_LEVEL
        else None
    )


def _arm_reminders(unit: Unit, incident: Incident) -> None:
    incident.reminders = 0
    interval = unit.ctx.config.time_limits.remind_interval(incident)
    incident.next_reminder_at = unit.now + interval
