"""Patrol overdue (巡查超时): a tag not scanned inside its schedule → alarm to the grid leader.

Every reading of a tag is a scan (a worker's phone or reader reports it), at the scan's own
time, so a scan uploaded late still counts for the window it was made in. The tag's schedule
is chosen by tag id (or external id), else by grid, else the rule's default. The alarm is
held until the next scan, which clears it; the incident service reminds in between. Which tags
exist comes from the topology on each tick, so a tag never scanned is watched from the first
tick that sees it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Self

from gateway.model import Device, Reading, nan_for_none, none_for_nan
from gateway.rules.base import Context, DeviceRule, RuleMeta, State, Tick
from gateway.rules.outcomes import Outcome
from gateway.rules.schedule import PatrolSchedule


class PatrolState(State):
    __slots__ = ("_overdue_at", "anchor", "held", "scanned", "schedule")

    def __init__(self, anchor: float, scanned: bool) -> None:
        self.anchor = anchor  # the latest scan, or when watching began
        self.scanned = scanned
        self.held = False
        self._overdue_at = math.nan  # see gateway.model.nan_for_none
        self.schedule = ""

    @property
    def overdue_at(self) -> float | None:
        """Cached: computed from anchor and schedule (None: not yet, or never overdue)."""
        return none_for_nan(self._overdue_at)

    @overdue_at.setter
    def overdue_at(self, value: float | None) -> None:
        self._overdue_at = nan_for_none(value)

    def dump(self) -> Any:
        return [self.anchor, self.scanned, self.held, self.overdue_at, self.schedule]

    @classmethod
    def load(cls, data: Any) -> Self:
        st = cls(data[0], data[1])
        st.held, st.overdue_at, st.schedule = data[2:]
        return st


class PatrolRule(DeviceRule):
    state_type = PatrolState
    ticks = True

    def __init__(
        self,
        meta: RuleMeta,
        schedules: Mapping[str, PatrolSchedule],
        default: str | None,
        by_grid: Mapping[str, str],
        by_tag: Mapping[str, str],
    ) -> None:
        super().__init__(meta)
        self.schedules = schedules
        self.default = default
        self.by_grid = by_grid
        self.by_tag = by_tag

    def schedule_for(self, device: Device) -> PatrolSchedule | None:
        name = self.by_tag.get(device.id)
        if name is None and device.external_id is not None:
            name = self.by_tag.get(device.external_id)
        if name is None:
            name = self.by_grid.get(device.grid, self.default)
        return None if name is None else self.schedules[name]

    def on_reading(
        self,
        ctx: Context,
        reading: Reading,
        device: Device,
        states: Mapping[str, State] | None,
        t: float,
        out: list[Outcome],
    ) -> None:
        found = states.get(self.meta.id) if states is not None else None
        if not isinstance(found, PatrolState):
            found = PatrolState(t, scanned=True)
            self._next_due(found, device)
            ctx.put(device.id, self.meta.id, found)
            return
        if found.held:
            detail = self.meta.copy_fields(reading.fields, {"scanned_at": t})
            ctx.clear(self.meta, device.id, t, detail, out)
            found.held = False
        if t > found.anchor or not found.scanned:
            found.anchor, found.scanned = t, True
            self._next_due(found, device)
        ctx.touch(device.id)

    def _next_due(self, st: PatrolState, device: Device) -> None:
        """When the tag falls overdue after its new anchor: worked out at the scan, so the
        state is saved once per scan (not again when the next tick would work it out)."""
        schedule = self.schedule_for(device)
        if schedule is None:
            st.overdue_at, st.schedule = None, ""
        else:
            st.overdue_at, st.schedule = schedule.overdue_at(st.anchor), schedule.name

    def on_tick(self, ctx: Context, tick: Tick, device: Device) -> None:
        schedule = self.schedule_for(device)
        if schedule is None:
            return
        st = ctx.state(device.id, self.meta.id)
        if not isinstance(st, PatrolState):
            st = PatrolState(tick.now, scanned=False)
            ctx.put(device.id, self.meta.id, st)
        if st.held:
            return
        if st.overdue_at is None or st.schedule != schedule.name:
            st.overdue_at, st.schedule = schedule.overdue_at(st.anchor), schedule.name
            ctx.touch(device.id)
        if st.overdue_at is None or tick.now < st.overdue_at:
            return
        st.held = True
        ctx.touch(device.id)
        detail: dict[str, object] = {
            "schedule": schedule.name,
            "due_at": st.overdue_at - schedule.grace_s,
            "last_scan": st.anchor if st.scanned else None,
        }
        test = ctx.is_test(device.id, None)
        ctx.alarm(self.meta, device.id, device, tick.now, detail, test, tick.out)
