"""``/incidents`` over the real incident service: the closed loop, who may do what, filters.

The sample district: G-0101 (worker w-001), G-0102 (worker w-002), both under community
C-0101 whose grids are led by w-101. ``sd-0101`` is in G-0101, ``sd-0102`` in G-0102.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.unit.test_api_support import Incidents, with_incidents


@pytest.fixture
async def inc(tmp_path: Path) -> AsyncIterator[Incidents]:
    async with with_incidents(tmp_path) as harness:
        yield harness


async def worker(
    inc: Incidents, worker_id: str, grids: list[str] | None = None
) -> httpx.AsyncClient:
    return inc.api.as_(await inc.api.issue("worker", f"phone of {worker_id}", worker_id, grids))


async def act(client: httpx.AsyncClient, incident_id: str, **body: object) -> httpx.Response:
    return await client.post(f"/incidents/{incident_id}/actions", json=body)


async def test_a_fire_walks_the_closed_loop_worker_then_officer(inc: Incidents) -> None:
    fire = await inc.alarm("sd-0101")
    zhang = await worker(inc, "w-001")
    officer = inc.api.as_(await inc.api.issue("officer", "officer Li"))

    inc.clock.now += 30
    accepted = await act(zhang, fire, action="ack", note="收到")
    assert (accepted.status_code, accepted.json()["status"]) == (200, "accepted")
    inc.clock.now += 120
    assert (await act(zhang, fire, action="arrive")).json()["status"] == "on_site"
    refused = await act(zhang, fire, action="verify")
    assert refused.status_code == 403
    assert refused.json() == {"detail": "the worker role may not verify; that is for an officer"}
    inc.clock.now += 300
    handled = await act(zhang, fire, action="handle", note="厨房油烟", outcome="false_alarm")
    assert handled.json()["status"] == "handled"
    assert (await act(officer, fire, action="ack")).status_code == 403
    assert (await act(officer, fire, action="verify", note="电话回访")).json()[
        "status"
    ] == "verified"
    closed = (await act(officer, fire, action="close")).json()

    assert closed["status"] == "closed" and closed["outcome"] == "false_alarm"
    view = (await zhang.get(f"/incidents/{fire}")).json()
    for key in ("id", "kind", "severity", "device_id", "grid", "opened_at", "count", "last_seen"):
        assert view[key] == closed[key]
    assert view["escalation_level"] == 0
    steps = [
        (e["event"], e["actor"], e["note"]) for e in view["timeline"] if e["actor"] != "system"
    ]
    assert steps == [
        ("accepted", "w-001", "收到"),
        ("on_site", "w-001", ""),
        ("handled", "w-001", "厨房油烟"),
        ("verified", "officer Li", "电话回访"),
        ("closed", "officer Li", ""),
    ]
    assert view["timeline"][-1]["at"] == "2025-11-23T04:07:30.000Z"


async def test_a_worker_sees_and_moves_only_its_own_grids(inc: Incidents) -> None:
    mine, theirs = await inc.alarm("sd-0101"), await inc.alarm("sd-0102")
    zhang = await worker(inc, "w-001")

    assert [i["id"] for i in (await zhang.get("/incidents")).json()] == [mine]
    assert (await zhang.get("/incidents", params={"grid": "G-0102"})).json() == []
    for response in (
        await zhang.get(f"/incidents/{theirs}"),
        await act(zhang, theirs, action="ack"),
    ):
        assert (response.status_code, response.json()) == (404, {"detail": f"no incident {theirs}"})
    unknown = await act(zhang, "INC-nope", action="ack")
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "no incident INC-nope"})
    assert (await inc.service.get(theirs)).status == "dispatched"  # untouched

    leader = await worker(inc, "w-101")  # 网格长 of every grid in C-0101
    assert {i["id"] for i in (await leader.get("/incidents")).json()} == {mine, theirs}
    narrowed = await worker(inc, "w-101", grids=["G-0102"])
    assert [i["id"] for i in (await narrowed.get("/incidents")).json()] == [theirs]
    community = await worker(inc, "w-001", grids=["C-0101"])  # a unit reaches the grids below
    assert {i["id"] for i in (await community.get("/incidents")).json()} == {mine, theirs}


async def test_a_worker_acts_as_itself(inc: Incidents) -> None:
    fire = await inc.alarm("sd-0101")
    zhang = await worker(inc, "w-001")
    impostor = await act(zhang, fire, action="ack", actor="w-002")
    assert (impostor.status_code, impostor.json()) == (
        403,
        {"detail": "this token acts as w-001, not as w-002"},
    )
    assert (await act(zhang, fire, action="ack", actor="w-001")).status_code == 200
    # An officer recording what a worker phoned in names the worker.
    officer = inc.api.as_(await inc.api.issue("officer", "officer Li"))
    assert (await act(officer, fire, action="escalate", actor="w-001")).status_code == 200
    actors = [e["actor"] for e in (await zhang.get(f"/incidents/{fire}")).json()["timeline"]]
    assert "w-002" not in actors and actors.count("w-001") >= 2


@pytest.mark.parametrize("role", ["installer", "platform"])
async def test_installers_and_the_platform_neither_read_nor_act(inc: Incidents, role: str) -> None:
    fire = await inc.alarm("sd-0101")
    client = inc.api.as_(await inc.api.issue(role))
    for response in (
        await client.get("/incidents"),
        await client.get(f"/incidents/{fire}"),
        await act(client, fire, action="ack"),
        await client.get("/stats"),
    ):
        assert response.status_code == 403
    assert (await inc.service.get(fire)).status == "dispatched"


async def test_a_viewer_reads_but_does_not_act(inc: Incidents) -> None:
    fire = await inc.alarm("sd-0101")
    grafana = inc.api.as_(await inc.api.issue("viewer", "grafana"))
    assert (await grafana.get(f"/incidents/{fire}")).status_code == 200
    refused = await act(grafana, fire, action="ack")
    assert (refused.status_code, refused.json()) == (
        403,
        {"detail": "this needs the officer or worker role"},
    )


async def test_a_step_that_does_not_fit_is_409_naming_the_status(inc: Incidents) -> None:
    fire = await inc.alarm("sd-0101")
    early = await inc.api.admin.post(f"/incidents/{fire}/actions", json={"action": "verify"})
    assert early.status_code == 409
    assert early.json()["detail"] == (
        f"incident {fire} is dispatched: cannot verify: only a handled incident can be verified"
    )
    for step in ("ack", "arrive", "handle", "verify", "close"):
        response = await act(inc.api.admin, fire, action=step)
        assert response.status_code == 200, response.text
    again = await act(inc.api.admin, fire, action="close")
    assert again.status_code == 409 and f"{fire} is closed" in again.json()["detail"]


@pytest.mark.parametrize(
    ("body", "locs"),
    [
        ({"action": "dance"}, [["body", "action"]]),
        ({}, [["body", "action"]]),
        ({"action": "handle", "outcome": "maybe"}, [["body", "outcome"]]),
        ({"action": "ack", "note": "x" * 2001}, [["body", "note"]]),
        ({"action": "ack", "actor": "w 001"}, [["body", "actor"]]),
        ({"action": "ack", "by": "w-001"}, [["body", "by"]]),
    ],
)
async def test_a_bad_action_body_is_422_naming_the_field(
    inc: Incidents, body: dict[str, object], locs: list[list[str]]
) -> None:
    fire = await inc.alarm("sd-0101")
    response = await inc.api.admin.post(f"/incidents/{fire}/actions", json=body)
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == locs


async def test_filters_and_paging_newest_first(inc: Incidents) -> None:
    opened = []
    for device, rule in (
        ("sd-0101", "smoke"),
        ("sd-0101", "fault"),
        ("sd-0102", "smoke"),
        ("sd-0102", "fault"),
    ):
        opened.append(await inc.alarm(device, rule))
        inc.clock.now += 60
    for step in ("ack", "arrive", "handle", "verify", "close"):
        await act(inc.api.admin, opened[0], action=step)
    newest_first = opened[::-1]

    async def ids(**params: str | int | bool) -> list[str]:
        response = await inc.api.admin.get("/incidents", params=params)
        assert response.status_code == 200, response.text
        return [i["id"] for i in response.json()]

    assert await ids() == newest_first
    assert await ids(limit=2) == newest_first[:2]
    assert await ids(limit=2, offset=2) == newest_first[2:]
    assert await ids(grid="G-0102") == [opened[3], opened[2]]
    assert await ids(device="sd-0101") == [opened[1], opened[0]]
    assert await ids(kind="device_fault") == [opened[3], opened[1]]
    assert await ids(status="closed") == [opened[0]]
    assert await ids(open=False) == [opened[0]]
    assert await ids(open=True) == newest_first[:3]
    assert await ids(open=False, status="dispatched") == []
    listed = (await inc.api.admin.get("/incidents", params={"limit": 1})).json()[0]
    assert "timeline" not in listed and listed["grid"] == "G-0102"

    leader = await worker(inc, "w-101")  # its page merges two grids, in the same order
    response = await leader.get("/incidents", params={"limit": 2, "offset": 1})
    assert [i["id"] for i in response.json()] == newest_first[1:3]

    bad = await inc.api.admin.get("/incidents", params={"status": "burning", "limit": 0})
    assert bad.status_code == 422
    assert [e["loc"] for e in bad.json()["detail"]] == [["query", "status"], ["query", "limit"]]
