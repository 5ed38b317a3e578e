"""Grid incidents and their closed loop (发现上报 → 分拨派遣 → 处置反馈 → 任务核查 → 归档).

``reported → dispatched → accepted → on_site → handled → verified → closed``, with
``escalated`` as a side state on a time-limit breach (it returns to the main line when the
next responsible person acts). One open incident per (subject, rule): a repeat updates
``count`` and ``last_seen`` instead of opening another.

Times are epoch seconds everywhere inside; views turn them into RFC 3339.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from gateway.model import Location
from gateway.rules.outcomes import IncidentKind, Severity


class Status(StrEnum):
    REPORTED = "reported"  # 发现上报
    DISPATCHED = "dispatched"  # 分拨派遣
    ACCEPTED = "accepted"  # 接单
    ON_SITE = "on_site"  # 到场
    HANDLED = "handled"  # 处置反馈
    VERIFIED = "verified"  # 任务核查
    CLOSED = "closed"  # 事件归档
    ESCALATED = "escalated"  # 超时上报 (side state)


OPEN_STATUSES = frozenset(Status) - {Status.CLOSED}

# The main line in order; ``escalated`` is not on it.
MAIN_LINE = (
    Status.REPORTED,
    Status.DISPATCHED,
    Status.ACCEPTED,
    Status.ON_SITE,
    Status.HANDLED,
    Status.VERIFIED,
    Status.CLOSED,
)


class Action(StrEnum):
    """What a person (or the grid platform) does to an incident through the REST API."""

    ACK = "ack"
    ARRIVE = "arrive"
    HANDLE = "handle"
    VERIFY = "verify"
    CLOSE = "close"
    ESCALATE = "escalate"


class Outcome(StrEnum):
    """How an incident ended (处置结果); drives the false-alarm statistics."""

    FIRE = "fire"
    FALSE_ALARM = "false_alarm"
    FAULT = "fault"
    HAZARD_FIXED = "hazard_fixed"
    TEST = "test"
    RECOVERED = "recovered"  # closed automatically: the value came back (clear rule)
    SUPERSEDED = "superseded"  # absorbed into a confirmed-fire building incident (并案)
    OTHER = "other"


class Stage(StrEnum):
    """A step the time limits (时限) watch: each ends when its timestamp is set."""

    ACCEPT = "accept"
    ON_SITE = "on_site"
    HANDLE = "handle"
    EXPIRE = "expire"  # a test incident closes itself after a while


Key = tuple[str, str]  # (subject, rule_id): at most one open incident each


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One recorded step: a transition, a dispatch, a reminder, an escalation, a repeat."""

    at: float
    event: str  # a Status value for transitions; "dispatch", "remind", "repeat", "note", …
    actor: str  # "system", a worker id, "platform:<ref>", …
    note: str = ""
    data: Mapping[str, object] = field(default_factory=dict)


@dataclass(slots=True)
class Incident:
    id: str
    rule_id: str
    subject: str
    device_id: str
    kind: IncidentKind
    severity: Severity
    title: str
    grid: str
    status: Status
    opened_at: float
    last_seen: float
    count: int = 1
    test: bool = False
    escalation_level: int = 0  # 0 grid worker, 1 grid leader, 2 community, 3 street, 4 centre
    outcome: Outcome | None = None
    platform_ref: str | None = None
    closed_at: float | None = None
    timeline: list[TimelineEntry] = field(default_factory=list)
    # -- where, and who answers for it (snapshots taken at open: a device may move later) --
    location: Location = field(default_factory=Location)
    community: str = ""
    street: str = ""
    detected_at: float | None = None  # the alarm's own time (device clock); opened_at is ours
    detail: Mapping[str, object] = field(default_factory=dict)
    worker_id: str | None = None  # the grid worker (网格员) dispatched at open: stats rank by it
    station_id: str | None = None  # the micro fire station (微型消防站) dispatched, if any
    distance_m: float | None = None
    installer: str | None = None  # test incidents go only to the installer
    # -- the closed loop --
    main_status: Status = Status.REPORTED  # equals status except while escalated
    accepted_at: float | None = None
    on_site_at: float | None = None
    handled_at: float | None = None
    verified_at: float | None = None
    # -- time limits (时限) and reminders: persisted so a restart resumes them --
    due_stage: Stage | None = None
    due_at: float | None = None
    breaches: list[str] = field(default_factory=list)  # stages missed, in order (考核评价)
    next_reminder_at: float | None = None
    reminders: int = 0  # reminders sent at the current escalation level
    last_repeat_note_at: float | None = None
    # -- correlation (并案) --
    supersedes: tuple[str, ...] = ()
    superseded_by: str | None = None
    absorbed: list[str] = field(default_factory=list)
    # -- outbox ordering: last per-incident numbers handed out --
    outbox_seq: int = 0  # every outbox message of this incident (delivery order)
    event_seq: int = 0  # lifecycle events only: the ``seq`` the platform sees, gap-free

    @property
    def is_open(self) -> bool:
        return self.status is not Status.CLOSED

    @property
    def key(self) -> Key:
        return (self.subject, self.rule_id)

    @property
    def wake_at(self) -> float | None:
        """When a timer of this incident next needs :meth:`IncidentService.tick`."""
        times = [t for t in (self.due_at, self.next_reminder_at) if t is not None]
        return min(times) if times and self.is_open else None

    def copy(self) -> Incident:
        """A working copy whose lists can change without touching this one."""
        return replace(
            self,
            timeline=list(self.timeline),
            breaches=list(self.breaches),
            absorbed=list(self.absorbed),
            detail=dict(self.detail),
        )


@dataclass(frozen=True, slots=True)
class Transition:
    """What one write did to one incident, as :meth:`IncidentService.apply` reports it.

    ``event`` is the new status for lifecycle transitions (``reported``, ``dispatched``,
    ``escalated``, ``closed``, …), or ``repeat`` / ``remind`` / ``cleared`` for the steps that
    leave the status alone. ``incident`` is a snapshot taken right after the step.
    """

    incident: Incident
    event: str
    at: float
    actor: str
