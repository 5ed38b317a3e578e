"""Patrol schedule arithmetic: after a scan, when is the next scan due? (pure, local time)

Both requirement kinds of :mod:`gateway.rules.schedule_spec` are turned into deadlines after
an *anchor* — the latest scan, or the moment the engine started watching a never-scanned tag
(windows that opened before we were watching cannot be judged):

- ``every_min`` while open: within the opening period holding the anchor, ``anchor + every``
  if that is still before closing; in a later period, ``opening + every`` (or the closing time
  for a period shorter than the interval: at least one scan per opening);
- each check window that opens after the anchor must see a scan before it closes.

The earliest such deadline, plus ``grace_min``, is when the tag becomes overdue.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from gateway.rules.schedule_spec import DAYS, ScheduleSpec

BOUNDS_CACHED = 4096  # (day, span) pairs: years of days for a few spans
LOOKAHEAD_DAYS = 9  # a schedule naming one weekday has a deadline within 8 days of any anchor

Span = tuple[time, time, bool]  # start, end, ends the next day


def _span(text: str) -> Span:
    start, end = text.split("-")
    begin = time.fromisoformat(start)
    if end == "24:00":
        return begin, time(0, 0), True
    finish = time.fromisoformat(end)
    return begin, finish, finish <= begin


class PatrolSchedule:
    def __init__(self, name: str, spec: ScheduleSpec, zone: ZoneInfo) -> None:
        self.name = name
        self.zone = zone
        self.weekdays = frozenset(DAYS.index(d) for d in spec.days)
        self.hours = _span(spec.hours)
        self.every_s = None if spec.every_min is None else spec.every_min * 60.0
        self.windows = tuple(_span(w) for w in spec.windows)
        self.grace_s = spec.grace_min * 60.0
        # (day, span) → its bounds: every scan asks for the same few days, and a zone-aware
        # datetime.combine().timestamp() is the costly part of working out a deadline.
        self._bounds_of: dict[tuple[date, Span], tuple[float, float]] = {}

    def _bounds(self, day: date, span: Span) -> tuple[float, float]:
        key = (day, span)
        found = self._bounds_of.get(key)
        if found is not None:
            return found
        start, end, next_day = span
        begin = datetime.combine(day, start, self.zone).timestamp()
        finish = datetime.combine(day + timedelta(days=next_day), end, self.zone).timestamp()
        if len(self._bounds_of) >= BOUNDS_CACHED:
            self._bounds_of.clear()
        self._bounds_of[key] = begin, finish
        return begin, finish

    def _deadlines(self, day: date, anchor: float) -> Iterator[float]:
        for window in self.windows:
            begin, finish = self._bounds(day, window)
            if begin > anchor:
                yield finish
        if self.every_s is not None:
            opens, closes = self._bounds(day, self.hours)
            if opens <= anchor < closes:
                if anchor + self.every_s < closes:
                    yield anchor + self.every_s
            elif anchor < opens:
                yield min(opens + self.every_s, closes)

    def deadline(self, anchor: float) -> float | None:
        """The first scan deadline after ``anchor`` (without grace); None: none in reach."""
        first = datetime.fromtimestamp(anchor, self.zone).date() - timedelta(days=1)
        best: float | None = None
        for offset in range(LOOKAHEAD_DAYS):
            day = first + timedelta(days=offset)
            if best is not None and datetime.combine(day, time(0), self.zone).timestamp() > best:
                break
            if day.weekday() not in self.weekdays:
                continue
            for candidate in self._deadlines(day, anchor):
                if best is None or candidate < best:
                    best = candidate
        return best

    def overdue_at(self, anchor: float) -> float | None:
        deadline = self.deadline(anchor)
        return None if deadline is None else deadline + self.grace_s
