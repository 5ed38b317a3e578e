"""What every codec returns, and the field checks all codecs share."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.model import FieldValue
from gateway.profiles import FieldSpec

# Earliest believable device time; NB-IoT units with an unsynced RTC report 1970 or 2000.
EARLIEST_TS = 1577836800.0  # 2020-01-01T00:00:00Z
MAX_FUTURE_S = 300.0


@dataclass(frozen=True, slots=True)
class Problem:
    """Why (part of) a message was refused. ``reason`` is a metric label; keep the set small."""

    reason: str
    detail: str


class Decoded:
    """A codec's output, before the device is resolved and a Reading is made.

    A plain class, not a dataclass: compiled, a dataclass keeps the ``__init__`` the
    dataclasses module writes in Python, an interpreted call on every message."""

    __slots__ = ("device_key", "fields", "problems", "seq", "ts")

    def __init__(
        self,
        fields: dict[str, FieldValue],
        ts: float,
        seq: int | None = None,
        device_key: str | None = None,
        problems: list[Problem] | None = None,
    ) -> None:
        self.fields = fields
        self.ts = ts
        self.seq = seq
        self.device_key = device_key
        self.problems: list[Problem] = [] if problems is None else problems

    def __repr__(self) -> str:
        return (
            f"Decoded(fields={self.fields!r}, ts={self.ts!r}, seq={self.seq!r}, "
            f"device_key={self.device_key!r}, problems={self.problems!r})"
        )


class DecodeError(Exception):
    """The whole payload is unreadable (e.g. malformed JSON, a frame of the wrong length)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.problem = Problem(reason, detail)


Checker = Callable[[str, Any, dict[str, FieldValue], list[Problem]], None]


def _number(name: str, spec: FieldSpec, value: Any, problems: list[Problem]) -> int | float | None:
    # int | float, not float: compiled, a float result would turn a large int into the
    # nearest double (2**53 + 1 → 2**53) before an int field keeps it.
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.append(Problem("wrong_type", f"{name}: expected a number, got {value!r:.40}"))
        return None
    if isinstance(value, float) and not math.isfinite(value):
        problems.append(Problem("wrong_type", f"{name}: {value} is not a finite number"))
        return None
    if (spec.min is not None and value < spec.min) or (spec.max is not None and value > spec.max):
        problems.append(
            Problem("out_of_range", f"{name}: {value} outside [{spec.min}, {spec.max}] {spec.unit}")
        )
        return None
    return value


def _scalar(name: str, spec: FieldSpec, value: Any, problems: list[Problem]) -> FieldValue | None:
    if spec.type == "bool":
        if isinstance(value, bool):
            return value
        if value in (0, 1) and isinstance(value, int):  # firmware often sends 0/1 for flags
            return bool(value)
        problems.append(Problem("wrong_type", f"{name}: expected true/false, got {value!r:.40}"))
        return None
    if spec.type == "str":
        if not isinstance(value, str):
            problems.append(Problem("wrong_type", f"{name}: expected text, got {value!r:.40}"))
            return None
        if spec.enum is not None and value not in spec.enum:
            problems.append(Problem("bad_enum", f"{name}: {value!r:.40} not one of {spec.enum}"))
            return None
        return value
    number = _number(name, spec, value, problems)
    if number is None:
        return None
    if spec.type == "int":
        if number != int(number):
            problems.append(Problem("wrong_type", f"{name}: expected a whole number, got {number}"))
            return None
        return int(number)
    return float(number)


def check_field(
    name: str, spec: FieldSpec, value: Any, out: dict[str, FieldValue], problems: list[Problem]
) -> None:
    """Validate one raw value against its spec; put what is valid into ``out``."""
    if value is None:
        return
    if spec.channels is None:
        checked = _scalar(name, spec, value, problems)
        if checked is not None:
            out[name] = checked
        return
    if not isinstance(value, list) or len(value) > spec.channels:
        problems.append(
            Problem("wrong_type", f"{name}: expected a list of up to {spec.channels} values")
        )
        return
    for i, item in enumerate(value, start=1):
        if item is not None:
            checked = _scalar(f"{name}_{i}", spec, item, problems)
            if checked is not None:
                out[f"{name}_{i}"] = checked


_FLOAT_MAX = sys.float_info.max


class FieldCheck:
    """:func:`check_field` for one declared field, made once per profile: a plainly valid
    scalar is answered by :meth:`accepts` in a couple of comparisons, anything else goes to the
    full check (which names the problem). Classes, not closures: compiled, a method is called
    directly, where a closure is a Python call."""

    def __init__(self, name: str, spec: FieldSpec) -> None:
        self.name = name
        self.spec = spec

    def accepts(self, value: Any) -> FieldValue | None:
        """The value when it is plainly valid; None when it needs the full check."""
        return None

    def run(self, value: Any, out: dict[str, FieldValue], problems: list[Problem]) -> None:
        accepted = self.accepts(value)
        if accepted is None:
            check_field(self.name, self.spec, value, out, problems)
        else:
            out[self.name] = accepted

    def __call__(self, value: Any, out: dict[str, FieldValue], problems: list[Problem]) -> None:
        self.run(value, out, problems)


