"""Building correlation: two smoke detectors in one building within 2 minutes are a fire.

DOMAIN.md: multi-detector correlation is the strongest confirmation signal a gateway has. State
is keyed ``building:<grid>/<building>`` and fed by the alarms of the watched per-device rule
(and of the ``boost`` rule, e.g. an electrical monitor's cable temperature rising in the same
building). Test alarms never feed it: commissioning two detectors is not a fire.

Confidence in ``Alarm.detail["confidence"]``: ``medium`` — one detector plus a boost signal
(added to that detector's own alarm); ``high`` — ``min_devices`` detectors (the building
alarm); ``very_high`` — detectors plus a boost signal.
"""

from __future__ import annotations

from typing import Any, Self

from gateway.model import Device
from gateway.rules.base import Context, Detail, RuleMeta, State
from gateway.rules.outcomes import Alarm, Outcome
from gateway.rules.spec import CorrelateSpec


class BuildingState(State):
    __slots__ = ("boosts", "confirmed_at", "last_at", "members", "starts")

    def __init__(self) -> None:
        self.starts: dict[str, float] = {}  # device → its latest alarm start in the window
        self.boosts: dict[str, float] = {}  # boost device → its latest signal
        self.confirmed_at: float | None = None
        self.members: list[str] = []  # devices named by the building alarm, first first
        self.last_at = 0.0  # the latest member joining

    def dump(self) -> Any:
        starts, boosts, members = dict(self.starts), dict(self.boosts), list(self.members)
        return [starts, boosts, self.confirmed_at, members, self.last_at]

    @classmethod
    def load(cls, data: Any) -> Self:
        st = cls()
        starts, boosts, st.confirmed_at, members, st.last_at = data
        st.starts, st.boosts, st.members = dict(starts), dict(boosts), list(members)
        return st


class CorrelationRule:
    def __init__(self, meta: RuleMeta, spec: CorrelateSpec) -> None:
        self.meta = meta
        self.spec = spec
        self.watched = spec.rule
        self.boost = spec.boost

    def observe(
        self,
        ctx: Context,
        rule_id: str,
        device: Device,
        at: float,
        alarm: Alarm | None,
        extra: list[Outcome],
    ) -> Alarm | None:
        """An alarm of a rule this one watches; returns it, annotated when corroborated."""
        building = device.building
        if not building:
            return alarm
        key = f"building:{device.grid}/{building}"
        group = ctx.group(self.meta.id)
        st = group.get(key)
        if not isinstance(st, BuildingState):
            st = group[key] = BuildingState()
        ctx.touch_group(key)
        if self.boost is not None and rule_id == self.boost.rule:
            boosted_before = bool(self._boosts(st, at))
            st.boosts[device.id] = at
            if st.confirmed_at is not None and not boosted_before:
                self._raise(ctx, key, device, at, st, extra)
            return alarm
        if st.confirmed_at is not None and at - st.last_at > self.spec.hold_s:
            st.confirmed_at, st.members = None, []
        cutoff = at - self.spec.within_s
        st.starts = {d: s for d, s in st.starts.items() if s >= cutoff}
        st.starts[device.id] = at
        if st.confirmed_at is None and len(st.starts) >= self.spec.min_devices:
            st.confirmed_at, st.last_at = at, at
            st.members = sorted(st.starts, key=st.starts.__getitem__)
            self._raise(ctx, key, device, at, st, extra)
        elif st.confirmed_at is not None and device.id not in st.members:
            st.members.append(device.id)
            st.last_at = at
            self._raise(ctx, key, device, at, st, extra)
        elif alarm is not None and st.confirmed_at is None and (boosts := self._boosts(st, at)):
            detail = {**alarm.detail, "confidence": "medium", "corroborated_by": boosts}
            return Alarm(
                alarm.rule_id,
                alarm.subject,
                alarm.device_id,
                alarm.kind,
                alarm.severity,
                alarm.title,
                alarm.at,
                detail,
                alarm.test,
                alarm.supersedes,
            )
        return alarm

    def _boosts(self, st: BuildingState, at: float) -> list[str]:
        if self.boost is None:
            return []
        cutoff = at - self.boost.within_s
        st.boosts = {d: s for d, s in st.boosts.items() if s >= cutoff}
        return sorted(st.boosts)

    def _raise(
        self,
        ctx: Context,
        key: str,
        device: Device,
        at: float,
        st: BuildingState,
        extra: list[Outcome],
    ) -> None:
        boosts = self._boosts(st, at)
        assert st.confirmed_at is not None
        detail: Detail = {
            "confirmed": True,
            "confidence": "very_high" if boosts else "high",
            "devices": list(st.members),
            "first_at": st.starts.get(st.members[0], st.confirmed_at),
            "within_s": self.spec.within_s,
            "grid": device.grid,
            "building": device.building,
        }
        if boosts:
            detail["corroborated_by"] = boosts
        ctx.alarm(
            self.meta,
            key,
            device,
            at,
            detail,
            False,
            extra,
            device_id=st.members[0],
            supersedes=(self.watched,),
        )
