"""Working days (工作日) on the official Chinese calendar, for time limits counted in days.

Weekends are not enough: the State Council moves days every year — a week off for the Spring
Festival (春节) and National Day (国庆), paid back by Saturdays or Sundays worked (调休).
``chinese_calendar`` carries the published arrangements; a year it does not know yet (the
package ships each year's data after the announcement, usually in November) falls back to
Monday–Friday with a warning, so a deadline is late by at most the holiday, never missing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Annotated, Protocol
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator

log = logging.getLogger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")


class WorkdayCalendar(Protocol):
    def is_workday(self, day: date) -> bool: ...


class WeekdayCalendar:
    """Monday to Friday: the fallback where the official calendar has no data."""

    def is_workday(self, day: date) -> bool:
        return day.weekday() < 5


class ChineseWorkdays:
    """The official calendar through ``chinese_calendar``; ImportError when it is missing."""

    def __init__(self, fallback: WorkdayCalendar | None = None) -> None:
        import chinese_calendar  # type: ignore[import-untyped]  # ships no type information

        self._lookup: Callable[[date], object] = chinese_calendar.is_workday
        self._fallback = fallback or WeekdayCalendar()
        self._warned: set[int] = set()

    def is_workday(self, day: date) -> bool:
        try:
            return bool(self._lookup(day))
        except NotImplementedError:
            if day.year not in self._warned:
                self._warned.add(day.year)
                log.warning(
                    "chinese_calendar has no data for %d: counting Monday–Friday as working "
                    "days (upgrade the package once the year's holidays are published)",
                    day.year,
                )
            return self._fallback.is_workday(day)


def _days(value: object) -> object:
    """``2027-10-01`` or a range ``2027-10-01..2027-10-07`` (both ends included) → dates."""
    if not isinstance(value, list):
        return value
    days: list[object] = []
    for item in value:
        if isinstance(item, str) and ".." in item:
            first, _, last = item.partition("..")
            start, end = date.fromisoformat(first.strip()), date.fromisoformat(last.strip())
            if end < start:
                raise ValueError(f"range {item!r} ends before it starts")
            days.extend(start + timedelta(n) for n in range((end - start).days + 1))
        else:
            days.append(item)
    return days


Days = Annotated[frozenset[date], BeforeValidator(_days)]


class CalendarOverrides(BaseModel):
    """The year's arrangement by hand, ahead of a ``chinese_calendar`` release that has it.

    ``holidays``: days off that would be working days (the Spring Festival week);
    ``workdays``: weekend days worked in exchange (调休). Both win over the package.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    holidays: Days = frozenset()
    workdays: Days = frozenset()

    @model_validator(mode="after")
    def _each_day_once(self) -> CalendarOverrides:
        both = sorted(self.holidays & self.workdays)
        if both:
            raise ValueError(f"{both[0].isoformat()} is listed both as holiday and as workday")
        return self


class OverriddenCalendar:
    """``base`` with the days of ``overrides`` set by hand."""

    def __init__(self, base: WorkdayCalendar, overrides: CalendarOverrides) -> None:
        self._base = base
        self._overrides = overrides

    def is_workday(self, day: date) -> bool:
        if day in self._overrides.workdays:
            return True
        if day in self._overrides.holidays:
            return False
        return self._base.is_workday(day)


def default_calendar() -> WorkdayCalendar:
    try:
        return ChineseWorkdays()
    except ImportError:
        log.warning("chinese_calendar is not installed: counting Monday–Friday as working days")
        return WeekdayCalendar()


def add_working_days(
    start: float, days: int, calendar: WorkdayCalendar, tz: ZoneInfo = SHANGHAI
) -> float:
    """The end (24:00 local time) of the ``days``-th working day after the day of ``start``.

    受理当日不计入: the day a matter comes in does not count, as government hotlines count
    "办结时限 N 个工作日". Opened on Friday with 3 working days → due at the end of Wednesday.
    """
    day = datetime.fromtimestamp(start, tz).date()
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        counted += calendar.is_workday(day)
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).timestamp()
