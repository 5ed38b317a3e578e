"""Inactivity: no message for N × the profile's heartbeat → the device is offline (离线).

Judged on a tick from the topology's last-seen times (any message is a heartbeat, even one
with no usable field, which never becomes a reading). Any later message clears it: a reading
at once, a bare heartbeat on the next tick. A device that has never reported is not offline —
it is not installed yet. When a storm rule watches this one, it counts the grid's late
devices on the same pass and may suppress the per-device alarms (see ``storm.py``); a device
left offline when the storm clears gets its own alarm on the next tick.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, Self

from gateway.model import Device, Reading
from gateway.rules.base import Context, Detail, DeviceRule, RuleMeta, State, Tick
from gateway.rules.outcomes import Outcome


class OfflineState(State):
    """Exists only while the device is offline."""

    __slots__ = ("alarmed", "last_seen")

    def __init__(self, last_seen: float, alarmed: bool = False) -> None:
        self.last_seen = last_seen  # the last message before the silence
        self.alarmed = alarmed  # a per-device Alarm was raised (so recovery emits a Clear)

    def dump(self) -> Any:
        return [self.last_seen, self.alarmed]

    @classmethod
    def load(cls, data: Any) -> Self:
        return cls(*data)


class OfflineWatcher(Protocol):
    """A grid-level rule (storm control) that may hold back per-device offline alarms."""

    late_heartbeats: float
    rule_id: str

    def suppresses(self, ctx: Context, grid: str) -> bool: ...


class InactivityRule(DeviceRule):
    state_type = OfflineState
    ticks = True

    def __init__(self, meta: RuleMeta, heartbeat_s: float, missed: int) -> None:
        super().__init__(meta)
        self.missed = missed
        self.heartbeat_s = heartbeat_s
        self.limit_s = heartbeat_s * missed
        self.watcher: OfflineWatcher | None = None
        self.late_s = self.limit_s

    def watch(self, watcher: OfflineWatcher) -> None:
        self.watcher = watcher
        self.late_s = self.heartbeat_s * watcher.late_heartbeats

    def on_reading(
        self,
        ctx: Context,
        reading: Reading,
        device: Device,
        states: Mapping[str, State] | None,
        t: float,
        out: list[Outcome],
    ) -> None:
        st = states.get(self.meta.id) if states is not None else None
        if isinstance(st, OfflineState) and t > st.last_seen:
            self._back(ctx, device, st, t, out)

    def on_tick(self, ctx: Context, tick: Tick, device: Device) -> None:
        last_seen = tick.topology.last_seen(device.id)
        if last_seen is None:
            return
        silent = tick.now - last_seen
        watcher = self.watcher
        st = ctx.state(device.id, self.meta.id)
        if isinstance(st, OfflineState) and last_seen > st.last_seen:
            self._back(ctx, device, st, last_seen, tick.out)
            st = None
        if watcher is not None and device.grid:
            alarmed = isinstance(st, OfflineState) and st.alarmed
            tick.count(
                watcher.rule_id, device.grid, device.id, silent > self.late_s and not alarmed
            )
        if st is None:
            if silent < self.limit_s:
                return
            st = OfflineState(last_seen)
            ctx.put(device.id, self.meta.id, st)
        if not isinstance(st, OfflineState) or st.alarmed:
            return
        if watcher is not None and device.grid and watcher.suppresses(ctx, device.grid):
            return  # part of a grid outage: that one alarm speaks for it
        self.raise_offline(ctx, device, st, tick.now, tick.out)

    def raise_offline(
        self, ctx: Context, device: Device, st: OfflineState, now: float, out: list[Outcome]
    ) -> None:
        st.alarmed = True
        ctx.touch(device.id)
        detail: Detail = {
            "last_seen": st.last_seen,
            "offline_after_s": self.limit_s,
            "missed_heartbeats": self.missed,
        }
        ctx.alarm(self.meta, device.id, device, now, detail, ctx.is_test(device.id, None), out)

    def _back(
        self, ctx: Context, device: Device, st: OfflineState, at: float, out: list[Outcome]
    ) -> None:
        if st.alarmed:
            detail: Detail = {"back_at": at, "silent_since": st.last_seen}
            ctx.clear(self.meta, device.id, at, detail, out)
        ctx.drop(device.id, self.meta.id)
