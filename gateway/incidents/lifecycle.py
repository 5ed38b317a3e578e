"""What a person (or the platform) may do to an incident, and what it does (处置 → 核查 → 归档).

Forward along the main line only. Acting implies the earlier steps a person skipped —
a station that arrives without tapping "accept" has accepted — but verification (任务核查)
is never skipped: only a handled incident is verified, only a verified one is closed (a
test incident excepted). On an escalated incident any action acknowledges the escalation:
the reminders stop and the status returns to the main line.
"""

from __future__ import annotations

from gateway.incidents.dispatch import TOP_LEVEL
from gateway.incidents.errors import InvalidTransitionError
from gateway.incidents.escalation import acknowledge, close, escalate
from gateway.incidents.model import MAIN_LINE, Action, Incident, Outcome, Status
from gateway.incidents.unit import Unit

_TARGET = {
    Action.ACK: Status.ACCEPTED,
    Action.ARRIVE: Status.ON_SITE,
    Action.HANDLE: Status.HANDLED,
    Action.VERIFY: Status.VERIFIED,
    Action.CLOSE: Status.CLOSED,
}


def _pos(status: Status) -> int:
    return MAIN_LINE.index(status)


def check(incident: Incident, action: Action) -> Status:
    """The status ``action`` leads to; InvalidTransitionError (nothing changed) when it can't."""

    def refuse(reason: str) -> InvalidTransitionError:
        return InvalidTransitionError(incident.id, incident.status.value, action.value, reason)

    main = incident.main_status
    if not incident.is_open:
        raise refuse("it is closed")
    if action is Action.ESCALATE:
        if incident.test:
            raise refuse("a test incident is never escalated")
        if _pos(main) >= _pos(Status.HANDLED):
            raise refuse("it has been handled: verify or close it")
        if incident.escalation_level >= TOP_LEVEL:
            raise refuse("it is already at the centre")
        return Status.ESCALATED
    target = _TARGET[action]
    if action is Action.ACK and incident.status is Status.ESCALATED:
        return max(main, Status.ACCEPTED, key=_pos)  # acknowledges the escalation
    if action is Action.VERIFY and main is not Status.HANDLED:
        raise refuse("only a handled incident can be verified")
    if action is Action.CLOSE and main is not Status.VERIFIED and not incident.test:
        raise refuse("only a verified incident can be closed (任务核查 comes first)")
    if _pos(main) >= _pos(target):
        raise refuse(f"it is already {main.value}")
    return target


def perform(
    unit: Unit,
    incident: Incident,
    action: Action,
    actor: str,
    note: str,
    outcome: Outcome | None,
    platform_ref: str | None,
) -> None:
    target = check(incident, action)
    if platform_ref:
        incident.platform_ref = platform_ref
    if action is Action.ESCALATE:
        escalate(unit, incident, actor, note or "escalated by hand", "manual")
        return
    if incident.status is Status.ESCALATED:
        acknowledge(incident)
    data: dict[str, object] = {"action": action.value}
    if target is Status.CLOSED:
        outcome = outcome or incident.outcome or _default_outcome(incident)
        close(unit, incident, outcome, note, actor)
        return
    _stamp(incident, target, unit.now)
    if outcome is not None:
        incident.outcome = outcome
    elif target is Status.HANDLED and incident.outcome is None:
        incident.outcome = _default_outcome(incident)
    if incident.outcome is not None and target in (Status.HANDLED, Status.VERIFIED):
        data["outcome"] = incident.outcome.value
    unit.move(incident, target, actor, note, data)


def _default_outcome(incident: Incident) -> Outcome:
    """Handling without an outcome: ``test`` for a test incident, else ``other``."""
    return Outcome.TEST if incident.test else Outcome.OTHER


def _stamp(incident: Incident, target: Status, now: float) -> None:
    """Record when each step was reached; an action implies acceptance when it was skipped."""
    if incident.accepted_at is None:
        incident.accepted_at = now
    if target is Status.ON_SITE:
        incident.on_site_at = now
    elif target is Status.HANDLED:
        incident.handled_at = now
    elif target is Status.VERIFIED:
        incident.verified_at = now
