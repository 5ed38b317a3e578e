"""A restart resumes: open incidents, their deadlines and reminders, and undelivered outbox rows."""

from __future__ import annotations

from pathlib import Path

from bridge.mqtt_dispatch import MqttDispatcher
from gateway.incidents import Stage, Status
from tests.unit.test_incident_world import BASE, FakeClock, FakeTopology, open_world, smoke


async def test_open_incidents_deadlines_and_undelivered_rows_survive_a_restart(
    tmp_path: Path,
) -> None:
    clock, topology = FakeClock(), FakeTopology()
    published: list[str] = []

    def publish(topic: str, payload: bytes, qos: int) -> None:
        published.append(topic)

    async with open_world(tmp_path, clock=clock, topology=topology) as w:
        (fire, _) = await w.service.apply([smoke("smoke-1")])
        await MqttDispatcher(w.store, publish, clock=clock).run_once()  # 4 rows out
        clock.advance(30)
        await w.service.apply([smoke("smoke-2", at=clock.now)])  # 4 rows still queued
        undelivered = [r.event_id for r in await w.pending()]

    async with open_world(tmp_path, clock=clock, topology=topology) as w:
        restored = {i.id: i for i in w.service.open_incidents()}
        assert len(restored) == 2
        first = restored[fire.incident.id]
        assert (first.status, first.due_stage, first.due_at) == (
            Status.DISPATCHED,
            Stage.ACCEPT,
            BASE + 60,
        )
        assert w.service.next_wakeup() == BASE + 60
        assert [r.event_id for r in await w.pending()] == undelivered

        (repeat,) = await w.service.apply([smoke("smoke-1", at=clock.now)])  # dedupe resumes
        assert (repeat.event, repeat.incident.id, repeat.incident.count) == (
            "repeat",
            fire.incident.id,
            2,
        )
        clock.advance(30)
        (escalated,) = await w.service.tick()  # the timer that was running goes off
        assert (escalated.event, escalated.incident.id) == ("escalated", fire.incident.id)

        assert await MqttDispatcher(w.store, publish, clock=clock).run_once() == 4 + 2
        assert len(published) == 4 + 4 + 2


async def test_reminders_resume_their_count_and_a_long_outage_does_not_burst(
    tmp_path: Path,
) -> None:
    clock, topology = FakeClock(), FakeTopology()
    async with open_world(tmp_path, clock=clock, topology=topology) as w:
        await w.service.apply([smoke()])
        for _ in range(2):
            clock.advance(30)
            await w.service.tick()  # escalated at 60
        clock.advance(30)
        (reminded,) = await w.service.tick()
        assert (reminded.event, reminded.incident.reminders) == ("remind", 1)

    clock.advance(3600)  # the gateway was down for an hour
    async with open_world(tmp_path, clock=clock, topology=topology) as w:
        (incident,) = w.service.open_incidents()
        assert incident.reminders == 1 and incident.escalation_level == 1

        (step,) = await w.service.tick()  # one rung per tick, not four at once
        assert (step.event, step.incident.escalation_level) == ("escalated", 2)
        assert await w.service.tick() == []
        clock.advance(30)
        (again,) = await w.service.tick()
        assert (again.event, again.incident.reminders) == ("remind", 1)


async def test_a_closed_incident_stays_closed_and_acts_are_refused_after_a_restart(
    tmp_path: Path,
) -> None:
    clock, topology = FakeClock(), FakeTopology()
    async with open_world(tmp_path, clock=clock, topology=topology) as w:
        (fire, _) = await w.service.apply([smoke()])
        for action in ("ack", "handle", "verify", "close"):
            await w.service.act(fire.incident.id, action, "officer-1")

    async with open_world(tmp_path, clock=clock, topology=topology) as w:
        assert w.service.open_incidents() == []
        incident = await w.service.get(fire.incident.id)
        assert incident.status is Status.CLOSED
        assert [e.event for e in incident.timeline][-4:] == [
            "accepted",
            "handled",
            "verified",
            "closed",
        ]
        (new, _) = await w.service.apply([smoke(at=clock.now)])
        assert new.incident.id != fire.incident.id
