"""The bridge end to end: a smoke alarm over real Mosquitto, the real gateway, and real local
HTTP servers standing in for the grid-governance platform and a WeCom group bot.

"线上吹哨、线下报到": every event of the closed loop reaches the platform, signed, in order,
through a platform outage and a gateway restart; the platform's callbacks move incidents only
when signed; a worker accepts from the link in the message on the phone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson

from gateway.app import Gateway
from tests.integration.harness import (
    TOKEN,
    FastClock,
    eventually,
    metric,
    publish,
    register,
    settings_for,
)
from tests.integration.test_incidents_e2e import ALARM, FAR, NEAR, detector, open_incidents
from tests.servers.mosquitto import MosquittoServer
from tests.unit.test_bridge_support import SECRET, Received, Receiver, sign, signed_by

CLOSED_LOOP = ["dispatched", "accepted", "on_site", "handled", "verified", "closed"]
WALK = [
    {"action": "ack", "actor": "w-001"},
    {"action": "arrive", "actor": "w-001"},
    {"action": "handle", "actor": "w-001", "outcome": "false_alarm", "note": "厨房油烟"},
    {"action": "verify", "actor": "officer-zhang"},
    {"action": "close", "actor": "officer-zhang"},
]
FAST_RETRIES = {"outbox_backoff_s": 0.05, "outbox_backoff_max_s": 0.3}


@asynccontextmanager
async def district(
    mosquitto: MosquittoServer,
    tmp_path: Path,
    devices: list[dict[str, Any]],
    clock: Callable[[], float] | None = None,
    **settings: Any,
) -> AsyncIterator[tuple[Gateway, httpx.AsyncClient]]:
    """The running gateway with the test district, workers with phones, two stations."""
    gateway = Gateway(settings_for(tmp_path, mosquitto.url, **settings), clock or time.time)
    async with gateway:
        assert gateway.mqtt is not None
        await asyncio.wait_for(gateway.mqtt.wait_connected(), 15)
        base = f"http://127.0.0.1:{gateway.api_port}/api/v1"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as api:
            await register(api, [])
            for worker, phone in (("w-001", "13800000001"), ("w-101", "13800000101")):
                body = {"id": worker, "name": worker, "phone": phone}
                assert (await api.post("/workers", json=body)).status_code in (201, 409)
            for station in (NEAR, FAR):
                assert (await api.post("/stations", json=station)).status_code in (201, 409)
            await register(api, devices)
            yield gateway, api


async def alarm(mosquitto: MosquittoServer, api: httpx.AsyncClient, device: str) -> str:
    await asyncio.to_thread(publish, mosquitto.port, [(f"devices/{device}/up", ALARM)])
    [incident] = await eventually(lambda: open_incidents(api, device=device), f"{device} opened")
    return str(incident["id"])


async def walk(api: httpx.AsyncClient, incident_id: str, steps: list[dict[str, Any]]) -> None:
    for step in steps:
        response = await api.post(f"/incidents/{incident_id}/actions", json=step)
        assert response.status_code == 200, response.text


def first_arrivals(requests: list[Received]) -> dict[str, list[dict[str, Any]]]:
    """Per incident, each event once (its first arrival), in arrival order."""
    seen: set[str] = set()
    per: dict[str, list[dict[str, Any]]] = {}
    for r in requests:
        event = r.json()
        if event["event_id"] not in seen:
            seen.add(event["event_id"])
            per.setdefault(event["incident_id"], []).append(event)
    return per


def transitions(events: list[dict[str, Any]]) -> list[str]:
    return [e["transition"] for e in events]


async def test_the_platform_gets_every_event_of_the_closed_loop_in_order_and_signed(
    mosquitto: MosquittoServer, tmp_path: Path
) -> None:
    receiver = await Receiver().start()
    try:
        platform = {"platform_url": f"{receiver.url}/shzl/events", "platform_secret": SECRET}
        async with district(mosquitto, tmp_path, [detector("sd-1")], **platform) as (_, api):
            incident_id = await alarm(mosquitto, api, "sd-1")
            await walk(api, incident_id, WALK)
            await eventually(
                lambda: len(receiver.accepted) == 7, "seven events at the platform", within=20
            )
    finally:
        await receiver.stop()

    events = [r.json() for r in receiver.accepted]
    assert transitions(events) == ["reported", *CLOSED_LOOP]
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5, 6, 7]
    assert {e["incident_id"] for e in events} == {incident_id}
    assert len({e["event_id"] for e in events}) == 7
    assert all(signed_by(SECRET, r) for r in receiver.accepted)
    assert all(r.headers["Idempotency-Key"] == r.event_id for r in receiver.accepted)
    assert {r.path for r in receiver.accepted} == {"/shzl/events"}
    closed = events[-1]["incident"]
    assert (closed["status"], closed["outcome"], closed["device_id"]) == (
        "closed",
        "false_alarm",
        "sd-1",
    )
    assert [e["actor"] for e in events[2:]] == ["w-001"] * 3 + ["officer-zhang"] * 2


async def test_a_platform_outage_loses_nothing_and_keeps_each_incidents_order(
    mosquitto: MosquittoServer, tmp_path: Path
) -> None:
    """Down for a while (connection refused), then back; on its return it also loses the
    first answer to every ``reported`` event, so those arrive twice."""
    receiver = await Receiver().start()
    port = receiver.port
    await receiver.stop()
    lost_answer: set[str] = set()

    def answer(r: Received) -> int:
        event = r.json()
        if event["transition"] == "reported" and event["event_id"] not in lost_answer:
            lost_answer.add(event["event_id"])
            return 503  # the platform stored it, but the answer never made it back
        return 200

    receiver.answer = answer
    devices = [detector("sd-1", "1 号楼"), detector("sd-9", "9 号楼")]
    platform = {"platform_url": f"http://127.0.0.1:{port}/events", "platform_secret": SECRET}
    try:
        async with district(mosquitto, tmp_path, devices, **platform, **FAST_RETRIES) as (_, api):
            first = await alarm(mosquitto, api, "sd-1")
            second = await alarm(mosquitto, api, "sd-9")
            await walk(api, first, WALK[:2])
            await walk(api, second, WALK[:1])
            await eventually(
                lambda: metric(api, "firegrid_outbox_failures_total", channel="platform"),
                "failed attempts while the platform is down",
            )
            assert await metric(api, "firegrid_outbox_depth", channel="platform") == 7
            receiver.port = port
            await receiver.start()
            await eventually(
                lambda: len({r.event_id for r in receiver.accepted}) == 7,
                "all seven events accepted once the platform is back",
            )

            async def drained() -> bool:
                return await metric(api, "firegrid_outbox_depth", channel="platform") == 0

            await eventually(drained, "the platform's backlog drained")
    finally:
        await receiver.stop()

    per = first_arrivals(receiver.requests)
    assert transitions(per[first]) == ["reported", "dispatched", "accepted", "on_site"]
    assert transitions(per[second]) == ["reported", "dispatched", "accepted"]
    for events in per.values():
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    twice = [r for r in receiver.requests if r.event_id in lost_answer]
    assert len(twice) == 4  # each reported event: the lost answer, then the accepted retry
    for event_id in lost_answer:
        copies = [r for r in twice if r.event_id == event_id]
        assert copies[0].body == copies[1].body
        assert {c.headers["Idempotency-Key"] for c in copies} == {event_id}


async def test_a_gateway_stopped_mid_delivery_resumes_after_restart_and_loses_nothing(
    mosquitto: MosquittoServer, tmp_path: Path
) -> None:
    receiver = await Receiver().start()
    receiver.hold = asyncio.Event()
    receiver.hold.set()
    platform = {"platform_url": f"{receiver.url}/events", "platform_secret": SECRET}
    try:
        async with district(mosquitto, tmp_path, [detector("sd-1")], **platform) as (_, api):
            incident_id = await alarm(mosquitto, api, "sd-1")
            await eventually(lambda: len(receiver.accepted) == 2, "reported and dispatched")
            stuck = receiver.hold = asyncio.Event()  # the platform stops answering mid-request
            await walk(api, incident_id, WALK[:3])
            await eventually(lambda: len(receiver.requests) == 3, "the accepted event in flight")
        # Stopped with one event in flight and two behind it, none of them answered.
        receiver.hold = None
        async with district(mosquitto, tmp_path, [], **platform) as (_, api):
            await walk(api, incident_id, WALK[3:])
            await eventually(
                lambda: len({r.event_id for r in receiver.accepted}) == 7,
                "every event delivered after the restart",
            )
        stuck.set()  # the request the first gateway abandoned is answered into the void
    finally:
        await receiver.stop()

    [events] = first_arrivals(receiver.requests).values()
    assert transitions(events) == ["reported", *CLOSED_LOOP]
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5, 6, 7]
    in_flight = receiver.requests[2]
    assert [r.event_id for r in receiver.requests].count(in_flight.event_id) == 2  # re-sent
    assert all(signed_by(SECRET, r) for r in receiver.requests)


async def test_only_a_signed_fresh_callback_moves_an_incident_and_its_platform_id_is_kept(
    mosquitto: MosquittoServer, tmp_path: Path
) -> None:
    async with district(mosquitto, tmp_path, [detector("sd-1")], platform_secret=SECRET) as (
        _,
        api,
    ):
        incident_id = await alarm(mosquitto, api, "sd-1")
        before = (await api.get(f"/incidents/{incident_id}")).json()
        # The platform holds no bearer token: only the signature authenticates it.
        async with httpx.AsyncClient(base_url=str(api.base_url), timeout=10) as platform:
            content = orjson.dumps(
                {
                    "incident_id": incident_id,
                    "action": "ack",
                    "actor": "w-001",
                    "platform_ref": "SHZL-2026-000042",
                }
            )
            refused = [
                await platform.post("/platform/callback", content=content, headers=headers)
                for headers in (
                    {},
                    sign("wrong-secret", content),
                    sign(SECRET, content, at=time.time() - 600),
                    sign(SECRET, content + b" "),
                )
            ]
            unchanged = (await api.get(f"/incidents/{incident_id}")).json()
            accepted = await platform.post(
                "/platform/callback", content=content, headers=sign(SECRET, content)
            )

    assert [r.status_code for r in refused] == [401, 401, 401, 401]
    assert unchanged == before
    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["status"], accepted.json()["platform_ref"]) == (
        "accepted",
        "SHZL-2026-000042",
    )


async def test_a_worker_accepts_the_alarm_from_the_link_in_the_wecom_message(
    mosquitto: MosquittoServer, tmp_path: Path
) -> None:
    bot = await Receiver().start()
    routing = tmp_path / "notify.yaml"
    routing.write_text(
        "workers:\n"
        f"  w-001: {{wecom: '{bot.url}/cgi-bin/webhook/send?key=grid-0101'}}\n"
        "routes:\n"
        "  - {to: [worker], channels: [wecom]}\n",
        encoding="utf-8",
    )
    try:
        async with district(mosquitto, tmp_path, [detector("sd-1")], notify_file=routing) as (
            gateway,
            api,
        ):
            incident_id = await alarm(mosquitto, api, "sd-1")
            [message] = await eventually(lambda: bot.accepted, "the WeCom group got the alarm")
            text = message.json()["text"]["content"]
            link = text.rsplit("：", 1)[1]
            async with httpx.AsyncClient(timeout=10) as phone:  # no bearer token
                page = await phone.get(link, headers={"Accept": "text/html"})
                after_preview = (await api.get(f"/incidents/{incident_id}")).json()["status"]
                accepted = await phone.post(link, headers={"Accept": "text/html"})
            incident = (await api.get(f"/incidents/{incident_id}")).json()
            delivered = await metric(api, "firegrid_outbox_delivered_total", channel="wecom")
    finally:
        await bot.stop()

    assert message.json()["text"]["mentioned_mobile_list"] == ["13800000001"]
    assert text.startswith("【火警·紧急】") and f"事件编号：{incident_id}" in text
    assert link.startswith(f"http://127.0.0.1:{gateway.api_port}/api/v1/ack/")
    assert page.status_code == 200 and "确认接单" in page.text
    assert after_preview == "dispatched"
    assert accepted.status_code == 200 and "已接单" in accepted.text
    step = next(e for e in incident["timeline"] if e["event"] == "accepted")
    assert (incident["status"], step["actor"]) == ("accepted", "w-001")
    assert delivered >= 1  # the station's dispatch is not routed to WeCom: done, nothing sent


async def test_escalation_reminders_reach_the_grid_leader_on_wecom(
    mosquitto: MosquittoServer, tmp_path: Path
) -> None:
    """Fire: accepted within 60 s, then reminded every 30 s; at 60× a minute is a second."""
    bot = await Receiver().start()
    routing = tmp_path / "notify.yaml"
    routing.write_text(
        "workers:\n"
        f"  w-101: {{wecom: '{bot.url}/send?key=leader'}}\n"
        "routes:\n"
        "  - {to: [leader], channels: [wecom]}\n",
        encoding="utf-8",
    )
    try:
        async with district(
            mosquitto, tmp_path, [detector("sd-1")], clock=FastClock(60), notify_file=routing
        ) as (_, api):
            await alarm(mosquitto, api, "sd-1")
            await eventually(
                lambda: any("催办" in r.json()["text"]["content"] for r in bot.accepted),
                "a reminder to the grid leader",
            )
    finally:
        await bot.stop()

    texts = [r.json()["text"]["content"] for r in bot.accepted]
    assert "已逐级上报至：网格长（超时未处置）" in texts[0]
    assert any(t.startswith("【催办·第1次】【火警·紧急】") for t in texts[1:])
