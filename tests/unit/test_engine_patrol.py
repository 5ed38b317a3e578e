"""Patrols: overdue by schedule and opening hours (Asia/Shanghai), hazards, suspicious scans."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.rules import Alarm, IncidentKind, Outcome
from tests.unit.test_engine_support import (
    T0,
    Harness,
    alarms,
    clears,
    device,
    rules_from,
    shipped_rules,
)

PATROL = """
rules:
  - id: patrol-overdue
    title: {zh: 巡查超时, en: Patrol overdue}
    applies_to: {profiles: [nfc-patrol-tag]}
    kind: patrol_overdue
    severity: minor
    notify: leader
    patrol:
      default: daily
      schedules:
        public-gathering:
          hours: "09:00-22:00"
          every_min: 120
          windows: ["21:30-22:00"]
          grace_min: 15
        daily:
          windows: ["00:00-24:00"]
          grace_min: 60
        nights:
          days: [fri, sat]
          hours: "18:00-02:00"
          every_min: 60
      grids: {G-MALL: public-gathering}
      tags: {KTV-TAG: nights}
"""


def local(hour: float, day: int = 0) -> float:
    """Seconds after T0 (Thursday 2026-01-01 08:00 in Shanghai) for a local time of day."""
    return (day * 24 + hour - 8) * 3600


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(
        rules_from(tmp_path, PATROL),
        [
            device("MALL-TAG", "nfc-patrol-tag", grid="G-MALL"),
            device("KEY-TAG", "nfc-patrol-tag", grid="G-0301"),
            device("KTV-TAG", "nfc-patrol-tag", grid="G-MALL"),
        ],
    )


def scan(h: Harness, tag: str, hour: float, day: int = 0) -> list[Outcome]:
    return h.at(local(hour, day)).send(tag, worker_id="W-1", result="ok")


def overdue(h: Harness, tag: str, hour: float, day: int = 0) -> list[Alarm]:
    """The overdue alarms for ``tag`` from a tick at that local time."""
    return [a for a in alarms(h.at(local(hour, day)).tick(), "patrol-overdue") if a.subject == tag]


def test_public_gathering_place_overdue_two_hours_after_a_scan_while_open(h: Harness) -> None:
    scan(h, "MALL-TAG", 10)
    assert overdue(h, "MALL-TAG", 12.2) == []  # 12:12: within the 15 min grace
    [alarm] = overdue(h, "MALL-TAG", 12.25)
    assert alarm.subject == "MALL-TAG" and alarm.kind is IncidentKind.PATROL_OVERDUE
    assert alarm.detail == {
        "schedule": "public-gathering",
        "due_at": T0 + local(12),
        "last_scan": T0 + local(10),
        "notify": "leader",
    }
    assert overdue(h, "MALL-TAG", 14) == []  # held: one alarm until a scan
    [clear] = clears(scan(h, "MALL-TAG", 14.5), "patrol-overdue")
    assert clear.subject == "MALL-TAG"
    assert (
        overdue(h, "MALL-TAG", 16.4) == [] and len(overdue(h, "MALL-TAG", 16.75)) == 1
    )  # the next window


def test_no_alarm_while_closed_and_the_first_round_is_due_two_hours_after_opening(
    h: Harness,
) -> None:
    scan(h, "MALL-TAG", 21.75)  # inside the 21:30-22:00 closing check
    for hour in (22.5, 23.9):
        assert overdue(h, "MALL-TAG", hour) == []
    for hour in (3, 8.9, 11.2):
        assert overdue(h, "MALL-TAG", hour, day=1) == []
    [alarm] = overdue(h, "MALL-TAG", 11.25, day=1)
    assert alarm.detail["due_at"] == T0 + local(11, day=1)


def test_a_missed_closing_check_is_overdue_after_closing(h: Harness) -> None:
    scan(h, "MALL-TAG", 20.5)  # next round would be 22:30, after closing: the check is 22:00
    assert overdue(h, "MALL-TAG", 22.2) == []
    [alarm] = overdue(h, "MALL-TAG", 22.25)
    assert alarm.detail["due_at"] == T0 + local(22)


def test_a_key_unit_needs_one_scan_each_calendar_day(h: Harness) -> None:
    scan(h, "KEY-TAG", 10)  # Thursday
    assert overdue(h, "KEY-TAG", 23.9) == [] and overdue(h, "KEY-TAG", 23, day=1) == []
    scan(h, "KEY-TAG", 23.5, day=1)  # Friday, late: Friday is done
    assert (
        overdue(h, "KEY-TAG", 0.9, day=3) == []
    )  # Sunday 00:54: Saturday's scan is not yet overdue
    [alarm] = overdue(
        h, "KEY-TAG", 1, day=3
    )  # Saturday had no scan: overdue at midnight + 60 min grace
    assert alarm.detail["schedule"] == "daily"


def test_a_tag_never_scanned_is_watched_from_the_first_tick_that_sees_it(h: Harness) -> None:
    assert (
        overdue(h, "KEY-TAG", 10) == []
    )  # Thursday 10:00: today's window opened before we watched
    assert (
        overdue(h, "KEY-TAG", 0.9, day=2) == []
    )  # Friday's window closes at midnight, + 60 min grace
    [alarm] = overdue(h, "KEY-TAG", 1, day=2)
    assert alarm.subject == "KEY-TAG" and alarm.detail["last_scan"] is None


def test_a_late_upload_counts_at_the_time_it_was_scanned(h: Harness) -> None:
    h.at(local(12.5)).send("MALL-TAG", ts=T0 + local(11.5), worker_id="W-1", result="ok")
    assert (
        overdue(h, "MALL-TAG", 13.6) == [] and len(overdue(h, "MALL-TAG", 13.75)) == 1
    )  # due 13:30 + 15 min


def test_schedules_by_tag_win_over_grid_and_open_past_midnight(h: Harness) -> None:
    # KTV-TAG sits in G-MALL but follows its own schedule: Fri/Sat 18:00-02:00, hourly.
    assert overdue(h, "KTV-TAG", 23) == []  # Thursday: not an opening day
    scan(h, "KTV-TAG", 18.5, day=1)  # Friday 18:30
    assert overdue(h, "KTV-TAG", 19.4, day=1) == []
    [alarm] = overdue(h, "KTV-TAG", 19.5, day=1)
    assert alarm.detail["schedule"] == "nights"
    scan(h, "KTV-TAG", 1.5, day=2)  # Saturday 01:30, still Friday night's opening
    assert overdue(h, "KTV-TAG", 17.9, day=2) == [] and len(overdue(h, "KTV-TAG", 19, day=2)) == 1


def test_a_hazard_scan_opens_a_patrol_hazard_alarm_with_who_and_what() -> None:
    h = Harness(shipped_rules(), [device("TAG-1", "nfc-patrol-tag")])
    out = h.send("TAG-1", worker_id="W-7", result="hazard", note="消防通道堵塞 exit blocked")
    [alarm] = alarms(out, "patrol-hazard")
    assert alarm.kind is IncidentKind.PATROL_HAZARD
    assert alarm.detail["worker_id"] == "W-7"
    assert alarm.detail["note"] == "消防通道堵塞 exit blocked"
    assert h.at(60).send("TAG-1", worker_id="W-7", result="ok") == []  # a person closes it


TAG_AT = (31.2304, 121.4737)  # People's Square, Shanghai


def tags() -> Harness:
    return Harness(
        shipped_rules(),
        [
            device("TAG-A", "nfc-patrol-tag", lat=TAG_AT[0], lon=TAG_AT[1]),
            device("TAG-B", "nfc-patrol-tag", lat=TAG_AT[0] + 0.045, lon=TAG_AT[1]),  # 5 km N
        ],
    )


def test_a_scan_far_from_its_tag_is_suspicious() -> None:
    h = tags()
    near = h.send("TAG-A", worker_id="W-1", result="ok", lat=TAG_AT[0] + 0.0004, lon=TAG_AT[1])
    assert alarms(near, "patrol-scan-far") == []  # ~45 m: inside 100 m
    far = h.at(60).send(
        "TAG-A", worker_id="W-1", result="ok", lat=TAG_AT[0] + 0.0045, lon=TAG_AT[1]
    )
    [alarm] = alarms(far, "patrol-scan-far")
    assert alarm.kind is IncidentKind.SUSPICIOUS_SCAN and alarm.detail["notify"] == "leader"
    assert alarm.detail["distance_m"] == pytest.approx(500, rel=0.01)
    assert alarm.detail["max_distance_m"] == 100 and alarm.detail["worker_id"] == "W-1"
    assert len(alarms(h.at(120).send("TAG-A", worker_id="W-1", lat=31.3, lon=121.5))) == 1


def test_impossible_travel_between_one_workers_scans() -> None:
    h = tags()
    h.send("TAG-A", worker_id="W-1", result="ok")
    out = h.at(60).send("TAG-B", worker_id="W-1", result="ok")  # 5 km in a minute
    [alarm] = alarms(out, "patrol-impossible-travel")
    assert alarm.subject == "TAG-B" and alarm.detail["from_tag"] == "TAG-A"
    assert alarm.detail["speed_kmh"] == pytest.approx(300, rel=0.01)
    assert alarm.detail["max_speed_kmh"] == 60


def test_plausible_travel_and_other_workers_are_not_suspicious() -> None:
    h = tags()
    h.send("TAG-A", worker_id="W-1", result="ok")
    h.at(30).send("TAG-B", worker_id="W-2", result="ok")  # another worker: no pair
    assert alarms(h.at(1800).send("TAG-B", worker_id="W-1", result="ok")) == []  # 10 km/h
