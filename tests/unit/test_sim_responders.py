"""Simulated responders walk incidents round the closed loop through the real REST API and the
real incident service. MQTT is faked by handing the outbox's messages — the very topics and
bodies the bridge would publish — to the phones; the policy runs at pace 0 (no waiting)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.incidents.model import Action
from gateway.rules.outcomes import Clear, IncidentKind
from gateway.sim.responders import Responders, remaining
from gateway.sim.tokens import OFFICER_NAME
from tests.unit.test_sim_support import PEOPLE, World, world

LOOP = ("ack", "arrive", "handle", "verify", "close")


@pytest.fixture
async def w(tmp_path: Path) -> AsyncIterator[World]:
    async with world(tmp_path) as opened:
        yield opened


def steps(view: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["event"], e["actor"]) for e in view["timeline"] if e["event"] != "dispatch"]


async def test_a_kitchen_smoke_alarm_goes_round_the_whole_loop_as_a_false_alarm(w: World) -> None:
    async with w.crew() as crew:
        fire = await w.alarm("sd-0101")
        await w.until(w.closed(fire), "closed by the responders", crew.receive)
    view = await w.view(fire)
    assert steps(view) == [
        ("reported", "system"),
        ("dispatched", "system"),
        ("accepted", "w-001"),
        ("on_site", "w-001"),
        ("handled", "w-001"),
        ("verified", OFFICER_NAME),
        ("closed", OFFICER_NAME),
    ]
    assert view["outcome"] == "false_alarm", "cooking fumes in a kitchen (3号楼9层厨房)"
    arrived = next(e for e in view["timeline"] if e["event"] == "on_site")
    assert "ms-1" in arrived["note"], "the station dispatched with it turned out too"


async def test_a_second_fire_is_left_to_escalate_and_the_grid_leader_takes_it(w: World) -> None:
    async with w.crew() as crew:  # no end of run: there is time to watch an escalation
        first = await w.alarm("sd-0101")
        await w.until(w.closed(first), "the first fire is always answered", crew.receive)
        second = await w.alarm("sd-0102")
        await w.deliver(crew.receive)
        assert second not in crew.walking
        assert any("w-002 does not answer" in line for line in w.said)

        w.clock.now += 61  # the 60 s accept limit passes
        await w.service.tick()
        await w.until(w.closed(second), "the leader walks it round", crew.receive)
    view = await w.view(second)
    assert ("escalated", "system") in steps(view)
    assert steps(view)[-5:] == [
        ("accepted", "w-101"),
        ("on_site", "w-101"),
        ("handled", "w-101"),
        ("verified", OFFICER_NAME),
        ("closed", OFFICER_NAME),
    ]
    assert view["breaches"] == ["accept"]


async def test_nobody_is_left_unanswered_when_the_run_ends_before_the_limit(w: World) -> None:
    async with w.crew(ends_at=w.clock.now + 30) as crew:
        await w.alarm("sd-0101")
        second = await w.alarm("sd-0102")
        await w.deliver(crew.receive)
        assert second in crew.walking


async def test_an_incident_closed_by_its_clear_rule_ends_the_walk_quietly(w: World) -> None:
    async with w.crew() as crew:
        battery = await w.alarm("sd-0101", "smoke-low-battery", IncidentKind.LOW_BATTERY)
        await w.service.apply([Clear("smoke-low-battery", "sd-0101", w.clock.now)])

        async def walked() -> bool:
            return not crew.walking

        await w.until(walked, "the walk gives up", crew.receive)
    view = await w.view(battery)
    assert (view["status"], view["outcome"]) == ("closed", "recovered")
    assert ("accepted", "w-001") not in steps(view)


async def test_the_officer_closes_self_tests_and_the_tokens_are_revoked_on_exit(w: World) -> None:
    async with w.crew(test_sweep_s=0.001) as crew:
        test = await w.alarm("sd-0101", test=True)
        await w.until(w.closed(test), "the self-test closed", crew.receive)
        assert not crew.walking, "a self-test is the installer's: no phone walks it"
    assert (await w.view(test))["outcome"] == "test"
    assert w.access.tokens.tokens() == [], "every token the simulator took is revoked"
    assert len(w.access.tokens.tokens(include_revoked=True)) == len(PEOPLE) + 1


async def test_incidents_left_open_by_an_earlier_run_are_walked_on_from_where_they_stand(
    w: World,
) -> None:
    fire = await w.alarm("sd-0101")
    await w.service.act(fire, Action.ACK, "w-001")
    await w.service.act(fire, Action.ARRIVE, "w-001")
    await w.drop_outbox()
    async with w.crew() as crew:
        await w.until(w.closed(fire), "resumed and closed", crew.receive)
    assert steps(await w.view(fire))[-3:] == [
        ("handled", "w-001"),
        ("verified", OFFICER_NAME),
        ("closed", OFFICER_NAME),
    ]
    assert any("earlier run" in line for line in w.said)


@pytest.mark.parametrize(
    ("reached", "status", "left"),
    [
        ({}, "dispatched", LOOP),
        ({"accepted_at": 1}, "accepted", LOOP[1:]),
        ({"accepted_at": 1, "on_site_at": 2, "handled_at": 3}, "handled", LOOP[3:]),
        ({"accepted_at": 1}, "escalated", ("ack", *LOOP[1:])),
        ({}, "reported", ()),
    ],
)
def test_what_is_left_of_the_loop(
    reached: dict[str, float], status: str, left: tuple[str, ...]
) -> None:
    assert [a.value for a in remaining({"status": status, **reached})] == list(left)


async def test_phones_ignore_what_is_not_a_dispatch() -> None:
    async with httpx.AsyncClient() as http:
        crew = Responders(http, PEOPLE)
    crew.receive("grid/workers/w-001/alarms", b"{not json")
    crew.receive("grid/incidents/INC-1/events", b'{"incident_id": "INC-1", "kind": "fire"}')
    crew.receive("grid/workers/w-001/alarms", b'{"incident_id": "INC-1", "kind": "fire"}')
    assert not crew.walking, "no token yet: nobody to walk it"
