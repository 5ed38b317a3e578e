"""How the simulated people answer a dispatch: how long each step takes, what they find on site,
and when a grid worker leaves an alarm unanswered so that its time limit escalates it.

Seeded and clock-free: the caller passes the time. Delays are the demo's fast time — seconds
where the field takes minutes (a fire is accepted within 60 s and reached within 3 minutes;
here within a few seconds) — multiplied by ``pace`` (0 in unit tests: no waiting at all).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from gateway.incidents.model import Action, Outcome
from gateway.rules.outcomes import IncidentKind

Span = tuple[float, float]  # seconds, drawn uniformly

# Fire first: its limits are a minute to accept and three to be on site.
FIRE_DELAYS: Mapping[Action, Span] = {
    Action.ACK: (1, 4),
    Action.ARRIVE: (3, 8),
    Action.HANDLE: (3, 6),
    Action.VERIFY: (2, 5),  # the officer's call-back (电话回访)
    Action.CLOSE: (1, 2),
}
OTHER_DELAYS: Mapping[Action, Span] = {**FIRE_DELAYS, Action.ACK: (2, 8), Action.ARRIVE: (5, 12)}
# The fire accept limit is 60 s of real time (the demo cannot shorten it); leaving an alarm only
# when this much of the run is left lets the escalation, and the leader answering it, be seen.
ESCALATION_WAIT_S = 70.0
LEAVE_EVERY_S = 600.0  # at most one unanswered alarm per this long: the rest are answered
KITCHEN = "厨房"

HAZARD_NOTES: Mapping[IncidentKind, str] = {
    IncidentKind.ELECTRICAL_HAZARD: "紧固接线端子, 线缆降温 lug tightened, cable cooling down",
    IncidentKind.WATER_SUPPLY: "稳压泵复位, 阀门已开 jockey pump reset, valve reopened",
    IncidentKind.LOW_BATTERY: "更换电池 battery replaced",
    IncidentKind.PATROL_HAZARD: "隐患已整改 hazard put right",
}
FAULT_KINDS = frozenset(
    {
        IncidentKind.DEVICE_FAULT,
        IncidentKind.TAMPER,
        IncidentKind.OFFLINE,
        IncidentKind.GRID_OUTAGE,
    }
)


@dataclass(frozen=True, slots=True)
class Dispatch:
    """One message on ``grid/workers/{id}/alarms`` or ``grid/stations/{id}/alarms``."""

    recipient: str
    station: bool
    incident_id: str
    kind: str
    device_id: str
    escalation_level: int = 0
    test: bool = False
    reminder: int | None = None
    distance_m: float | None = None

    @classmethod
    def parse(cls, topic: str, payload: bytes) -> Dispatch | None:
        """None for a topic that is not a phone's, or a payload that is not a dispatch."""
        parts = topic.split("/")
        if len(parts) != 4 or parts[0] != "grid" or parts[1] not in ("workers", "stations"):
            return None
        try:
            body = orjson.loads(payload)
            return cls(
                recipient=parts[2],
                station=parts[1] == "stations",
                incident_id=str(body["incident_id"]),
                kind=str(body["kind"]),
                device_id=str(body.get("device_id", "")),
                escalation_level=int(body.get("escalation_level", 0)),
                test=bool(body.get("test", False)),
                reminder=body.get("reminder"),
                distance_m=body.get("distance_m"),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class Finding:
    """What the worker reports on handling (处置反馈)."""

    outcome: Outcome
    note: str


class ResponsePolicy:
    """Delays, findings and the odd unanswered alarm, from one seeded random source."""

    def __init__(
        self,
        seed: int = 2026,
        pace: float = 1.0,
        escalation_wait_s: float = ESCALATION_WAIT_S,
        leave_every_s: float = LEAVE_EVERY_S,
    ) -> None:
        self.pace = pace
        self.escalation_wait_s = escalation_wait_s
        self.leave_every_s = leave_every_s
        self._rng = random.Random(seed)
        self._fires_answered = 0
        self._last_left: float | None = None

    def delay(self, action: Action, kind: str) -> float:
        """Seconds before ``action`` (after the previous step)."""
        spans = FIRE_DELAYS if kind == IncidentKind.FIRE else OTHER_DELAYS
        return self._rng.uniform(*spans[action]) * self.pace

    def answers(self, dispatch: Dispatch, now: float, ends_at: float | None) -> bool:
        """False: the grid worker lets this fire alarm ring out (the first fire of a run is
        always answered, so a short run shows the whole loop first)."""
        fresh_fire = (
            dispatch.kind == IncidentKind.FIRE
            and dispatch.escalation_level == 0
            and dispatch.reminder is None
        )
        if not fresh_fire:
            return True
        time_left = ends_at is None or ends_at - now >= self.escalation_wait_s
        rested = self._last_left is None or now - self._last_left >= self.leave_every_s
        if self._fires_answered and time_left and rested:
            self._last_left = now
            return False
        self._fires_answered += 1
        return True

    def finding(self, kind: str, subject: str, place: str) -> Finding:
        """What was found: mostly cooking fumes for a smoke alarm, now and then a real fire."""
        if kind == IncidentKind.FIRE:
            return self._fire(subject.startswith("building:"), KITCHEN in place)
        if kind in HAZARD_NOTES:
            return Finding(Outcome.HAZARD_FIXED, HAZARD_NOTES[IncidentKind(kind)])
        if kind in FAULT_KINDS:
            return Finding(Outcome.FAULT, "设备报修 device sent for repair")
        return Finding(Outcome.OTHER, "现场核实 checked on site")

    def _fire(self, building: bool, kitchen: bool) -> Finding:
        if building:  # two detectors agree: the strongest signal a gateway has (DOMAIN.md)
            real = self._rng.random() < 0.5
        else:
            real = self._rng.random() < (0.03 if kitchen else 0.08)
        if real:
            return Finding(Outcome.FIRE, "初起火灾, 已用灭火器扑灭 small fire, put out")
        if kitchen:
            return Finding(Outcome.FALSE_ALARM, "厨房油烟, 误报 cooking fumes, false alarm")
        return Finding(Outcome.FALSE_ALARM, "灰尘或吸烟触发, 误报 dust or smoking, false alarm")
