"""One write of the incident service: working copies, timeline entries, outbox messages.

Everything a step changes is gathered here and committed as one batch; the service's
memory takes the copies only after the store accepted them, so memory never holds what the
store refused. Every lifecycle transition and every dispatch becomes an outbox message in
the same batch (issue 4: the outbox is written in the transaction it reports).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from gateway.incidents.config import IncidentConfig
from gateway.incidents.dispatch import Recipient, Topology
from gateway.incidents.model import Incident, Key, Status, TimelineEntry, Transition
from gateway.incidents.outbox import MessageType, OutboxMessage
from gateway.incidents.repository import Batch
from gateway.incidents.timelimits import schedule
from gateway.incidents.views import dispatch_payload, event_payload
from gateway.incidents.workdays import WorkdayCalendar

SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class Context:
    """What every step reads and never changes."""

    topology: Topology
    config: IncidentConfig
    calendar: WorkdayCalendar
    new_incident_id: Callable[[float], str]
    new_event_id: Callable[[], str] = field(default=lambda: str(uuid.uuid4()))


class OpenIndex:
    """The service's memory: open incidents by id and by key (subject, rule_id)."""

    def __init__(self) -> None:
        self.by_id: dict[str, Incident] = {}
        self._by_key: dict[Key, str] = {}
        self.absorber_ids: set[str] = set()  # open incidents that absorb others (并案)

    def find(self, key: Key) -> Incident | None:
        incident_id = self._by_key.get(key)
        return None if incident_id is None else self.by_id[incident_id]

    def put(self, incident: Incident) -> None:
        if not incident.is_open:
            self.drop(incident)
            return
        self.by_id[incident.id] = incident
        self._by_key[incident.key] = incident.id
        if incident.supersedes:
            self.absorber_ids.add(incident.id)

    def drop(self, incident: Incident) -> None:
        self.by_id.pop(incident.id, None)
        if self._by_key.get(incident.key) == incident.id:
            del self._by_key[incident.key]
        self.absorber_ids.discard(incident.id)


class Unit:
    def __init__(self, ctx: Context, index: OpenIndex, now: float) -> None:
        self.ctx = ctx
        self.now = now
        self._index = index
        self.touched: dict[str, Incident] = {}
        self._keys: dict[Key, str | None] = {}  # key changes made in this unit
        self.entries: list[tuple[str, TimelineEntry]] = []
        self.messages: list[OutboxMessage] = []
        self.transitions: list[Transition] = []

    # -- reading through the unit's own changes ------------------------------------------

    def get(self, incident_id: str) -> Incident | None:
        """The open incident's working copy (taken on first use)."""
        if incident_id in self.touched:
            found = self.touched[incident_id]
            return found if found.is_open else None
        incident = self._index.by_id.get(incident_id)
        return None if incident is None else self.take(incident)

    def find(self, key: Key) -> Incident | None:
        if key in self._keys:
            incident_id = self._keys[key]
            return None if incident_id is None else self.touched[incident_id]
        incident = self._index.find(key)
        return None if incident is None else self.take(incident)

    def absorbers(self) -> list[Incident]:
        """Open incidents that absorb others (originals: ``take`` one to change it)."""
        ids = self._index.absorber_ids | {i.id for i in self.touched.values() if i.supersedes}
        found = (self.touched.get(i) or self._index.by_id.get(i) for i in sorted(ids))
        return [i for i in found if i is not None and i.is_open]

    def open_incidents(self) -> list[Incident]:
        """Every open incident as it stands in this unit (originals: ``take`` to change one)."""
        ids = set(self._index.by_id) | set(self.touched)
        found = (self.touched.get(i) or self._index.by_id[i] for i in sorted(ids))
        return [i for i in found if i.is_open]

    def take(self, incident: Incident) -> Incident:
        if incident.id not in self.touched:
            self.touched[incident.id] = incident.copy()
        return self.touched[incident.id]

    def add(self, incident: Incident) -> None:
        self.touched[incident.id] = incident
        self._keys[incident.key] = incident.id

    # -- recording -----------------------------------------------------------------------

    def log(
        self,
        incident: Incident,
        event: str,
        actor: str = SYSTEM,
        note: str = "",
        data: Mapping[str, object] | None = None,
    ) -> None:
        entry = TimelineEntry(self.now, event, actor, note, dict(data or {}))
        self.entries.append((incident.id, entry))

    def report(self, incident: Incident, event: str, actor: str = SYSTEM) -> None:
        snapshot = replace(incident.copy(), timeline=[])
        self.transitions.append(Transition(snapshot, event, self.now, actor))

    def move(
        self,
        incident: Incident,
        status: Status,
        actor: str = SYSTEM,
        note: str = "",
        data: Mapping[str, object] | None = None,
    ) -> None:
        """A lifecycle transition: status, timeline, an event in the outbox, a Transition."""
        incident.status = status
        if status is not Status.ESCALATED:
            incident.main_status = status
        if status is Status.CLOSED:
            incident.closed_at = self.now
            incident.due_stage = incident.due_at = incident.next_reminder_at = None
            if self._keys.get(incident.key, incident.id) == incident.id:
                self._keys[incident.key] = None
        self.schedule(incident)  # the event shows the deadline that now runs
        self.log(incident, status.value, actor, note, data)
        incident.event_seq += 1
        event_id = self.ctx.new_event_id()
        payload = event_payload(
            incident, event_id=event_id, transition=status, at=self.now, actor=actor, note=note
        )
        self._enqueue(incident, MessageType.EVENT, payload, event_id)
        self.report(incident, status.value, actor)

    def send(
        self,
        incident: Incident,
        recipient: Recipient,
        *,
        reminder: int | None = None,
        reason: str = "",
        note: str = "",
    ) -> None:
        """A dispatch (分拨派遣) or reminder to one recipient, on the timeline and in the outbox."""
        event_id = self.ctx.new_event_id()
        payload = dispatch_payload(
            incident, recipient, event_id=event_id, reminder=reminder, reason=reason
        )
        self._enqueue(incident, MessageType.DISPATCH, payload, event_id, recipient)
        data: dict[str, object] = {
            "role": recipient.role.value,
            "recipient": recipient.id,
            "topic": recipient.topic,
            "level": incident.escalation_level,
        }
        if recipient.distance_m is not None:
            data["distance_m"] = recipient.distance_m
            data["within_radius"] = recipient.within_radius
        if reminder is not None:
            data["reminder"] = reminder
        self.log(incident, "remind" if reminder else "dispatch", SYSTEM, note, data)

    def schedule(self, incident: Incident) -> None:
        schedule(incident, self.ctx.config.time_limits, self.ctx.calendar)

    def batch(self) -> Batch:
        for incident in self.touched.values():
            self.schedule(incident)  # e.g. a raised severity: a stricter rule may apply
        return Batch(list(self.touched.values()), self.entries, self.messages)

    def _enqueue(
        self,
        incident: Incident,
        kind: MessageType,
        payload: Mapping[str, object],
        event_id: str,
        recipient: Recipient | None = None,
    ) -> None:
        incident.outbox_seq += 1
        message = OutboxMessage(
            event_id, incident.id, incident.outbox_seq, kind, self.now, payload, recipient
        )
        self.messages.append(message)
