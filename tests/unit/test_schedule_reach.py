"""The cached deadline arithmetic answers exactly as the day-by-day walk it replaced."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from gateway.rules.schedule import LOOKAHEAD_DAYS, PatrolSchedule
from gateway.rules.schedule_spec import ScheduleSpec

SPECS = {
    "daily": ScheduleSpec(windows=("00:00-24:00",), grace_min=60),
    "gathering": ScheduleSpec(
        hours="09:00-22:00", every_min=120, windows=("21:30-22:00",), grace_min=15
    ),
    "night": ScheduleSpec(days=("mon", "thu"), hours="22:00-06:00", every_min=90),
    "weekly": ScheduleSpec(days=("sun",), windows=("08:00-09:00", "23:30-00:30")),
}


def _walk(s: PatrolSchedule, anchor: float) -> float | None:
    """The original: every day from the one before the anchor's, each window and period."""

    def bounds(day: date, span: tuple[time, time, bool]) -> tuple[float, float]:
        start, end, next_day = span
        return (
            datetime.combine(day, start, s.zone).timestamp(),
            datetime.combine(day + timedelta(days=next_day), end, s.zone).timestamp(),
        )

    first = datetime.fromtimestamp(anchor, s.zone).date() - timedelta(days=1)
    best: float | None = None
    for offset in range(LOOKAHEAD_DAYS):
        day = first + timedelta(days=offset)
        if best is not None and datetime.combine(day, time(0), s.zone).timestamp() > best:
            break
        if day.weekday() not in s.weekdays:
            continue
        found = [f for b, f in (bounds(day, w) for w in s.windows) if b > anchor]
        if s.every_s is not None:
            opens, closes = bounds(day, s.hours)
            if opens <= anchor < closes:
                if anchor + s.every_s < closes:
                    found.append(anchor + s.every_s)
            elif anchor < opens:
                found.append(min(opens + s.every_s, closes))
        for candidate in found:
            if best is None or candidate < best:
                best = candidate
    return best


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "America/New_York", "Europe/London"])
@pytest.mark.parametrize("name", sorted(SPECS))
def test_the_same_deadlines_in_time_order_and_out_of_it(zone: str, name: str) -> None:
    schedule = PatrolSchedule(name, SPECS[name], ZoneInfo(zone))
    rng = random.Random(f"{zone}/{name}")
    start = datetime(2026, 3, 1, tzinfo=ZoneInfo(zone)).timestamp()  # spans spring DST
    anchors = [start + rng.random() * 86400 * 40 for _ in range(1500)]
    anchors += sorted(anchors[:500]) + [start + 86400 * d for d in range(40)]  # on midnights
    for anchor in anchors:
        assert schedule.deadline(anchor) == _walk(schedule, anchor), anchor
