"""Time limits (办理时限) per kind and severity, and the deadlines they give an incident.

Defaults from DOMAIN.md: a fire is accepted within 60 s and someone is on site within 180 s
(微型消防站 "3 分钟到场"); urgent matters are handled — facts established and fed back — within
1 hour; ordinary matters within 3 working days, complex ones within 5 working days, counted on
the official calendar (:mod:`gateway.incidents.workdays`). Rules are tried in order; the first
that matches an incident's kind and severity sets its limits.

In YAML a limit is ``{seconds: 60}``, a bare number of seconds, or ``{working_days: 3}``::

    time_limits:
      rules:
        - {name: fire, kinds: [fire], accept: 60, on_site: 180, remind_every_s: 30}
        - {name: urgent, severities: [critical, major], handle: 3600, remind_every_s: 300}
"""

from __future__ import annotations

from functools import cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.incidents.model import Incident, Stage
from gateway.incidents.workdays import WorkdayCalendar, add_working_days
from gateway.rules.outcomes import IncidentKind, Severity


class Limit(BaseModel):
    """Seconds on the clock, or working days (工作日) on the calendar: exactly one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seconds: float | None = Field(default=None, gt=0)
    working_days: int | None = Field(default=None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _bare_seconds(cls, value: object) -> object:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return {"seconds": value}
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Limit:
        if (self.seconds is None) == (self.working_days is None):
            raise ValueError("give either seconds or working_days")
        return self

    def due(self, start: float, calendar: WorkdayCalendar, tz: ZoneInfo) -> float:
        if self.working_days is not None:
            return add_working_days(start, self.working_days, calendar, tz)
        assert self.seconds is not None
        return start + self.seconds


class TimeLimitRule(BaseModel):
    """Limits for the incidents whose kind and severity match (an empty list matches any)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kinds: frozenset[IncidentKind] = frozenset()
    severities: frozenset[Severity] = frozenset()
    accept: Limit | None = None  # 接单
    on_site: Limit | None = None  # 到场
    handle: Limit | None = None  # 处置反馈
    remind_every_s: float = Field(gt=0)  # after a breach, until someone acknowledges

    def matches(self, kind: IncidentKind, severity: Severity) -> bool:
        return (not self.kinds or kind in self.kinds) and (
            not self.severities or severity in self.severities
        )

    def limit(self, stage: Stage) -> Limit | None:
        if stage is Stage.ACCEPT:
            return self.accept
        if stage is Stage.ON_SITE:
            return self.on_site
        return self.handle if stage is Stage.HANDLE else None


DEFAULT_RULES = (
    TimeLimitRule(
        name="fire",
        kinds=frozenset({IncidentKind.FIRE}),
        accept=Limit(seconds=60),
        on_site=Limit(seconds=180),
        remind_every_s=30,
    ),
    TimeLimitRule(
        name="urgent",
        severities=frozenset({Severity.CRITICAL, Severity.MAJOR}),
        handle=Limit(seconds=3600),
        remind_every_s=300,
    ),
    # 复杂事项: rectifying a hazard found on patrol or a failing fire-water supply usually
    # needs the property owner or the water company, not just the grid worker.
    TimeLimitRule(
        name="complex",
        kinds=frozenset({IncidentKind.PATROL_HAZARD, IncidentKind.WATER_SUPPLY}),
        handle=Limit(working_days=5),
        remind_every_s=4 * 3600,
    ),
    TimeLimitRule(name="ordinary", handle=Limit(working_days=3), remind_every_s=4 * 3600),
)

_STAGES = (Stage.ACCEPT, Stage.ON_SITE, Stage.HANDLE)


class TimeLimits(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rules: tuple[TimeLimitRule, ...] = DEFAULT_RULES
    timezone: str = "Asia/Shanghai"  # working days are counted on local dates
    # Reminder interval after a manual escalation of an incident no rule covers.
    remind_every_s: float = Field(default=600, gt=0)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def rule_for(self, kind: IncidentKind, severity: Severity) -> TimeLimitRule | None:
        return next((r for r in self.rules if r.matches(kind, severity)), None)

    def remind_interval(self, incident: Incident) -> float:
        rule = self.rule_for(incident.kind, incident.severity)
        return rule.remind_every_s if rule else self.remind_every_s


def pending_stage(incident: Incident, rule: TimeLimitRule | None) -> Stage | None:
    """The first limited stage the incident has not reached yet (None: nothing to watch)."""
    if rule is None:
        return None
    reached = {
        Stage.ACCEPT: incident.accepted_at,
        Stage.ON_SITE: incident.on_site_at,
        Stage.HANDLE: incident.handled_at,
    }
    return next((s for s in _STAGES if reached[s] is None and rule.limit(s)), None)


def schedule(incident: Incident, limits: TimeLimits, calendar: WorkdayCalendar) -> None:
    """Set the deadline of the stage now pending when the stage changed; keep a running one.

    A stage's clock starts at ``opened_at``; an escalation restarts it for the new rung
    (see :mod:`gateway.incidents.escalation`), and that restarted deadline is kept here.
    """
    if incident.test or not incident.is_open:
        return
    rule = limits.rule_for(incident.kind, incident.severity)
    stage = pending_stage(incident, rule)
    if stage is incident.due_stage:
        return
    incident.due_stage = stage
    limit = None if rule is None or stage is None else rule.limit(stage)
    start = incident.opened_at
    incident.due_at = None if limit is None else limit.due(start, calendar, limits.zone)
