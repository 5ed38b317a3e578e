"""What the rules engine says: the one-way contract between the engine and the incident service.

The engine is pure (reading + state + clock → outcomes). It never opens, dedupes or dispatches
an incident itself; the incident service turns these value objects into lifecycle transitions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Severity(StrEnum):
    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    WARNING = "warning"


class IncidentKind(StrEnum):
    FIRE = "fire"
    ELECTRICAL_HAZARD = "electrical_hazard"
    WATER_SUPPLY = "water_supply"
    DEVICE_FAULT = "device_fault"
    LOW_BATTERY = "low_battery"
    TAMPER = "tamper"
    OFFLINE = "offline"
    PATROL_OVERDUE = "patrol_overdue"
    PATROL_HAZARD = "patrol_hazard"
    SUSPICIOUS_SCAN = "suspicious_scan"
    GRID_OUTAGE = "grid_outage"


@dataclass(frozen=True, slots=True)
class Alarm:
    """A condition holds. The incident key is ``(subject, rule_id)``: one open incident each.

    ``subject`` is the device id for per-device rules, ``building:<grid>/<building>`` for
    building correlation, ``grid:<code>`` for grid-wide conditions (storm control).
    ``device_id`` is the device whose location the dispatch uses.
    """

    rule_id: str
    subject: str
    device_id: str
    kind: IncidentKind
    severity: Severity
    title: str
    at: float
    detail: Mapping[str, object] = field(default_factory=dict)
    test: bool = False
    supersedes: tuple[str, ...] = ()  # rule ids of incidents on the same subject this replaces


@dataclass(frozen=True, slots=True)
class Clear:
    """The condition has recovered (past the hysteresis level); non-fire incidents auto-close."""

    rule_id: str
    subject: str
    at: float
    detail: Mapping[str, object] = field(default_factory=dict)


Outcome = Alarm | Clear
