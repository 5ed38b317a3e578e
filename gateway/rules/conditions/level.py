"""Threshold / event / any-of / rate rules: a condition that holds, for a while, then recovers.

The state machine shared by all four: the predicate turns *on* (past the trip level) and the
alarm fires once it has held ``for_s`` (持续时间) — judged by a later reading, or by the hold
timer on a tick, since the last value is assumed to hold until a new reading says otherwise.
A spike shorter than ``for_s`` never fires. The condition turns *off* only past the clear level
(hysteresis), which emits one Clear if it had fired (never for kind fire). While off, a rule
keeps no state for the device at all, except a rate rule's reference sample.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.model import Device, Reading
from gateway.rules.base import Context, Detail, DeviceRule, RuleMeta, State
from gateway.rules.conditions.predicates import Fields, LevelState, Predicate
from gateway.rules.outcomes import Outcome
from gateway.rules.params import Param


class LevelRule(DeviceRule):
    state_type = LevelState

    def __init__(self, meta: RuleMeta, predicate: Predicate, for_s: Param) -> None:
        super().__init__(meta)
        self.predicate = predicate
        self.for_s = for_s
        self.may_hold = for_s.name is not None or for_s.base > 0

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
        st = found if isinstance(found, LevelState) else None
        if st is not None and t < st.ts:
            return  # an older reading arriving late: the newer value still holds
        predicate = self.predicate
        if st is None and predicate.keeps_state:
            st = LevelState()
            ctx.put(device.id, self.meta.id, st)
        truth = predicate.truth(reading.fields, device, st is not None and st.on, st, t)
        if truth:
            self._holds(ctx, reading.fields, device, st, t, out)
        elif st is None:
            return
        elif truth is False and st.on:
            self._recovers(ctx, reading.fields, device, st, t, out)
        elif predicate.keeps_state:
            st.ts = max(st.ts, t)
            ctx.touch(device.id, soft=True)  # a baseline moved, nothing was decided

    def _holds(
        self,
        ctx: Context,
        fields: Fields,
        device: Device,
        st: LevelState | None,
        t: float,
        out: list[Outcome],
    ) -> None:
        if st is None:
            st = LevelState()
            ctx.put(device.id, self.meta.id, st)
        began = not st.on or (st.test and not ctx.is_test(device.id, fields))
        if began:
            # Off → on; or a test episode (自检) followed by a real reading before the device
            # said the test was over: a new, real episode — never folded into the test.
            if st.due_at is not None:
                st.due_at = None
                ctx.set_timer(device.id, self.meta.id, None)
            st.on, st.since, st.fired = True, t, False
            st.test = ctx.is_test(device.id, fields)
            if self.may_hold:
                st.detail = self._detail(fields, device, st)
        st.ts = t
        ctx.touch(device.id, soft=not began)  # still on: only the time moved
        if st.fired:
            return
        hold = self.for_s.value(device)
        if t - st.since >= hold:
            self._fire(ctx, device, st, t, self._detail(fields, device, st), out)
        elif st.due_at is None:
            st.due_at = st.since + hold
            ctx.set_timer(device.id, self.meta.id, st.due_at)
            ctx.touch(device.id)

    def _detail(self, fields: Fields, device: Device, st: LevelState) -> Detail:
        return self.meta.copy_fields(fields, self.predicate.describe(fields, device, st))

    def _fire(
        self,
        ctx: Context,
        device: Device,
        st: LevelState,
        at: float,
        detail: Detail,
        out: list[Outcome],
    ) -> None:
        st.fired = True
        ctx.touch(device.id)
        if st.due_at is not None:
            st.due_at = None
            ctx.set_timer(device.id, self.meta.id, None)
        if self.may_hold:
            detail["since"] = st.since
            detail["for_s"] = self.for_s.value(device)
        test = st.test or ctx.is_test(device.id, None)
        ctx.alarm(self.meta, device.id, device, at, detail, test, out)

    def _recovers(
        self,
        ctx: Context,
        fields: Fields,
        device: Device,
        st: LevelState,
        t: float,
        out: list[Outcome],
    ) -> None:
        if st.fired:
            ctx.clear(self.meta, device.id, t, self._detail(fields, device, st), out)
        if not self.predicate.keeps_state:
            ctx.drop(device.id, self.meta.id)
            return
        if st.due_at is not None:
            ctx.set_timer(device.id, self.meta.id, None)
        st.on, st.fired, st.due_at, st.detail, st.ts = False, False, None, None, t
        ctx.touch(device.id)

    def on_timer(self, ctx: Context, device: Device, now: float, out: list[Outcome]) -> None:
        st = ctx.state(device.id, self.meta.id)
        if not isinstance(st, LevelState) or not st.on or st.fired or st.due_at is None:
            return
        if now < st.due_at:
            ctx.set_timer(device.id, self.meta.id, st.due_at)
            return
        ctx.touch(device.id)
        self._fire(ctx, device, st, now, dict(st.detail or {}), out)
