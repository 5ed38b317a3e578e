"""``GET /stats`` over the real incident service: officers see every grid, a worker its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.unit.test_api_support import Incidents, with_incidents

WINDOW = {"since": "2025-11-23T00:00:00Z", "until": "2025-11-24T00:00:00+08:00"}


@pytest.fixture
async def inc(tmp_path: Path) -> AsyncIterator[Incidents]:
    async with with_incidents(tmp_path) as harness:
        yield harness


async def a_day_in_the_district(inc: Incidents) -> tuple[str, str]:
    """A false alarm in G-0101 handled in time; a fire in G-0102 nobody accepts in 60 s."""
    kitchen = await inc.alarm("sd-0101")
    inc.clock.now += 10
    fire = await inc.alarm("sd-0102")
    admin = inc.api.admin
    for step, after in (("ack", 20), ("arrive", 100), ("handle", 300), ("verify", 60)):
        inc.clock.now += after
        outcome = {"outcome": "false_alarm"} if step == "handle" else {}
        body = {"action": step, "actor": "w-001", **outcome}
        assert (await admin.post(f"/incidents/{kitchen}/actions", json=body)).status_code == 200
    await admin.post(f"/incidents/{kitchen}/actions", json={"action": "close"})
    await inc.service.tick()  # the fire's 60 s to accept ran out long ago: a breach
    return kitchen, fire


async def test_an_officer_sees_the_whole_district(inc: Incidents) -> None:
    await a_day_in_the_district(inc)
    officer = inc.api.as_(await inc.api.issue("officer", "officer Li"))
    response = await officer.get("/stats", params=WINDOW)
    assert response.status_code == 200, response.text
    stats = response.json()
    assert (stats["since"], stats["until"]) == (
        "2025-11-23T00:00:00.000Z",
        "2025-11-23T16:00:00.000Z",
    )
    assert stats["grids"] is None and stats["incidents"] == 2
    assert stats["counts"] == {
        "by_kind": {"fire": 2},
        "by_grid": {"G-0101": 1, "G-0102": 1},
        "by_status": {"closed": 1, "escalated": 1},
    }
    assert stats["response_times"]["accept"] == {"count": 1, "p50_s": 30.0, "p90_s": 30.0}
    assert stats["response_times"]["arrive"] == {"count": 1, "p50_s": 130.0, "p90_s": 130.0}
    assert stats["response_times"]["handle"] == {"count": 1, "p50_s": 430.0, "p90_s": 430.0}
    assert stats["on_time"]["by_worker"] == [
        {"key": "w-001", "judged": 1, "on_time": 1, "rate": 1.0},
        {"key": "w-002", "judged": 1, "on_time": 0, "rate": 0.0},
    ]
    assert stats["on_time"]["by_community"] == [
        {"key": "C-0101", "judged": 2, "on_time": 1, "rate": 0.5}
    ]
    assert stats["false_alarms"]["by_site"] == [
        {"key": "G-0101/3号楼", "closed": 1, "false_alarms": 1, "rate": 1.0}
    ]


async def test_a_worker_sees_its_own_grids_only(inc: Incidents) -> None:
    await a_day_in_the_district(inc)
    zhang = inc.api.as_(await inc.api.issue("worker", "张伟", "w-001"))
    stats = (await zhang.get("/stats", params=WINDOW)).json()
    assert stats["grids"] == ["G-0101"]
    assert stats["counts"]["by_grid"] == {"G-0101": 1}
    assert [row["key"] for row in stats["on_time"]["by_worker"]] == ["w-001"]


async def test_test_incidents_and_the_outside_of_the_window_are_left_out(inc: Incidents) -> None:
    await inc.alarm("sd-0101", test=True)
    officer = inc.api.admin
    assert (await officer.get("/stats", params=WINDOW)).json()["incidents"] == 0
    await inc.alarm("sd-0102")
    later = {"since": "2025-11-23T04:00:01Z", "until": "2025-11-23T05:00:00Z"}
    assert (await officer.get("/stats", params=later)).json()["incidents"] == 0


@pytest.mark.parametrize(
    ("params", "says"),
    [
        (
            {"since": "2025-11-24T00:00:00Z", "until": "2025-11-23T00:00:00Z"},
            "since must be before until",
        ),
        (
            {"since": "2024-01-01T00:00:00Z", "until": "2025-11-23T00:00:00Z"},
            "the window may span at most 366 days",
        ),
    ],
)
async def test_a_bad_window_is_422(inc: Incidents, params: dict[str, str], says: str) -> None:
    response = await inc.api.admin.get("/stats", params=params)
    assert response.status_code == 422
    assert [(e["loc"], e["msg"]) for e in response.json()["detail"]] == [(["query", "since"], says)]


async def test_an_until_whose_default_window_starts_before_year_1_is_422(inc: Incidents) -> None:
    """Found by schemathesis: until=0001-01-01T00:00:00Z made the default window overflow (a 500)."""
    response = await inc.api.admin.get("/stats", params={"until": "0001-01-01T00:00:00Z"})
    assert response.status_code == 422
    assert [(e["loc"], e["msg"]) for e in response.json()["detail"]] == [
        (["query", "until"], "the 30 days before until start before year 1")
    ]


async def test_a_time_without_a_zone_is_422(inc: Incidents) -> None:
    response = await inc.api.admin.get("/stats", params={"since": "2025-11-23T00:00:00"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "since"]
