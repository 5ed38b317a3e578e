"""The incident service: the only writer of incidents (发现上报 → 分拨派遣 → … → 归档).

Every write — :meth:`apply` (rule outcomes), :meth:`act` (people and the platform),
:meth:`tick` (time limits) — runs under one asyncio lock, against an in-memory index of the
open incidents by key, and commits one batch (incidents, timeline, outbox) to the store
before memory changes. So 200 concurrent alarms for one device open one incident with
count 200, and the partial UNIQUE index in SQLite is only the safety net. The clock is
injected; nothing here reads the time itself.
"""

from __future__ import annotations

import asyncio
import builtins
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime

from gateway.incidents import escalation, intake, lifecycle
from gateway.incidents.config import IncidentConfig
from gateway.incidents.dispatch import Topology
from gateway.incidents.errors import IncidentNotFoundError, InvalidTransitionError
from gateway.incidents.model import Action, Incident, Outcome, Status, Transition
from gateway.incidents.repository import IncidentQuery, IncidentStore
from gateway.incidents.timers import TimerQueue
from gateway.incidents.unit import Context, OpenIndex, Unit
from gateway.incidents.workdays import OverriddenCalendar, WorkdayCalendar, default_calendar
from gateway.rules.outcomes import Alarm, Clear, IncidentKind

Clock = Callable[[], float]


class IncidentService:
    """Open with :meth:`open` (loads the open incidents and their timers from the store)."""

    def __init__(
        self,
        store: IncidentStore,
        topology: Topology,
        *,
        clock: Clock,
        config: IncidentConfig | None = None,
        calendar: WorkdayCalendar | None = None,
        new_incident_id: Callable[[float], str] | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._listeners: builtins.list[Callable[[Sequence[Transition]], None]] = []
        config = config or IncidentConfig()
        self._ctx = Context(
            topology=topology,
            config=config,
            calendar=OverriddenCalendar(calendar or default_calendar(), config.calendar),
            new_incident_id=new_incident_id or _incident_id_for(config),
        )
        self._index = OpenIndex()
        self._timers = TimerQueue()
        self._lock = asyncio.Lock()

    @classmethod
    async def open(
        cls,
        store: IncidentStore,
        topology: Topology,
        *,
        clock: Clock,
        config: IncidentConfig | None = None,
        calendar: WorkdayCalendar | None = None,
    ) -> IncidentService:
        service = cls(store, topology, clock=clock, config=config, calendar=calendar)
        await service.load()
        return service

    async def load(self) -> None:
        """(Re)read the open incidents: deadlines and reminders resume where they were."""
        async with self._lock:
            self._index = OpenIndex()
            self._timers = TimerQueue()
            for incident in await self._store.load_open():
                self._index.put(incident)
                self._timers.set(incident.id, incident.wake_at)

    @property
    def config(self) -> IncidentConfig:
        return self._ctx.config

    # -- writes ----------------------------------------------------------------------------

    async def apply(self, outcomes: Sequence[Alarm | Clear]) -> builtins.list[Transition]:
        """Turn rule outcomes into transitions, all persisted in one transaction."""
        if not outcomes:
            return []
        async with self._lock:
            unit = self._unit()
            for outcome in outcomes:
                if isinstance(outcome, Alarm):
                    intake.on_alarm(unit, outcome)
                else:
                    intake.on_clear(unit, outcome)
            return await self._commit(unit)

    async def act(
        self,
        incident_id: str,
        action: Action | str,
        actor: str,
        note: str = "",
        outcome: Outcome | str | None = None,
        platform_ref: str | None = None,
    ) -> Incident:
        """An action from the REST API or the platform callback; the incident with timeline.

        IncidentNotFoundError (404) for an unknown id, InvalidTransitionError (409) when the action
        does not apply; ValueError for an action or outcome that is not one of the enums.
        """
        action, outcome = Action(action), None if outcome is None else Outcome(outcome)
        async with self._lock:
            unit = self._unit()
            incident = unit.get(incident_id)
            if incident is None:
                stored = await self._store.get(incident_id)
                if stored is None:
                    raise IncidentNotFoundError(incident_id)
                status, name = stored.status.value, action.value
                raise InvalidTransitionError(incident_id, status, name, "it is closed")
            lifecycle.perform(unit, incident, action, actor, note, outcome, platform_ref)
            await self._commit(unit)
        return await self.get(incident_id)

    async def tick(self) -> builtins.list[Transition]:
        """Deadlines and reminders that have come due; cheap when none has (a heap peek)."""
        now = self._clock()
        wake = self._timers.next_at()
        if wake is None or wake > now:
            return []
        async with self._lock:
            unit = self._unit()
            popped = self._timers.pop_due(unit.now)
            for incident_id in popped:
                incident = unit.get(incident_id)
                if incident is not None:
                    escalation.due(unit, incident)
            transitions = await self._commit(unit)
            for incident_id in popped:  # whatever is still open keeps its next timer
                kept = self._index.by_id.get(incident_id)
                if kept is not None:
                    self._timers.set(incident_id, kept.wake_at)
            return transitions

    # -- reads -----------------------------------------------------------------------------

    def next_wakeup(self) -> float | None:
        """When :meth:`tick` next has something to do (for a scheduler that sleeps)."""
        return self._timers.next_at()

    def open_incidents(self) -> builtins.list[Incident]:
        """Snapshots of the open incidents (no timelines), from memory."""
        return [i.copy() for i in self._index.by_id.values()]

    async def get(self, incident_id: str) -> Incident:
        """One incident with its timeline; IncidentNotFoundError when there is none."""
        incident = await self._store.get(incident_id)
        if incident is None:
            raise IncidentNotFoundError(incident_id)
        return incident

    async def list(
        self,
        *,
        status: Status | str | None = None,
        grid: str | None = None,
        device: str | None = None,
        kind: IncidentKind | str | None = None,
        open_only: bool = False,
        test: bool | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[Incident]:
        """Newest first, without timelines; ``test=False`` leaves test incidents out (stats)."""
        query = IncidentQuery(
            status=None if status is None else Status(status),
            grid=grid,
            device=device,
            kind=None if kind is None else IncidentKind(kind),
            open_only=open_only,
            test=test,
            limit=limit,
            offset=offset,
        )
        return await self._store.query(query)

    # -- internals -------------------------------------------------------------------------

    def _unit(self) -> Unit:
        return Unit(self._ctx, self._index, self._clock())

    def subscribe(self, listener: Callable[[Sequence[Transition]], None]) -> None:
        """Called with every committed batch of transitions (e.g. incident points for the
        operations dashboard); it runs after the commit and must not block."""
        self._listeners.append(listener)

    async def _commit(self, unit: Unit) -> builtins.list[Transition]:
        try:
            if unit.touched:
                await self._store.commit(unit.batch())
        except BaseException:
            # Memory keeps the last committed state; put back the timers tick() popped.
            for incident in self._index.by_id.values():
                self._timers.set(incident.id, incident.wake_at)
            raise
        for incident in unit.touched.values():
            self._index.put(incident)
            self._timers.set(incident.id, incident.wake_at)
        for listener in self._listeners:
            listener(unit.transitions)
        return unit.transitions


def _incident_id_for(config: IncidentConfig) -> Callable[[float], str]:
    """``INC-20261123-3f9a1c2b7d``: the local date to read by, random to stay unique."""
    zone = config.time_limits.zone

    def new_id(now: float) -> str:
        return f"INC-{datetime.fromtimestamp(now, zone):%Y%m%d}-{secrets.token_hex(5)}"

    return new_id
