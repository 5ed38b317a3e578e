"""Grid incidents and their closed loop (发现上报 → 分拨派遣 → 处置反馈 → 任务核查 → 归档).

``reported → dispatched → accepted → on_site → handled → verified → closed``, with
``escalated`` as a side state on a time-limit breach (it returns to the main line when the
next responsible person acts). One open incident per (subject, rule): a repeat updates
``count`` and ``last_seen`` instead of opening another.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

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
    OTHER = "other"


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

    @property
    def is_open(self) -> bool:
        return self.status is not Status.CLOSED
