"""Grid incidents and their closed loop (发现上报 → 分拨派遣 → 处置反馈 → 任务核查 → 归档).

:class:`IncidentService` is the only writer; :class:`SqliteIncidentStore` keeps incidents,
timelines and the outbox the bridge drains. Modules: ``model`` (types), ``lifecycle``
(actions), ``intake`` (rule outcomes: dedupe, absorb, clear), ``dispatch``/``assign``
(targeting), ``timelimits``/``escalation``/``workdays`` (时限 and the ladder), ``outbox``,
``store``, ``views`` (the JSON the API, MQTT and the platform see).
"""

from gateway.incidents.config import IncidentConfig, load_incident_config
from gateway.incidents.dispatch import DispatchConfig, Recipient, Role, Topology
from gateway.incidents.errors import IncidentError, IncidentNotFoundError, InvalidTransitionError
from gateway.incidents.model import (
    Action,
    Incident,
    Outcome,
    Stage,
    Status,
    TimelineEntry,
    Transition,
)
from gateway.incidents.outbox import (
    DEFAULT_CHANNELS,
    MessageType,
    OutboxMessage,
    OutboxReader,
    OutboxRow,
)
from gateway.incidents.repository import IncidentQuery, IncidentStore
from gateway.incidents.service import IncidentService
from gateway.incidents.store import SqliteIncidentStore
from gateway.incidents.timelimits import Limit, TimeLimitRule, TimeLimits
from gateway.incidents.views import dispatch_payload, event_payload, incident_view, rfc3339
from gateway.incidents.workdays import (
    ChineseWorkdays,
    WeekdayCalendar,
    WorkdayCalendar,
    add_working_days,
)

__all__ = [
    "DEFAULT_CHANNELS",
    "Action",
    "ChineseWorkdays",
    "DispatchConfig",
    "Incident",
    "IncidentConfig",
    "IncidentError",
    "IncidentNotFoundError",
    "IncidentQuery",
    "IncidentService",
    "IncidentStore",
    "InvalidTransitionError",
    "Limit",
    "MessageType",
    "OutboxMessage",
    "OutboxReader",
    "OutboxRow",
    "Outcome",
    "Recipient",
    "Role",
    "SqliteIncidentStore",
    "Stage",
    "Status",
    "TimeLimitRule",
    "TimeLimits",
    "TimelineEntry",
    "Topology",
    "Transition",
    "WeekdayCalendar",
    "WorkdayCalendar",
    "add_working_days",
    "dispatch_payload",
    "event_payload",
    "incident_view",
    "load_incident_config",
    "rfc3339",
]
