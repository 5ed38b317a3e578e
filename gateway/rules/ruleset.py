"""A rule file (``rules/*.yaml``) and the merged, validated rule set the engine compiles.

One file holds ``rules:`` and optionally ``defaults:`` (parameters no profile declares) and
``overrides: grids: {G-0301: {name: value}}`` (per-grid parameter values). All files of the
directory merge into one :class:`RuleSet`; a rule id is unique across them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Literal

import orjson
from pydantic import Field, model_validator

from gateway.profiles import Measurement
from gateway.rules.outcomes import IncidentKind, Severity
from gateway.rules.schedule_spec import PatrolSpec
from gateway.rules.spec import (
    CONDITION_KEYS,
    DEVICE_LEVEL_CONDITIONS,
    GROUP_CONDITIONS,
    CorrelateSpec,
    EventSpec,
    InactivitySpec,
    Param,
    ParamName,
    PredicateSpec,
    RateSpec,
    RepeatSpec,
    ScanDistanceSpec,
    StormSpec,
    Strict,
    ThresholdSpec,
    TravelSpec,
)

RuleId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=64)]
Notify = Literal["worker", "leader"]


class Title(Strict):
    """Both languages: the grid app shows Chinese, the platform log and officers' English."""

    zh: Annotated[str, Field(min_length=1)]
    en: Annotated[str, Field(min_length=1)]

    def text(self) -> str:
        return f"{self.zh} / {self.en}"


class AppliesTo(Strict):
    """Devices a rule watches: by ``measurement`` and/or ``profiles`` (both must match).

    Matched by measurement, a profile that lacks the rule's fields is skipped; a profile named
    in ``profiles`` must have them (an error otherwise).
    """

    measurement: tuple[Measurement, ...] | None = None
    profiles: tuple[str, ...] | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_or_many(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("measurement"), str):
            return {**data, "measurement": [data["measurement"]]}
        return data

    @model_validator(mode="after")
    def _something(self) -> AppliesTo:
        if self.measurement is None and self.profiles is None:
            raise ValueError("give 'measurement' and/or 'profiles'")
        return self


class Rule(Strict):
    """One rule: whom it watches, exactly one condition, and what the alarm says."""

    id: RuleId
    title: Title
    description: str = ""
    kind: IncidentKind
    severity: Severity
    applies_to: AppliesTo | None = None
    enabled: bool = True
    emit: bool = Field(
        default=True, description="false: a correlation input only (e.g. cable temp rising)"
    )
    clear: bool | None = Field(
        default=None, description="emit Clear on recovery; default yes, never for kind fire"
    )
    notify: Notify | None = Field(default=None, description="copied to Alarm.detail['notify']")
    detail_fields: tuple[str, ...] = Field(
        default=(), description="reading fields copied into Alarm.detail (e.g. worker_id, note)"
    )
    for_s: Param = Field(default=0.0, description="hold: the condition must last this long")

    threshold: ThresholdSpec | None = None
    event: EventSpec | None = None
    any_of: Annotated[tuple[PredicateSpec, ...], Field(min_length=1)] | None = None
    rate: RateSpec | None = None
    repeat: RepeatSpec | None = None
    inactivity: InactivitySpec | None = None
    patrol: PatrolSpec | None = None
    scan_distance: ScanDistanceSpec | None = None
    travel: TravelSpec | None = None
    correlate: CorrelateSpec | None = None
    storm: StormSpec | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        given = [k for k in CONDITION_KEYS if getattr(self, k) is not None]
        if len(given) != 1:
            keys = ", ".join(CONDITION_KEYS)
            found = ", ".join(given) or "none"
            raise ValueError(f"give exactly one condition ({keys}); found: {found}")
        condition = given[0]
        if condition in GROUP_CONDITIONS and self.applies_to is not None:
            raise ValueError(f"a {condition!r} rule works on other rules: drop 'applies_to'")
        if condition not in GROUP_CONDITIONS and self.applies_to is None:
            raise ValueError(f"a {condition!r} rule needs 'applies_to'")
        level = condition in DEVICE_LEVEL_CONDITIONS and condition != "repeat"
        if isinstance(self.for_s, float) and self.for_s < 0:
            raise ValueError("'for_s' must not be negative")
        if self.for_s != 0.0 and not level:
            raise ValueError(f"'for_s' applies to threshold/event/any_of/rate, not {condition!r}")
        if self.kind is IncidentKind.FIRE and self.clear:
            raise ValueError("a fire alarm is never cleared by the engine: a person verifies it")
        return self

    @property
    def condition(self) -> str:
        """The condition key given (``threshold``, ``event``, …)."""
        return next(k for k in CONDITION_KEYS if getattr(self, k) is not None)

    @property
    def clears(self) -> bool:
        if self.kind is IncidentKind.FIRE:
            return False
        return True if self.clear is None else self.clear

    def fingerprint(self) -> str:
        """Hash of what decides the rule's state (condition and hold), not of its wording.

        On reload a rule keeps its running timers and held alarms when this is unchanged.
        """
        spec = self.model_dump(mode="json", include={self.condition, "for_s"})
        return hashlib.sha256(orjson.dumps(spec, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


class Overrides(Strict):
    grids: dict[str, dict[ParamName, float]] = Field(default_factory=dict)


class RuleFile(Strict):
    description: str = ""
    defaults: dict[ParamName, float] = Field(default_factory=dict)
    overrides: Overrides = Field(default_factory=Overrides)
    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> RuleFile:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} appears twice in this file")
            seen.add(rule.id)
        return self


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Every rule file of a directory, merged and validated; what the engine compiles.

    ``sources`` names the file and line of each rule, for errors found when compiling against
    the device profiles.
    """

    rules: tuple[Rule, ...]
    defaults: Mapping[str, float]
    grid_overrides: Mapping[str, Mapping[str, float]]
    sources: Mapping[str, str]
