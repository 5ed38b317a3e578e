"""考核评价 numbers on a hand-built set of incidents, every one worked out by hand below."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.incidents.model import Incident, Outcome, Status
from gateway.incidents.repository import IncidentQuery
from gateway.model import Location
from gateway.rules.outcomes import IncidentKind, Severity
from gateway.stats import (
    FalseAlarmRow,
    OnTimeRow,
    compute_stats,
    incidents_between,
    percentile,
)

T0 = 1_763_870_400.0
DAY = 86_400.0
FIRE, FAULT, OFFLINE = IncidentKind.FIRE, IncidentKind.DEVICE_FAULT, IncidentKind.OFFLINE


def incident(
    iid: str,
    kind: IncidentKind,
    device: str,
    grid: str,
    building: str,
    opened: float,
    *,
    worker: str | None,
    community: str,
    status: Status = Status.CLOSED,
    outcome: Outcome | None = None,
    accepted: float | None = None,
    on_site: float | None = None,
    handled: float | None = None,
    breaches: tuple[str, ...] = (),
    test: bool = False,
) -> Incident:
    at = T0 + opened
    return Incident(
        id=iid,
        rule_id=kind.value,
        subject=device,
        device_id=device,
        kind=kind,
        severity=Severity.CRITICAL,
        title=iid,
        grid=grid,
        status=status,
        opened_at=at,
        last_seen=at,
        test=test,
        outcome=outcome,
        location=Location(building=building),
        community=community,
        worker_id=worker,
        accepted_at=None if accepted is None else at + accepted,
        on_site_at=None if on_site is None else at + on_site,
        handled_at=None if handled is None else at + handled,
        breaches=list(breaches),
    )


# A fire handled in time but a false alarm; a fire that missed both of its limits; a fault
# handled in time; a fault still open inside its limit (not judged); an offline that recovered
# by itself (judges nobody); a fire nobody accepted (missed, still escalated); a test alarm and
# one from before the window, both left out.
G1, G2, G3 = "G-0101", "G-0102", "G-0103"
A = incident(
    "A", FIRE, "sd-1", G1, "3号楼", 0, worker="w-001", community="C-01",
    outcome=Outcome.FALSE_ALARM, accepted=30, on_site=150, handled=600,
)  # fmt: skip
B = incident(
    "B", FIRE, "sd-1", G1, "3号楼", 1000, worker="w-001", community="C-01",
    outcome=Outcome.FIRE, accepted=90, on_site=200, handled=1200, breaches=("accept", "on_site"),
)  # fmt: skip
C = incident(
    "C", FAULT, "sd-2", G2, "7号楼", 2000, worker="w-002", community="C-02",
    outcome=Outcome.FAULT, accepted=60, handled=3000,
)  # fmt: skip
D = incident(
    "D", FAULT, "sd-3", G2, "7号楼", 3000, worker="w-002", community="C-02",
    status=Status.DISPATCHED,
)  # fmt: skip
E = incident(
    "E", OFFLINE, "sd-2", G2, "7号楼", 4000, worker="w-002", community="C-02",
    outcome=Outcome.RECOVERED,
)  # fmt: skip
H = incident(
    "H", FIRE, "sd-4", G3, "", 5000, worker="w-003", community="C-01",
    status=Status.ESCALATED, breaches=("accept",),
)  # fmt: skip
TEST = replace(A, id="T", test=True, outcome=Outcome.TEST)
BEFORE = replace(A, id="OLD", opened_at=T0 - 1)
SET = [A, B, C, D, E, H, TEST, BEFORE]


def test_counts_by_kind_grid_and_status_leave_out_tests_and_the_outside() -> None:
    stats = compute_stats(SET, T0, T0 + DAY)
    assert stats.incidents == 6
    assert stats.counts.by_kind == {"device_fault": 2, "fire": 3, "offline": 1}
    assert stats.counts.by_grid == {G1: 2, G2: 3, G3: 1}
    assert stats.counts.by_status == {"closed": 4, "dispatched": 1, "escalated": 1}


def test_time_to_accept_arrive_and_handle_p50_p90() -> None:
    rt = compute_stats(SET, T0, T0 + DAY).response_times
    # accept: 30, 60, 90 → p50 is the 2nd, p90 the 3rd (nearest rank: ceil(0.9 × 3) = 3)
    assert (rt.accept.count, rt.accept.p50_s, rt.accept.p90_s) == (3, 60, 90)
    # arrive: 150, 200 → ceil(0.5 × 2) = 1st, ceil(0.9 × 2) = 2nd
    assert (rt.arrive.count, rt.arrive.p50_s, rt.arrive.p90_s) == (2, 150, 200)
    assert (rt.handle.count, rt.handle.p50_s, rt.handle.p90_s) == (3, 1200, 3000)


def test_on_time_rate_ranks_workers_grids_and_communities() -> None:
    on_time = compute_stats(SET, T0, T0 + DAY).on_time
    # Judged: A (met), B (missed), C (met), H (missed); D is inside its limit, E recovered.
    assert on_time.by_worker == [
        OnTimeRow("w-002", judged=1, on_time=1, rate=1.0),
        OnTimeRow("w-001", judged=2, on_time=1, rate=0.5),
        OnTimeRow("w-003", judged=1, on_time=0, rate=0.0),
    ]
    assert on_time.by_grid == [
        OnTimeRow(G2, 1, 1, 1.0),
        OnTimeRow(G1, 2, 1, 0.5),
        OnTimeRow(G3, 1, 0, 0.0),
    ]
    assert on_time.by_community == [OnTimeRow("C-02", 1, 1, 1.0), OnTimeRow("C-01", 3, 1, 1 / 3)]


def test_false_alarm_rate_per_device_and_per_site() -> None:
    false_alarms = compute_stats(SET, T0, T0 + DAY).false_alarms
    # Closed: A (false alarm) and B (fire) on sd-1 in G-0101/3号楼; C and E on sd-2 in 7号楼.
    assert false_alarms.by_device == [
        FalseAlarmRow("sd-1", closed=2, false_alarms=1, rate=0.5),
        FalseAlarmRow("sd-2", closed=2, false_alarms=0, rate=0.0),
    ]
    assert false_alarms.by_site == [
        FalseAlarmRow("G-0101/3号楼", 2, 1, 0.5),
        FalseAlarmRow("G-0102/7号楼", 2, 0, 0.0),
    ]


def test_an_empty_window_has_no_numbers_rather_than_zeros() -> None:
    stats = compute_stats(SET, T0 + 2 * DAY, T0 + 3 * DAY)
    assert stats.incidents == 0
    assert stats.response_times.accept.p50_s is None
    assert stats.on_time.by_worker == [] and stats.false_alarms.by_site == []


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [([], 50, None), ([7.0], 90, 7.0), ([float(v) for v in range(1, 11)], 90, 9.0),
     ([float(v) for v in range(1, 11)], 50, 5.0), ([3.0, 1.0, 2.0], 100, 3.0)],
)  # fmt: skip
def test_percentile_is_nearest_rank(values: list[float], p: float, expected: float | None) -> None:
    assert percentile(values, p) == expected


async def test_the_window_read_stops_once_it_reaches_back_past_since() -> None:
    # 5000 incidents, one a minute, newest first as the store gives them.
    history = sorted(
        (replace(A, id=f"I{n:05}", opened_at=T0 + 60 * n) for n in range(5000)),
        key=lambda i: (i.opened_at, i.id),
        reverse=True,
    )
    asked: list[IncidentQuery] = []

    async def fetch(query: IncidentQuery) -> list[Incident]:
        asked.append(query)
        return history[query.offset : query.offset + query.limit]

    newest = T0 + 60 * 4999
    window = await incidents_between(fetch, newest - 60 * 1200, newest - 60 * 200, page=500)
    assert sorted(i.id for i in window) == [f"I{n:05}" for n in range(3799, 4799)]
    assert [q.offset for q in asked] == [0, 500, 1000]  # not the 10 pages of the whole history
    assert all(q.test is False for q in asked)
