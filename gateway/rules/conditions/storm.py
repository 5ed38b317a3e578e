"""Storm control: a grid losing power or its network is one ``grid_outage``, not N offlines.

A power cut is only noticed as each device misses its heartbeat, so offline alarms would
trickle in over a whole heartbeat period (hours for a smoke detector). Instead, every tick
counts per grid the devices that have reported before and are now *late* — silent for over
``late_heartbeats`` × their own heartbeat (1.5 by default: sooner than the 2 missed heartbeats
that make a device offline), not counting devices already alarmed individually. A healthy
device is never late, so this counts only devices that fell silent together. When more than
``share`` of the grid (and at least ``min_devices``) is late, one alarm with subject
``grid:<code>`` is raised and the grid's per-device offline alarms are held back while it
lasts. It clears when at most ``clear_share`` is still late; devices still offline then get
their own alarms (they are individual problems). State is keyed ``grid:<code>``.
"""

from __future__ import annotations

from typing import Any, Self

from gateway.rules.base import Context, Detail, GridCount, RuleMeta, State, Tick
from gateway.rules.spec import StormSpec

MAX_LISTED = 200  # device ids named in one alarm's detail


class OutageState(State):
    __slots__ = ("since",)

    def __init__(self, since: float) -> None:
        self.since = since

    def dump(self) -> Any:
        return self.since

    @classmethod
    def load(cls, data: Any) -> Self:
        return cls(float(data))


class StormRule:
    def __init__(self, meta: RuleMeta, spec: StormSpec) -> None:
        self.meta = meta
        self.spec = spec
        self.rule_id = meta.id
        self.late_heartbeats = spec.late_heartbeats

    def suppresses(self, ctx: Context, grid: str) -> bool:
        return ("grid:" + grid) in ctx.group(self.meta.id)

    def on_tick(self, ctx: Context, tick: Tick) -> None:
        counts = tick.grids.get(self.rule_id, {})
        held = ctx.group(self.meta.id)
        for key in list(held):
            # A grid with no reporting device left has nothing to be out about.
            now_count = counts.get(key.removeprefix("grid:"), GridCount())
            if len(now_count.late) <= self.spec.clear_at * now_count.seen:
                self._clear(ctx, tick, key, now_count)
        for grid, count in counts.items():
            key = "grid:" + grid
            if key not in held:
                self._maybe_raise(ctx, tick, key, grid, count)

    def _maybe_raise(self, ctx: Context, tick: Tick, key: str, grid: str, count: GridCount) -> None:
        late, spec = len(count.late), self.spec
        if late < spec.min_devices or late <= spec.share * count.seen:
            return
        first = next(filter(None, map(tick.topology.device, count.late)), None)
        if first is None:
            return
        ctx.group(self.meta.id)[key] = OutageState(tick.now)
        ctx.touch_group(key)
        detail: Detail = {
            "grid": grid,
            "late": late,
            "seen": count.seen,
            "share": round(late / count.seen, 3),
            "late_heartbeats": spec.late_heartbeats,
            "devices": sorted(count.late)[:MAX_LISTED],
        }
        ctx.alarm(self.meta, key, first, tick.now, detail, False, tick.out)

    def _clear(self, ctx: Context, tick: Tick, key: str, count: GridCount) -> None:
        held = ctx.group(self.meta.id)
        outage = held.pop(key)
        ctx.touch_group(key)
        detail: Detail = {"late": len(count.late), "seen": count.seen}
        if isinstance(outage, OutageState):
            detail["since"] = outage.since
        ctx.clear(self.meta, key, tick.now, detail, tick.out)
