"""From a smoke alarm over real Mosquitto to the grid worker and the nearest micro fire station,
and on through the closed loop (reported → dispatched → accepted → on_site → handled →
verified → closed) through the REST API, with escalation on a fast clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from gateway.app import Gateway
from tests.integration.harness import (
    TOKEN,
    FastClock,
    Subscriber,
    eventually,
    publish,
    register,
    settings_for,
)
from tests.servers.mosquitto import MosquittoServer

pytestmark = pytest.mark.integration

LAT, LON = 31.235, 121.465  # grid G-0101: worker w-001, leader w-101
NEAR = {
    "id": "ms-near",
    "name": "贵州路微型消防站",
    "phone": "021-1",
    "lat": 31.2362,
    "lon": 121.4655,
}
FAR = {
    "id": "ms-far",
    "name": "南京路微型消防站",
    "phone": "021-2",
    "lat": 31.2400,
    "lon": 121.4700,
}
ALARM = orjson.dumps({"smoke": True, "battery_pct": 80})


def detector(device_id: str, building: str = "1 号楼") -> dict[str, Any]:
    location = {
        "address": "贵州路 101 号",
        "building": building,
        "floor": "3",
        "lat": LAT,
        "lon": LON,
    }
    return {
        "id": device_id,
        "profile": "smoke-detector",
        "name": f"{building} {device_id}",
        "location": location,
    }


@asynccontextmanager
async def district(
    mosquitto: MosquittoServer,
    tmp_path: Path,
    devices: list[dict[str, Any]],
    clock: Callable[[], float] | None = None,
) -> AsyncIterator[tuple[Gateway, httpx.AsyncClient]]:
    """A running gateway with the test district, its people, two stations and ``devices``."""
    settings = settings_for(tmp_path, mosquitto.url)
    gateway = Gateway(settings, clock=clock) if clock else Gateway(settings)
    async with gateway:
        assert gateway.mqtt is not None
        await asyncio.wait_for(gateway.mqtt.wait_connected(), 15)
        base = f"http://127.0.0.1:{gateway.api_port}/api/v1"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as api:
            await register(api, [])
            for worker in ("w-001", "w-002", "w-101"):
                assert (
                    await api.post("/workers", json={"id": worker, "name": worker, "phone": ""})
                ).status_code == 201
            for station in (NEAR, FAR):
                assert (await api.post("/stations", json=station)).status_code == 201
            await register(api, devices)
            yield gateway, api


async def token_for(
    api: httpx.AsyncClient, role: str, worker_id: str | None = None
) -> dict[str, str]:
    body: dict[str, Any] = {"role": role, "name": f"{role} {worker_id or ''}".strip()}
    if worker_id:
        body["worker_id"] = worker_id
    response = await api.post("/tokens", json=body)
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['secret']}"}


async def open_incidents(api: httpx.AsyncClient, **filters: str) -> list[dict[str, Any]]:
    response = await api.get("/incidents", params={"open": "true", **filters})
    assert response.status_code == 200, response.text
    items = response.json()
    items = items["items"] if isinstance(items, dict) else items
    return [i for i in items if i["status"] != "closed"]


async def test_a_smoke_alarm_reaches_its_worker_and_the_nearest_station_not_a_farther_one(
    mosquitto: MosquittoServer, tmp_path: Path
) -> None:
    phones = Subscriber(
        mosquitto.port, "grid/workers/+/alarms", "grid/stations/+/alarms", "grid/incidents/+/events"
    )
    try:
        async with district(mosquitto, tmp_path, [detector("sd-1")]) as (_, api):
            await asyncio.to_thread(publish, mosquitto.port, [("devices/sd-1/up", ALARM)])
            [worker] = await eventually(
                lambda: phones.on("grid/workers/w-001/alarms"), "the worker's phone rings"
            )
            [station] = await eventually(
                lambda: phones.on("grid/stations/ms-near/alarms"), "the near station"
            )
            incident_id = worker["incident_id"]
            await eventually(
                lambda: any(
                    e["transition"] == "dispatched"
                    for e in phones.on(f"grid/incidents/{incident_id}/events")
                ),
                "the dispatched event",
            )
            incident = (await api.get(f"/incidents/{incident_id}")).json()
    finally:
        phones.close()
    assert phones.on("grid/stations/ms-far/alarms") == []
    assert {k: worker[k] for k in ("kind", "severity", "device_id", "grid")} == {
        "kind": "fire",
        "severity": "critical",
        "device_id": "sd-1",
        "grid": "G-0101",
    }
    assert worker["location"] == {
        "address": "贵州路 101 号",
        "building": "1 号楼",
        "floor": "3",
        "lat": LAT,
        "lon": LON,
    }
    assert worker["opened_at"].endswith("Z") and worker["title"]
    assert station["incident_id"] == incident_id and 100 < station["distance_m"] < 200
    assert incident["status"] == "dispatched"
    dispatches = [e["data"] for e in incident["timeline"] if e["event"] == "dispatch"]
    assert {(d["role"], d["recipient"]) for d in dispatches} == {
        ("worker", "w-001"),
        ("station", "ms-near"),
    }


async def test_the_incident_walks_the_whole_closed_loop_through_the_rest_api(
    mosquitto: MosquittoServer, tmp_path: Path
) -> None:
    events = Subscriber(mosquitto.port, "grid/incidents/+/events")
    try:
        async with district(mosquitto, tmp_path, [detector("sd-1")]) as (_, api):
            worker = await token_for(api, "worker", "w-001")
            stranger = await token_for(api, "worker", "w-002")
            officer = await token_for(api, "officer")
            await asyncio.to_thread(publish, mosquitto.port, [("devices/sd-1/up", ALARM)])
            [incident] = await eventually(
                lambda: open_incidents(api, device="sd-1"), "incident opened"
            )
            url = f"/incidents/{incident['id']}/actions"

            refused = await api.post(
                url, json={"action": "ack", "actor": "w-002"}, headers=stranger
            )
            assert refused.status_code in (403, 404), refused.text
            too_early = await api.post(
                url, json={"action": "verify", "actor": "officer"}, headers=officer
            )
            assert too_early.status_code == 409, too_early.text

            steps = [
                (worker, {"action": "ack", "actor": "w-001"}, "accepted"),
                (worker, {"action": "arrive", "actor": "w-001", "note": "到场"}, "on_site"),
                (
                    worker,
                    {
                        "action": "handle",
                        "actor": "w-001",
                        "note": "厨房油烟, 误报",
                        "outcome": "false_alarm",
                    },
                    "handled",
                ),
                (
                    officer,
                    {"action": "verify", "actor": "officer-zhang", "note": "电话核实"},
                    "verified",
                ),
                (officer, {"action": "close", "actor": "officer-zhang"}, "closed"),
            ]
            for headers, body, status in steps:
                response = await api.post(url, json=body, headers=headers)
                assert response.status_code == 200, response.text
                assert response.json()["status"] == status
            final = (await api.get(f"/incidents/{incident['id']}")).json()
            wanted = ["dispatched", "accepted", "on_site", "handled", "verified", "closed"]
            await eventually(
                lambda: (
                    [e["transition"] for e in events.on(f"grid/incidents/{incident['id']}/events")][
                        -6:
                    ]
                    == wanted
                ),
                "every transition published in order",
            )
    finally:
        events.close()
    assert final["status"] == "closed" and final["outcome"] == "false_alarm"
    steps_seen = [e["event"] for e in final["timeline"]]
    assert [s for s in steps_seen if s in wanted] == wanted
    handled = next(e for e in final["timeline"] if e["event"] == "handled")
    assert (handled["actor"], handled["note"]) == ("w-001", "厨房油烟, 误报")


async def test_an_unacknowledged_fire_escalates_and_reminds_until_acknowledged(
    mosquitto: MosquittoServer, tmp_path: Path
) -> None:
    """Fire: accepted within 60 s. At 60× speed the minute passes in a second of test time."""
    clock = FastClock(speed=60)
    phones = Subscriber(mosquitto.port, "grid/workers/+/alarms", "grid/centre/alarms")
    try:
        async with district(mosquitto, tmp_path, [detector("sd-1")], clock=clock) as (_, api):
            await asyncio.to_thread(publish, mosquitto.port, [("devices/sd-1/up", ALARM)])
            [incident] = await eventually(
                lambda: open_incidents(api, device="sd-1"), "incident opened"
            )
            leader = await eventually(
                lambda: phones.on("grid/workers/w-101/alarms"), "the grid leader is alerted"
            )
            await eventually(lambda: phones.on("grid/centre/alarms"), "the centre is alerted")
            await eventually(
                lambda: len([m for m in phones.on("grid/centre/alarms") if m.get("reminder")]) >= 2,
                "repeated reminders",
            )
            escalated = (await api.get(f"/incidents/{incident['id']}")).json()
            # Accepting ends the accept stage, but the 3-minute on-site limit has passed too:
            # reminders go on until someone is on site.
            for action in ("ack", "arrive"):
                url = f"/incidents/{incident['id']}/actions"
                response = await api.post(url, json={"action": action, "actor": "w-101"})
                assert response.status_code == 200, response.text
            reminders_at_ack = len([m for m in phones.messages if m[1].get("reminder")])
            acked_at = clock()
            # Reminders come every 30 s of incident time: let four intervals pass.
            await eventually(lambda: clock() > acked_at + 120, "two minutes of incident time")
    finally:
        phones.close()
    assert leader[0]["escalation_level"] == 1 and leader[0]["incident_id"] == incident["id"]
    assert escalated["status"] == "escalated" and escalated["escalation_level"] == 4
    escalations = [e["data"]["to"] for e in escalated["timeline"] if e["event"] == "escalated"]
    assert escalations == ["leader", "centre"]
    assert any(m.get("reminder") for m in phones.on("grid/workers/w-101/alarms"))
    later = [m for m in phones.messages if m[1].get("reminder")][reminders_at_ack:]
    assert later == [], [(t, p.get("reason"), p.get("escalation_level")) for t, p in later]


async def test_two_detectors_in_one_building_open_one_confirmed_fire_incident(
    mosquitto: MosquittoServer, tmp_path: Path
) -> None:
    devices = [detector("sd-1"), detector("sd-2"), detector("sd-9", building="9 号楼")]
    async with district(mosquitto, tmp_path, devices) as (_, api):
        alarms = [("devices/sd-1/up", ALARM), ("devices/sd-2/up", ALARM)]
        await asyncio.to_thread(publish, mosquitto.port, alarms)

        async def one_confirmed_fire() -> list[dict[str, Any]] | None:
            fires = await open_incidents(api, kind="fire")
            confirmed = [i for i in fires if i["rule_id"] == "fire-confirmed-building"]
            return fires if len(fires) == 1 and confirmed else None

        [confirmed] = await eventually(one_confirmed_fire, "exactly one open fire: the building's")
        detail = (await api.get(f"/incidents/{confirmed['id']}")).json()
    assert confirmed["severity"] == "critical" and confirmed["count"] >= 2
    assert confirmed["device_id"] in {"sd-1", "sd-2"}
    absorbed = [e for e in detail["timeline"] if e["event"] == "absorbed"]
    assert absorbed, detail["timeline"]  # the first detector's own incident was merged in (并案)


async def test_200_concurrent_alarm_messages_from_one_device_open_exactly_one_incident(
    mosquitto: MosquittoServer, tmp_path: Path
) -> None:
    """A detector flapping between alarm and quiet: every alarm edge is a new Alarm outcome
    (200 of them, arriving as fast as the broker delivers), and all land on one incident."""
    async with district(mosquitto, tmp_path, [detector("sd-1")]) as (_, api):
        burst = [
            ("devices/sd-1/up", orjson.dumps({"smoke": n % 2 == 0, "seq": n})) for n in range(400)
        ]
        await asyncio.to_thread(publish, mosquitto.port, burst)

        async def counted() -> list[dict[str, Any]] | None:
            items = await open_incidents(api, device="sd-1")
            return items if items and items[0]["count"] == 200 else None

        await eventually(counted, "200 alarm edges counted on one incident")
        response = await api.get("/incidents", params={"device": "sd-1"})
    body = response.json()
    items = body["items"] if isinstance(body, dict) else body
    assert len(items) == 1 and items[0]["count"] == 200
