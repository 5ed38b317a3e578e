"""What every codec returns, and the field checks all codecs share."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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


@dataclass(slots=True)
class Decoded:
    """A codec's output, before the device is resolved and a Reading is made."""

    fields: dict[str, FieldValue]
    ts: float
    seq: int | None = None
    device_key: str | None = None
    problems: list[Problem] = field(default_factory=list)


class DecodeError(Exception):
    """The whole payload is unreadable (e.g. malformed JSON, a frame of the wrong length)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.problem = Problem(reason, detail)


Checker = Callable[[str, Any, dict[str, FieldValue], list[Problem]], None]


def _number(name: str, spec: FieldSpec, value: Any, problems: list[Problem]) -> float | None:
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


def check_fields(
    raw: Mapping[str, Any], specs: Mapping[str, FieldSpec], problems: list[Problem]
) -> dict[str, FieldValue]:
    """Check every declared field present in ``raw``; undeclared keys are ignored."""
    out: dict[str, FieldValue] = {}
    for name, value in raw.items():
        spec = specs.get(name)
        if spec is not None:
            check_field(name, spec, value, out, problems)
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
