"""``GET /events``: the console's live stream — who gets which incidents, and how it ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.api import events as events_module
from gateway.api.auth import Principal
from gateway.api.events import EventHub
from gateway.tokens import Role
from tests.unit.test_console_support import Stream, World, console_world, served


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with console_world(tmp_path) as found:
        yield found


def devices(stream: Stream) -> list[tuple[str, str, bool]]:
    return [
        (i["event"], i["incident"]["device_id"], i["incident"]["test"]) for i in stream.incidents()
    ]


async def test_a_worker_gets_only_its_own_grids_incidents_live(world: World) -> None:
    zhang = await world.api.issue("worker", "张伟", "w-001")
    async with served(world) as base:
        stream = Stream(base, zhang)
        await stream.ready()
        assert stream.events[0] == ("ready", {"role": "worker", "grids": ["G-0101"]})

        await world.alarm("sd-0102")  # G-0102: w-002's
        await world.alarm("sd-0101", rule_id="smoke-test", test=True)  # the installer's
        mine = await world.alarm("sd-0101")
        await stream.wait("sd-0101's alarm", lambda _: len(stream.incidents()) >= 2)

        # Events are in commit order on one queue: had the others been let through, they
        # would have come first.
        assert devices(stream) == [("reported", "sd-0101", False), ("dispatched", "sd-0101", False)]
        assert stream.incidents()[0]["incident"]["id"] == mine
        assert stream.incidents()[0]["incident"]["grid"] == "G-0101"
        await stream.close()


async def test_a_worker_sees_its_steps_and_the_closing_pushed(world: World) -> None:
    zhang = await world.api.issue("worker", "张伟", "w-001")
    officer = world.api.as_(await world.api.issue("officer", "李监管"))
    fire = await world.alarm("sd-0101")
    async with served(world) as base:
        stream = Stream(base, zhang)
        await stream.ready()
        for client, action in ((world.api.as_(zhang), "handle"), (officer, "verify")):
            response = await client.post(f"/incidents/{fire}/actions", json={"action": action})
            assert response.status_code == 200, response.text
        response = await officer.post(f"/incidents/{fire}/actions", json={"action": "close"})
        assert response.status_code == 200, response.text
        await stream.wait(
            "closed", lambda _: any(i["event"] == "closed" for i in stream.incidents())
        )
        assert [i["event"] for i in stream.incidents()] == ["handled", "verified", "closed"]
        assert stream.incidents()[-1]["actor"] == "李监管"
        await stream.close()


async def test_an_installer_gets_test_incidents_only_and_an_officer_everything(
    world: World,
) -> None:
    installer = await world.api.issue("installer", "inst-01")
    officer = await world.api.issue("officer", "李监管")
    async with served(world) as base:
        theirs, everything = Stream(base, installer), Stream(base, officer)
        await theirs.ready()
        await everything.ready()
        await world.alarm("sd-0102")
        await world.alarm("sd-0101", rule_id="smoke-test", test=True)
        await theirs.wait("the test incident", lambda _: len(theirs.incidents()) >= 1)
        await everything.wait(
            "both", lambda _: {d for _, d, _ in devices(everything)} == {"sd-0101", "sd-0102"}
        )

        assert {(d, test) for _, d, test in devices(theirs)} == {("sd-0101", True)}
        assert {(d, test) for _, d, test in devices(everything)} == {
            ("sd-0102", False),
            ("sd-0101", True),
        }
        await theirs.close()
        await everything.close()


async def test_the_stream_needs_a_token_and_a_role_that_reads_incidents(world: World) -> None:
    assert (await world.api.as_(None).get("/events")).status_code == 401
    assert (await world.api.as_("not-a-token").get("/events")).status_code == 401
    platform = world.api.as_(await world.api.issue("platform", "grid platform"))
    refused = await platform.get("/events")
    assert refused.status_code == 403


async def test_stopping_the_server_ends_the_open_streams(world: World) -> None:
    officer = await world.api.issue("officer", "李监管")
    async with served(world) as base:
        stream = Stream(base, officer)
        await stream.ready()
    # served() closed the hub and stopped the server: the stream saw its end, nothing hung.
    await stream.wait("the end", lambda events: events[-1][0] == "<end>")
    assert world.console.events.listeners == 0


async def test_a_stream_that_falls_behind_is_told_to_resync(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events_module, "QUEUE_SIZE", 3)
    hub = EventHub()
    world.service.subscribe(hub.publish)
    stream = hub.stream(Principal("李监管", Role.OFFICER))
    first = await anext(stream)
    assert b"event: ready" in first

    for _ in range(3):  # a fire (reported + dispatched) each: 6 events into a queue of 3
        await world.alarm("sd-0101")
        await world.alarm("sd-0102")
        world.clock.now += 1
    behind = await asyncio.wait_for(anext(stream), 1)
    assert behind.startswith(b"event: resync")
    hub.close()
    async with asyncio.timeout(2):  # what came after the resync, then the end
        rest = [message async for message in stream]
    assert len(rest) <= 3
