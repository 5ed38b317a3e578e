"""The demo's event log, read from the contract topic ``grid/incidents/+/events``.

These are the lifecycle events the grid platform receives — one per transition, in order per
incident — each turned into one line ("INC-…c2b7d fire sd-0003 dispatched → w001 + station
ms-01 (94 m)"), with what the simulator did in between (dim). Delivery is at least once, so
an ``event_id`` already seen is dropped. The counts cover this run only: what was opened,
dispatched, escalated and how it closed.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

Rung = Callable[[str, int], list[str]]  # (grid, escalation level) → who stands on that rung
KEEP_LINES = 50
KEEP_EVENT_IDS = 5000


@dataclass(frozen=True, slots=True)
class LogLine:
    at: float
    text: str
    style: str = ""  # a rich style


@dataclass(frozen=True, slots=True)
class FeedCounts:
    opened: int = 0
    tests: int = 0  # self-test incidents (自检): the installer's, not dispatched to responders
    dispatched: int = 0
    escalated: int = 0
    closed: Mapping[str, int] = field(default_factory=dict)  # by outcome


def short_id(incident_id: str) -> str:
    """``INC-20261123-3f9a1c2b7d`` → ``INC-…c2b7d``: enough to tell a screenful apart."""
    return f"INC-…{incident_id[-5:]}"


def recipients(incident: Mapping[str, Any], rung: Rung | None, station: bool = True) -> str:
    """Who an incident went to: ``w001 + station ms-01 (94 m)``, ``leader lc001``."""
    level = int(incident.get("escalation_level") or 0)
    worker = incident.get("worker_id")
    if level == 0 and worker:
        who = str(worker)
    else:
        people = rung(str(incident.get("grid", "")), level) if rung else []
        who = " ".join([str(incident.get("escalation", "")), *people]).strip()
    if station and incident.get("station_id"):
        distance = incident.get("distance_m")
        who += f" + station {incident['station_id']}"
        who += f" ({distance:.0f} m)" if distance is not None else ""
    return who


def _what(event: Mapping[str, Any], rung: Rung | None) -> tuple[str, str] | None:
    """The line's text after the incident, and its style; None for events not shown."""
    incident, actor = event["incident"], event.get("actor", "")
    transition = event.get("transition")
    if transition == "reported":
        return ("self-test: for the installer only", "dim") if incident.get("test") else None
    if transition == "dispatched":
        title = str(incident.get("title", "")).split(" / ")[0]
        return f"dispatched → {recipients(incident, rung)} · {title}", "bold"
    if transition == "escalated":
        who = recipients(incident, rung, station=False)
        return f"escalated → {who}: {event.get('note', '')}", "bold red"
    if transition == "closed":
        outcome = incident.get("outcome") or "—"
        if outcome == "superseded":
            return f"closed: superseded by {short_id(str(incident.get('superseded_by')))}", "dim"
        if outcome == "recovered":
            return "closed: recovered (the value came back: clear rule)", "cyan"
        return f"closed: {outcome}", "green"
    if transition == "handled":
        return f"handled by {actor}: {incident.get('outcome')}", ""
    if transition == "accepted":
        return f"accepted by {actor}", ""
    if transition == "on_site":
        return f"on site: {actor}", ""
    return f"{transition} by {actor}", ""


class IncidentFeed:
    """Feed it the messages of :attr:`topics` via :meth:`receive`; read :attr:`lines`."""

    topics = ("grid/incidents/+/events",)

    def __init__(
        self,
        rung: Rung | None = None,
        keep: int = KEEP_LINES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._rung = rung
        self._clock = clock
        self._lines: deque[LogLine] = deque(maxlen=keep)
        self._seen: deque[str] = deque(maxlen=KEEP_EVENT_IDS)
        self._seen_set: set[str] = set()
        self._counts: Counter[str] = Counter()
        self._closed: Counter[str] = Counter()

    @property
    def lines(self) -> tuple[LogLine, ...]:
        return tuple(self._lines)

    def counts(self) -> FeedCounts:
        c = self._counts
        closed = dict(sorted(self._closed.items()))
        return FeedCounts(c["opened"], c["tests"], c["dispatched"], c["escalated"], closed)

    def note(self, text: str) -> None:
        """What the simulator did (an episode started, a worker not answering)."""
        self._lines.append(LogLine(self._clock(), f"sim  {text}", "dim"))

    def receive(self, topic: str, payload: bytes) -> None:
        try:
            event = orjson.loads(payload)
            event_id, incident = str(event["event_id"]), event["incident"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return
        if event_id in self._seen_set:
            return
        if len(self._seen) == self._seen.maxlen:
            self._seen_set.discard(self._seen[0])
        self._seen.append(event_id)
        self._seen_set.add(event_id)
        self._count(event, incident)
        shown = _what(event, self._rung)
        if shown is not None:
            kind = str(incident.get("kind", ""))
            if str(incident.get("subject", "")).startswith("building:"):
                kind += " (building)"
            head = f"{short_id(str(incident.get('id', '')))} {kind} {incident.get('device_id')}"
            self._lines.append(LogLine(self._clock(), f"{head} {shown[0]}", shown[1]))

    def _count(self, event: Mapping[str, Any], incident: Mapping[str, Any]) -> None:
        transition = event.get("transition")
        if transition == "reported":
            self._counts["tests" if incident.get("test") else "opened"] += 1
        elif transition in ("dispatched", "escalated") and not incident.get("test"):
            self._counts[str(transition)] += 1
        elif transition == "closed":
            self._closed[str(incident.get("outcome") or "other")] += 1
