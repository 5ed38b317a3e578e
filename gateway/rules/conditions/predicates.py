"""Per-reading truths: threshold (with hysteresis), event flag, any-of, and rate of change.

A predicate answers True / False for a reading, or None when the reading carries none of its
fields (a partial message says nothing about them: the last value holds). ``was_on`` is the
condition's current state, which picks the trip level or the clear level (hysteresis 回差).
Field names are resolved against the profile when compiling: a channel pattern such as
``cable_temp_c_*`` is already the tuple ``cable_temp_c_1 … cable_temp_c_4`` here.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self

from gateway.model import Device, FieldValue, nan_for_none, none_for_nan
from gateway.rules.base import Detail, State
from gateway.rules.params import Param

Fields = Mapping[str, FieldValue]
NUMBER = (int, float)  # a prebuilt tuple: `int | float` inline costs a union per call


class LevelState(State):
    """A condition that holds or not: since when, whether it has fired, and a rate reference."""

    __slots__ = (
        "_ref_t",
        "detail",
        "due_at",
        "fired",
        "on",
        "rate",
        "ref_v",
        "since",
        "test",
        "ts",
    )

    def __init__(self) -> None:
        self.on = False
        self.since = 0.0
        self.fired = False
        self.ts = 0.0  # event time of the latest reading judged: older readings are ignored
        self.due_at: float | None = None  # hold timer while on and not yet fired
        self.test = False
        self.detail: Detail | None = None  # the values that started the breach (for a timer)
        self._ref_t = math.nan  # rate: the reference sample (see gateway.model.nan_for_none)
        self.ref_v = 0.0
        self.rate = 0.0

    def dump(self) -> Any:
        return [
            self.on,
            self.since,
            self.fired,
            self.ts,
            self.due_at,
            self.test,
            None if self.detail is None else dict(self.detail),
            self.ref_t,
            self.ref_v,
            self.rate,
        ]

    @classmethod
    def load(cls, data: Any) -> Self:
        st = cls()
        (st.on, st.since, st.fired, st.ts, st.due_at, st.test) = data[:6]
        (st.detail, st.ref_t, st.ref_v, st.rate) = data[6:]
        return st

    @property
    def ref_t(self) -> float | None:
        return none_for_nan(self._ref_t)

    @ref_t.setter
    def ref_t(self, value: float | None) -> None:
        self._ref_t = nan_for_none(value)

    def due(self) -> float | None:
        return self.due_at


class Predicate(ABC):
    keeps_state: ClassVar[bool] = False  # needs its state even while false (rate reference)

    @abstractmethod
    def truth(
        self, fields: Fields, device: Device, was_on: bool, st: LevelState | None, t: float
    ) -> bool | None: ...

    @abstractmethod
    def describe(self, fields: Fields, device: Device, st: LevelState | None) -> Detail:
        """The values behind the verdict, for ``Alarm.detail`` (only built when emitting)."""


class Threshold(Predicate):
    def __init__(
        self,
        names: tuple[str, ...],
        above: bool,
        level: Param,
        clear: Param | None,
        hysteresis: Param | None,
    ) -> None:
        self.names = names
        self.above = above
        self.level = level
        self.clear = clear
        self.hysteresis = hysteresis

    def limit(self, device: Device, was_on: bool) -> float:
        level = self.level.value(device)
        if not was_on:
            return level
        if self.clear is not None:
            clear = self.clear.value(device)
            # A clear level on the wrong side of an overridden alarm level would flap: clamp it.
            return min(clear, level) if self.above else max(clear, level)
        if self.hysteresis is not None:
            band = abs(self.hysteresis.value(device))
            return level - band if self.above else level + band
        return level

    def truth(
        self, fields: Fields, device: Device, was_on: bool, st: LevelState | None, t: float
    ) -> bool | None:
        limit: float | None = None
        for name in self.names:
            value = fields.get(name)
            if not isinstance(value, NUMBER):
                continue
            if limit is None:
                limit = self.limit(device, was_on)
            if self.above:
                if value >= limit if was_on else value > limit:
                    return True
            elif value <= limit if was_on else value < limit:
                return True
        return None if limit is None else False

    def describe(self, fields: Fields, device: Device, st: LevelState | None) -> Detail:
        present = [(n, v) for n in self.names if isinstance(v := fields.get(n), NUMBER)]
        name, value = (max if self.above else min)(present, key=lambda item: item[1])
        return {
            "field": name,
            "value": value,
            "threshold": self.level.value(device),
            "clear_level": self.limit(device, was_on=True),
        }


class Event(Predicate):
    def __init__(self, names: tuple[str, ...], equals: bool | str) -> None:
        self.names = names
        self.equals = equals

    def truth(
        self, fields: Fields, device: Device, was_on: bool, st: LevelState | None, t: float
    ) -> bool | None:
        seen = False
        for name in self.names:
            value = fields.get(name)
            if value is None:
                continue
            if value == self.equals:
                return True
            seen = True
        return False if seen else None

    def describe(self, fields: Fields, device: Device, st: LevelState | None) -> Detail:
        name = next((n for n in self.names if fields.get(n) == self.equals), self.names[0])
        return {"field": name, "value": fields.get(name)}


class AnyOf(Predicate):
    """True when any term is; None only when no term has its fields in the reading."""

    def __init__(self, terms: Sequence[Predicate]) -> None:
        self.terms = tuple(terms)

    def truth(
        self, fields: Fields, device: Device, was_on: bool, st: LevelState | None, t: float
    ) -> bool | None:
        verdict: bool | None = None
        for term in self.terms:
            answer = term.truth(fields, device, was_on, st, t)
            if answer:
                return True
            if answer is False:
                verdict = False
        return verdict

    def describe(self, fields: Fields, device: Device, st: LevelState | None) -> Detail:
        for term in self.terms:
            if term.truth(fields, device, True, st, 0.0):
                return term.describe(fields, device, st)
        return {}


class Rate(Predicate):
    """Slope between the reference sample and this reading, per ``per_s`` seconds."""

    keeps_state = True

    def __init__(
        self,
        names: tuple[str, ...],
        rising: bool,
        limit: Param,
        per_s: float,
        min_interval_s: float,
        hysteresis: Param | None,
    ) -> None:
        self.names = names
        self.rising = rising
        self.limit = limit
        self.per_s = per_s
        self.min_interval_s = min_interval_s
        self.hysteresis = hysteresis

    def _value(self, fields: Fields) -> float | None:
        chosen: float | None = None
        for name in self.names:
            value = fields.get(name)
            if not isinstance(value, NUMBER):
                continue
            if chosen is None or (value > chosen if self.rising else value < chosen):
                chosen = float(value)
        return chosen

    def truth(
        self, fields: Fields, device: Device, was_on: bool, st: LevelState | None, t: float
    ) -> bool | None:
        value = self._value(fields)
        if value is None or st is None:
            return None
        if st.ref_t is None:
            st.ref_t, st.ref_v = t, value
            return None
        elapsed = t - st.ref_t
        if elapsed <= 0 or elapsed < self.min_interval_s:
            return None
        st.rate = (value - st.ref_v) / elapsed * self.per_s
        st.ref_t, st.ref_v = t, value
        limit = self.limit.value(device)
        if was_on and self.hysteresis is not None:
            limit -= abs(self.hysteresis.value(device))
        return st.rate > limit if self.rising else -st.rate > limit

    def describe(self, fields: Fields, device: Device, st: LevelState | None) -> Detail:
        return {
            "field": self.names[0] if len(self.names) == 1 else list(self.names),
            "value": self._value(fields),
            "rate": 0.0 if st is None else round(st.rate, 6),
            "per_s": self.per_s,
            "limit": self.limit.value(device),
        }
