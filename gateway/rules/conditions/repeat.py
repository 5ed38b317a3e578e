"""Repeating: the inner condition started N times within a window (e.g. fault 3× in 10 min).

Counts starts (false → true), not readings: a detector that repeats ``fault: true`` in every
heartbeat while faulty is one occurrence, one that keeps flapping is many. The alarm clears
once fewer than N starts remain in the window and the condition is off; a timer at the oldest
start's expiry makes that happen without waiting for the next reading.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from gateway.model import Device, Reading
from gateway.rules.base import Context, Detail, DeviceRule, RuleMeta, State
from gateway.rules.conditions.predicates import Predicate
from gateway.rules.outcomes import Outcome


class RepeatState(State):
    __slots__ = ("due_at", "fired", "hits", "on", "ts")

    def __init__(self) -> None:
        self.on = False
        self.hits: list[float] = []  # start times inside the window, oldest first
        self.fired = False
        self.ts = 0.0
        self.due_at: float | None = None

    def dump(self) -> Any:
        return [self.on, list(self.hits), self.fired, self.ts, self.due_at]

    @classmethod
    def load(cls, data: Any) -> Self:
        st = cls()
        st.on, hits, st.fired, st.ts, st.due_at = data
        st.hits = list(hits)
        return st

    def due(self) -> float | None:
        return self.due_at


class RepeatRule(DeviceRule):
    state_type = RepeatState

    def __init__(self, meta: RuleMeta, predicate: Predicate, times: int, within_s: float) -> None:
        super().__init__(meta)
        self.predicate = predicate
        self.times = times
        self.within_s = within_s

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
        st = found if isinstance(found, RepeatState) else None
        if st is not None and t < st.ts:
            return
        truth = self.predicate.truth(reading.fields, device, st is not None and st.on, None, t)
        if truth is None or (st is None and not truth):
            return
        if st is None:
            st = RepeatState()
            ctx.put(device.id, self.meta.id, st)
        st.ts = t
        ctx.touch(device.id, soft=bool(truth) == st.on)  # no edge: only the time moved
        if truth and not st.on:
            st.on = True
            st.hits.append(t)
            self._prune(st, t)
            if not st.fired and len(st.hits) >= self.times:
                st.fired = True
                detail = self.predicate.describe(reading.fields, device, None)
                detail.update(count=len(st.hits), within_s=self.within_s, first_at=st.hits[0])
                self.meta.copy_fields(reading.fields, detail)
                test = ctx.is_test(device.id, reading.fields)
                ctx.alarm(self.meta, device.id, device, t, detail, test, out)
            self._schedule(ctx, device, st)
        elif not truth and st.on:
            st.on = False
            self._settle(ctx, device, st, t, out)

    def _prune(self, st: RepeatState, now: float) -> None:
        cutoff = now - self.within_s
        while st.hits and st.hits[0] <= cutoff:
            st.hits.pop(0)

    def _schedule(self, ctx: Context, device: Device, st: RepeatState) -> None:
        st.due_at = st.hits[0] + self.within_s if st.hits else None
        ctx.set_timer(device.id, self.meta.id, st.due_at)

    def _settle(
        self, ctx: Context, device: Device, st: RepeatState, now: float, out: list[Outcome]
    ) -> None:
        self._prune(st, now)
        if st.fired and not st.on and len(st.hits) < self.times:
            st.fired = False
            detail: Detail = {"count": len(st.hits), "within_s": self.within_s}
            ctx.clear(self.meta, device.id, now, detail, out)
        if not (st.fired or st.on or st.hits):
            ctx.drop(device.id, self.meta.id)
            return
        self._schedule(ctx, device, st)

    def on_timer(self, ctx: Context, device: Device, now: float, out: list[Outcome]) -> None:
        st = ctx.state(device.id, self.meta.id)
        if isinstance(st, RepeatState):
            ctx.touch(device.id)
            self._settle(ctx, device, st, now, out)