class _BoolCheck(FieldCheck):
    def accepts(self, value: Any) -> FieldValue | None:
        return value if value is True or value is False else None


class _TextCheck(FieldCheck):
    def accepts(self, value: Any) -> FieldValue | None:
        return value if type(value) is str else None


class _TagCheck(FieldCheck):
    """A tag such as a patrol's worker_id: one shared string per value, not one per device's
    latest reading."""

    def accepts(self, value: Any) -> FieldValue | None:
        return sys.intern(value) if type(value) is str else None


class _EnumCheck(FieldCheck):
    """An enum's values come back as one shared string each."""

    def __init__(self, name: str, spec: FieldSpec, enum: Sequence[str]) -> None:
        super().__init__(name, spec)
        self.canonical = {sys.intern(e): sys.intern(e) for e in enum}

    def accepts(self, value: Any) -> FieldValue | None:
        return self.canonical.get(value) if type(value) is str else None


class _NumberCheck(FieldCheck):
    """Bounds that refuse NaN and ±inf too, as _number does; bool is not int here (type() is)."""

    def __init__(self, name: str, spec: FieldSpec) -> None:
        super().__init__(name, spec)
        self.lo: float = -_FLOAT_MAX if spec.min is None else spec.min
        self.hi: float = _FLOAT_MAX if spec.max is None else spec.max


class _IntCheck(_NumberCheck):
    def accepts(self, value: Any) -> FieldValue | None:
        if type(value) is int and self.lo <= value <= self.hi:
            return value
        return None


class _FloatCheck(_NumberCheck):
    def accepts(self, value: Any) -> FieldValue | None:
        if (type(value) is float or type(value) is int) and self.lo <= value <= self.hi:
            return float(value)
        return None


class _ChannelsCheck(FieldCheck):
    """A channel list (``cable_temp_c: [31.2, 30.8]`` → ``cable_temp_c_1``, ``_2``)."""

    def __init__(self, name: str, spec: FieldSpec, scalar: FieldCheck) -> None:
        super().__init__(name, spec)
        self.scalar = scalar
        self.channels = spec.channels or 0
        self.names = [f"{name}_{i}" for i in range(1, self.channels + 1)]

    def run(self, value: Any, out: dict[str, FieldValue], problems: list[Problem]) -> None:
        if type(value) is not list or len(value) > self.channels:
            check_field(self.name, self.spec, value, out, problems)
            return
        for channel, item in zip(self.names, value, strict=False):
            if item is not None:
                accepted = self.scalar.accepts(item)
                if accepted is None:
                    accepted = _scalar(channel, self.spec, item, problems)
                if accepted is not None:
                    out[channel] = accepted


def _scalar_check(name: str, spec: FieldSpec) -> FieldCheck:
    if spec.type == "bool":
        return _BoolCheck(name, spec)
    if spec.type == "str":
        if spec.enum is not None:
            return _EnumCheck(name, spec, spec.enum)
        return _TagCheck(name, spec) if spec.tag else _TextCheck(name, spec)
    if spec.type == "int":
        return _IntCheck(name, spec)
    return _FloatCheck(name, spec)


def field_check(name: str, spec: FieldSpec) -> FieldCheck:
    """The check of one declared field: a scalar's, or a channel list's."""
    scalar = _scalar_check(name, spec)
    return scalar if spec.channels is None else _ChannelsCheck(name, spec, scalar)


def field_checks(specs: Mapping[str, FieldSpec]) -> dict[str, FieldCheck]:
    return {name: field_check(name, spec) for name, spec in specs.items()}


def check_fields(
    raw: Mapping[str, Any], checks: dict[str, FieldCheck], problems: list[Problem]
) -> dict[str, FieldValue]:
    """Check every declared field present in ``raw``; undeclared keys are ignored."""
    out: dict[str, FieldValue] = {}
    for name, value in raw.items():
        check = checks.get(name)
        if check is not None:
            check.run(value, out, problems)
    return out


def parse_ts(value: Any, received_at: float, problems: list[Problem]) -> float:
    """Device time (epoch s or ms, or RFC 3339); the receive time when absent or unbelievable."""
    if value is None:
        return received_at
    ts: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        ts = value / 1000.0 if value > 1e11 else float(value)
    elif isinstance(value, str):
        try:
            ts = datetime.fromisoformat(value).timestamp()
        except ValueError:
            ts = None
    if ts is None:
        problems.append(Problem("bad_timestamp", f"ts: cannot read {value!r:.40}"))
        return received_at
    if ts < EARLIEST_TS or ts > received_at + MAX_FUTURE_S:
        problems.append(Problem("bad_timestamp", f"ts: {value!r:.40} is not believable"))
        return received_at
    return ts


def parse_seq(value: Any, problems: list[Problem]) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    problems.append(Problem("wrong_type", f"seq: expected a whole number >= 0, got {value!r:.40}"))
    return None
