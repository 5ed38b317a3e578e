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

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from gateway.rules.schedule_spec import DAYS, ScheduleSpec

BOUNDS_CACHED = 4096  # (day, span) pairs: years of days for a few spans
REACH_CACHED = 64  # local days whose deadlines' bounds are kept (scans from the last weeks)
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
        self._midnights: dict[date, float] = {}
        # The local day asked last, with its bounds: scans come in time order, so most anchors
        # fall on it (a zone-aware fromtimestamp() is the other costly part).
        self._last_day: tuple[float, float, date] = (0.0, 0.0, date.min)
        self._reach_of: dict[date, tuple[tuple[tuple[float, float], ...], ...]] = {}

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

    def _midnight(self, day: date) -> float:
        found = self._midnights.get(day)
        if found is None:
            if len(self._midnights) >= BOUNDS_CACHED:
                self._midnights.clear()
            found = self._midnights[day] = datetime.combine(day, time(0), self.zone).timestamp()
        return found

    def _local_day(self, anchor: float) -> date:
        """The local date holding ``anchor``."""
        start, end, day = self._last_day
        if start <= anchor < end:
            return day
        day = datetime.fromtimestamp(anchor, self.zone).date()
        start, end = self._midnight(day), self._midnight(day + timedelta(days=1))
        if start <= anchor < end:  # remembered only where the day's bounds agree with it
            self._last_day = (start, end, day)
        return day

    def _reach(self, day: date) -> tuple[tuple[tuple[float, float], ...], ...]:
        """The bounds a deadline after an anchor on ``day`` can come from: check windows and
        opening periods on the day before through LOOKAHEAD_DAYS on, the weekdays named only.
        Worked out once per local day: every scan of the day asks again."""
        found = self._reach_of.get(day)
        if found is not None:
            return found
        windows: list[tuple[float, float]] = []
        hours: list[tuple[float, float]] = []
        for offset in range(-1, LOOKAHEAD_DAYS - 1):
            on = day + timedelta(days=offset)
            if on.weekday() in self.weekdays:
                windows += [self._bounds(on, window) for window in self.windows]
                if self.every_s is not None:
                    hours.append(self._bounds(on, self.hours))
        reach = (tuple(windows), tuple(hours))
        if len(self._reach_of) >= REACH_CACHED:
            self._reach_of.clear()
        self._reach_of[day] = reach
        return reach

    def deadline(self, anchor: float) -> float | None:
        """The first scan deadline after ``anchor`` (without grace); None: none in reach.

        Each check window opening after the anchor must see a scan before it closes; while
        open, every ``every_s`` within the opening period holding the anchor, or from a later
        opening (at most until it closes). The earliest of these."""
        windows, hours = self._reach(self._local_day(anchor))
        best: float | None = None
        for begin, finish in windows:
            if begin > anchor and (best is None or finish < best):
                best = finish
        every = self.every_s
        if every is not None:
            for opens, closes in hours:
                if opens <= anchor < closes:
                    if anchor + every < closes and (best is None or anchor + every < best):
                        best = anchor + every
                elif anchor < opens:
                    due = min(opens + every, closes)
                    if best is None or due < best:
                        best = due
        return best

    def overdue_at(self, anchor: float) -> float | None:
        deadline = self.deadline(anchor)
        return None if deadline is None else deadline + self.grace_s
