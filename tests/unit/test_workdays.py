"""Working-day limits (3 / 5 个工作日) on the official calendar: weekends, holidays, 调休."""

from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path

import pytest

from gateway.incidents import (
    ChineseWorkdays,
    IncidentConfig,
    Stage,
    Status,
    WeekdayCalendar,
    add_working_days,
)
from gateway.incidents.config import load_incident_config
from gateway.incidents.workdays import SHANGHAI, OverriddenCalendar
from gateway.rules.outcomes import IncidentKind, Severity
from gateway.yamlfile import ConfigFileError
from tests.unit.test_incident_world import FakeClock, low_battery, open_world, smoke


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).timestamp()


CHINA = ChineseWorkdays()


def test_the_calendar_knows_2026() -> None:
    assert CHINA.is_workday(date(2026, 2, 14))  # a Saturday worked for the Spring Festival
    assert not CHINA.is_workday(date(2026, 2, 16))  # a Monday off
    assert CHINA.is_workday(date(2026, 9, 20))  # a Sunday worked for National Day
    assert not CHINA.is_workday(date(2026, 10, 5))


@pytest.mark.parametrize(
    ("opened", "days", "due"),
    [
        # Friday → Mon, Tue, Wed: due when Wednesday ends.
        ("2026-03-06 14:00", 3, "2026-03-12 00:00"),
        # 受理当日不计入: Monday morning still counts from Tuesday.
        ("2026-03-02 08:00", 3, "2026-03-06 00:00"),
        # Spring Festival: Sat 14 Feb is worked (1), 15–23 Feb off, Tue 24 (2), Wed 25 (3).
        ("2026-02-13 10:00", 3, "2026-02-26 00:00"),
        # National Day: 1–7 Oct off, Thu 8 (1), Fri 9 (2), Sat 10 Oct is worked (3).
        ("2026-09-30 10:00", 3, "2026-10-11 00:00"),
        # ... and a complex matter: then Mon 12 (4), Tue 13 (5).
        ("2026-09-30 10:00", 5, "2026-10-14 00:00"),
        # Opened on a Saturday: Sunday 20 Sep 2026 is a make-up working day.
        ("2026-09-19 16:00", 1, "2026-09-21 00:00"),
    ],
)
def test_working_days_follow_the_official_calendar(opened: str, days: int, due: str) -> None:
    assert add_working_days(at(opened), days, CHINA) == at(due)


def test_mondays_to_fridays_alone_would_miss_the_holiday() -> None:
    assert add_working_days(at("2026-02-13 10:00"), 3, WeekdayCalendar()) == at("2026-02-19 00:00")


def test_a_year_the_package_does_not_know_falls_back_to_weekdays_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calendar = ChineseWorkdays()
    with caplog.at_level(logging.WARNING):
        due = add_working_days(at("2099-01-02 10:00"), 3, calendar)  # a Friday
        add_working_days(at("2099-01-09 10:00"), 3, calendar)

    assert due == at("2099-01-08 00:00")
    assert next(r.getMessage() for r in caplog.records if "2099" in r.getMessage()).startswith(
        "chinese_calendar has no data for 2099"
    )
    assert sum("2099" in r.getMessage() for r in caplog.records) == 1


async def test_an_ordinary_matter_opened_before_the_spring_festival_is_due_after_it(
    tmp_path: Path,
) -> None:
    clock = FakeClock(at("2026-02-13 10:00"))
    async with open_world(tmp_path, clock=clock) as w:
        (opened, _) = await w.service.apply([low_battery(at=clock.now)])
        incident = await w.service.get(opened.incident.id)
        assert (incident.due_stage, incident.due_at) == (Stage.HANDLE, at("2026-02-26 00:00"))

        clock.now = at("2026-02-25 23:59")
        assert await w.service.tick() == []
        clock.now = at("2026-02-26 00:00")
        (escalated,) = await w.service.tick()
        assert escalated.event == "escalated"
        assert escalated.incident.breaches == ["handle"]
        # The grid leader gets three working days of its own, from the breach.
        assert escalated.incident.due_at == at("2026-03-03 00:00")


async def test_a_complex_matter_gets_five_working_days_across_national_day(
    tmp_path: Path,
) -> None:
    clock = FakeClock(at("2026-09-30 10:00"))
    async with open_world(tmp_path, clock=clock, config=IncidentConfig()) as w:
        alarm = smoke(
            "water-1",
            at=clock.now,
            rule_id="low-pressure",
            kind=IncidentKind.WATER_SUPPLY,
            severity=Severity.MINOR,
        )
        (opened, _) = await w.service.apply([alarm])
        assert opened.incident.status is Status.REPORTED
        incident = await w.service.get(opened.incident.id)
        assert incident.due_at == at("2026-10-14 00:00")


HOLIDAYS_2099 = """\
calendar:
  holidays: [2099-01-05..2099-01-07]   # a made-up Spring Festival week for a year with no data
  workdays: [2099-01-10]               # paid back on the Saturday (调休)
"""


def test_overrides_set_a_year_the_package_does_not_know_from_the_incident_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "incidents.yaml"
    path.write_text(HOLIDAYS_2099)
    calendar = OverriddenCalendar(ChineseWorkdays(), load_incident_config(path).calendar)

    # Opened Friday 2 Jan: Mon–Wed off, Thu 8 and Fri 9 work, Sat 10 is worked → due end of Sat.
    assert add_working_days(at("2099-01-02 10:00"), 3, calendar) == at("2099-01-11 00:00")
    # Days the file does not mention still come from the package.
    assert calendar.is_workday(date(2026, 10, 1)) is False
    assert calendar.is_workday(date(2026, 9, 30)) is True


async def test_the_incident_service_counts_time_limits_on_the_overridden_calendar(
    tmp_path: Path,
) -> None:
    path = tmp_path / "incidents.yaml"
    path.write_text(HOLIDAYS_2099)
    clock = FakeClock(at("2099-01-02 10:00"))
    async with open_world(tmp_path, clock=clock, config=load_incident_config(path)) as w:
        (opened, _) = await w.service.apply([low_battery(at=clock.now)])
        incident = await w.service.get(opened.incident.id)
        assert (incident.due_stage, incident.due_at) == (Stage.HANDLE, at("2099-01-11 00:00"))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("calendar: {holidays: [2099-01-07..2099-01-05]}", "ends before it starts"),
        ("calendar: {holidays: [2099-02-30]}", "calendar.holidays"),
        ("calendar: {holidays: [2099-01-05], workdays: [2099-01-05]}", "both as holiday"),
        ("calendar: {holiday: [2099-01-05]}", "calendar.holiday"),
    ],
)
def test_a_bad_calendar_is_refused_with_the_file_and_the_reason(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "incidents.yaml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigFileError) as error:
        load_incident_config(path)
    assert str(path) in str(error.value)
    assert problem in str(error.value)
