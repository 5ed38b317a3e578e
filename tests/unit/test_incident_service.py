"""The incident service: open and dispatch, dedupe under concurrency, lifecycle, clear, tests."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from gateway.incidents import (
    IncidentConfig,
    IncidentNotFoundError,
    InvalidTransitionError,
    Outcome,
    Status,
)
from gateway.incidents.repository import Batch
from gateway.registry import ConflictError, NotFoundError
from gateway.rules.outcomes import IncidentKind, Severity
from tests.unit.test_incident_world import (
    BASE,
    cleared,
    low_battery,
    open_world,
    smoke,
    timeline_events,
)

EVENTS = "grid/incidents/{}/events"


async def test_a_smoke_alarm_in_g0301_reaches_its_worker_and_the_nearest_station(
    tmp_path: Path,
) -> None:
    async with open_world(tmp_path) as w:
        transitions = await w.service.apply([smoke()])

        assert [t.event for t in transitions] == ["reported", "dispatched"]
        incident = await w.service.get(transitions[0].incident.id)
        assert incident.status is Status.DISPATCHED
        assert (incident.worker_id, incident.station_id) == ("w-0301", "ST-NEAR")
        assert incident.distance_m == pytest.approx(500, abs=2)
        assert timeline_events(incident) == ["reported", "dispatch", "dispatch", "dispatched"]
        dispatch = [e.data for e in incident.timeline if e.event == "dispatch"]
        assert dispatch[0]["topic"] == "grid/workers/w-0301/alarms"
        assert dispatch[1]["topic"] == "grid/stations/ST-NEAR/alarms"
        assert dispatch[1]["distance_m"] == incident.distance_m

        rows = await w.pending()
        events = EVENTS.format(incident.id)
        assert [(r.seq, r.topic) for r in rows] == [
            (1, events),
            (2, "grid/workers/w-0301/alarms"),
            (3, "grid/stations/ST-NEAR/alarms"),
            (4, events),
        ]
        station = orjson.loads(rows[2].body)
        assert station == station | {
            "incident_id": incident.id,
            "kind": "fire",
            "severity": "critical",
            "title": "Smoke at smoke-1",
            "device_id": "smoke-1",
            "location": {
                "address": "1 Shiji Ave",
                "building": "B1",
                "floor": "3",
                "lat": 31.2,
                "lon": 121.5,
            },
            "grid": "G-0301",
            "opened_at": "2026-03-02T02:00:00.000Z",
            "distance_m": incident.distance_m,
            "within_radius": True,
        }
        assert "distance_m" not in orjson.loads(rows[1].body)
        first, second = orjson.loads(rows[0].body), orjson.loads(rows[3].body)
        assert (first["seq"], first["transition"]) == (1, "reported")
        assert (second["seq"], second["transition"]) == (2, "dispatched")
        assert second["incident"]["status"] == "dispatched"
        assert second["incident"]["due"] == {"stage": "accept", "at": "2026-03-02T02:01:00.000Z"}
        assert first["event_id"] != second["event_id"]


async def test_200_concurrent_alarms_from_one_device_open_exactly_one_incident(
    tmp_path: Path,
) -> None:
    async with open_world(tmp_path) as w:
        results = await asyncio.gather(*(w.service.apply([smoke()]) for _ in range(200)))

        opened = [t for batch in results for t in batch if t.event == "reported"]
        assert len(opened) == 1
        (incident,) = await w.service.list()
        assert incident.count == 200
        full = await w.service.get(incident.id)
        assert timeline_events(full).count("repeat") == 1  # count says how many, not the log
        assert len(await w.pending()) == 4  # repeats are not lifecycle transitions


async def test_a_repeat_after_the_quiet_period_gets_a_second_timeline_line(tmp_path: Path) -> None:
    async with open_world(tmp_path) as w:
        await w.service.apply([smoke(), smoke(), smoke()])
        w.clock.advance(w.service.config.repeat_note_every_s + 1)
        (transition,) = await w.service.apply([smoke(at=w.clock.now)])

        assert transition.event == "repeat"
        full = await w.service.get(transition.incident.id)
        assert full.count == 4
        assert full.last_seen == w.clock.now
        assert [e.data["count"] for e in full.timeline if e.event == "repeat"] == [2, 4]


async def test_the_database_refuses_a_second_open_incident_for_one_key(tmp_path: Path) -> None:
    async with open_world(tmp_path) as w:
        (opened, _) = await w.service.apply([smoke()])
        twin = replace(opened.incident, id="INC-twin")

        with pytest.raises(sqlite3.IntegrityError):
            await w.store.commit(Batch([twin]))


async def test_a_failed_write_changes_nothing_in_memory_or_on_disk(tmp_path: Path) -> None:
    async with open_world(tmp_path) as w:
        with sqlite3.connect(w.path) as db:
            db.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON outbox"
                " BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
            )
        with pytest.raises(sqlite3.IntegrityError, match="disk says no"):
            await w.service.apply([smoke()])

        assert await w.service.list() == []
        assert w.service.open_incidents() == []
        with sqlite3.connect(w.path) as db:
            db.execute("DROP TRIGGER refuse")
        transitions = await w.service.apply([smoke()])
        assert [t.event for t in transitions] == ["reported", "dispatched"]
        assert len(await w.pending()) == 4


async def test_the_closed_loop_from_dispatch_to_archive(tmp_path: Path) -> None:
    async with open_world(tmp_path) as w:
        (opened, _) = await w.service.apply([smoke()])
        iid = opened.incident.id
        steps = [
            ("ack", "w-0301", "on my way", None, Status.ACCEPTED),
            ("arrive", "w-0301", "", None, Status.ON_SITE),
            ("handle", "w-0301", "burnt toast", "false_alarm", Status.HANDLED),
            ("verify", "officer-1", "called the resident", None, Status.VERIFIED),
            ("close", "officer-1", "", None, Status.CLOSED),
        ]
        for action, actor, note, outcome, expected in steps:
            w.clock.advance(20)
            incident = await w.service.act(iid, action, actor, note, outcome)
            assert incident.status is expected

        assert incident.outcome is Outcome.FALSE_ALARM
        assert incident.accepted_at == BASE + 20
        assert incident.on_site_at == BASE + 40
        assert incident.handled_at == BASE + 60
        assert incident.verified_at == BASE + 80
        assert incident.closed_at == BASE + 100
        assert incident.due_at is None and incident.next_reminder_at is None
        last = incident.timeline[-5:]
        assert [(e.event, e.actor) for e in last] == [
            ("accepted", "w-0301"),
            ("on_site", "w-0301"),
            ("handled", "w-0301"),
            ("verified", "officer-1"),
            ("closed", "officer-1"),
        ]
        assert last[0].note == "on my way"
        events = [p for p in await w.payloads() if "transition" in p]
        assert [p["seq"] for p in events] == [1, 2, 3, 4, 5, 6, 7]
        assert [p["transition"] for p in events][2:] == [
            "accepted",
            "on_site",
            "handled",
            "verified",
            "closed",
        ]
        assert events[4]["actor"] == "w-0301"
        assert events[-1]["incident"]["outcome"] == "false_alarm"
        assert w.service.open_incidents() == []


@pytest.mark.parametrize(
    ("done", "action", "reason"),
    [
        ([], "verify", "only a handled incident can be verified"),
        ([], "close", "only a verified incident can be closed"),
        (["ack"], "ack", "already accepted"),
        (["arrive"], "ack", "already on_site"),
        (["handle"], "arrive", "already handled"),
        (["handle"], "escalate", "it has been handled"),
        (["handle", "verify", "close"], "handle", "it is closed"),
    ],
)
async def test_an_action_that_does_not_apply_is_refused_and_changes_nothing(
    tmp_path: Path, done: list[str], action: str, reason: str
) -> None:
    async with open_world(tmp_path) as w:
        (opened, _) = await w.service.apply([smoke()])
        iid = opened.incident.id
        for step in done:
            await w.service.act(iid, step, "w-0301")
        before = await w.service.get(iid)

        with pytest.raises(InvalidTransitionError, match=reason) as refused:
            await w.service.act(iid, action, "w-0301")

        assert isinstance(refused.value, ConflictError)  # the API answers 409 for it
        assert await w.service.get(iid) == before


async def test_an_unknown_incident_is_not_found(tmp_path: Path) -> None:
    async with open_world(tmp_path) as w:
        with pytest.raises(IncidentNotFoundError) as missing:
            await w.service.act("INC-nope", "ack", "w-0301")
        assert isinstance(missing.value, NotFoundError)  # the API answers 404 for it
        with pytest.raises(IncidentNotFoundError):
            await w.service.get("INC-nope")


async def test_arriving_without_accepting_implies_acceptance_and_handle_defaults_its_outcome(
    tmp_path: Path,
) -> None:
    async with open_world(tmp_path) as w:
        (opened, _) = await w.service.apply([smoke()])
        w.clock.advance(100)
        arrived = await w.service.act(opened.incident.id, "arrive", "ST-NEAR")
        handled = await w.service.act(opened.incident.id, "handle", "ST-NEAR", "put out")

        assert arrived.accepted_at == arrived.on_site_at == BASE + 100
        assert handled.outcome is Outcome.OTHER
        assert handled.due_at is None


async def test_a_platform_action_keeps_the_platform_reference(tmp_path: Path) -> None:
    async with open_world(tmp_path) as w:
        (opened, _) = await w.service.apply([smoke()])
        incident = await w.service.act(
            opened.incident.id, "ack", "platform:PF-77", platform_ref="PF-77"
        )
        assert incident.platform_ref == "PF-77"
        assert incident.timeline[-1].actor == "platform:PF-77"


async def test_a_clear_closes_a_non_fire_incident_as_recovered_by_the_system(
    tmp_path: Path,
) -> None:
    async with open_world(tmp_path) as w:
        (opened, _) = await w.service.apply([low_battery()])
        w.clock.advance(60)
        (closed,) = [t for t in await w.service.apply([cleared("low-battery")])]

        assert (closed.event, closed.actor) == ("closed", "system")
        incident = await w.service.get(opened.incident.id)
        assert incident.status is Status.CLOSED
        assert incident.outcome is Outcome.RECOVERED
        assert incident.timeline[-1].actor == "system"
        assert "recovered" in incident.timeline[-1].note
        assert (await w.payloads())[-1]["incident"]["outcome"] == "recovered"

        (reopened, _) = await w.service.apply([low_battery(at=w.clock.now)])
        assert reopened.incident.id != opened.incident.id


async def test_a_clear_never_closes_a_fire(tmp_path: Path) -> None:
    async with open_world(tmp_path) as w:
        (opened, _) = await w.service.apply([smoke()])
        (noted,) = await w.service.apply([cleared("smoke")])

        assert noted.event == "cleared"
        incident = await w.service.get(opened.incident.id)
        assert incident.status is Status.DISPATCHED
        assert timeline_events(incident)[-1] == "cleared"
        assert await w.service.apply([cleared("smoke", subject="nobody")]) == []


async def test_a_test_alarm_goes_only_to_the_installer_and_is_never_escalated(
    tmp_path: Path,
) -> None:
    async with open_world(tmp_path) as w:
        alarm = smoke(test=True, rule_id="smoke-test", detail={"installer": "inst-9"})
        (opened, _) = await w.service.apply([alarm])

        rows = await w.pending()
        assert [r.topic for r in rows if r.recipient] == ["grid/installers/inst-9/alarms"]
        assert orjson.loads(rows[1].body)["test"] is True
        with pytest.raises(InvalidTransitionError, match="never escalated"):
            await w.service.act(opened.incident.id, "escalate", "officer-1")
        w.clock.advance(w.service.config.test_ttl_s - 1)
        assert await w.service.tick() == []  # no time limit breach, no reminder

        (closed,) = await w.service.apply([cleared("smoke-test")])
        assert closed.incident.outcome is Outcome.TEST
        assert await w.service.list(test=False) == []  # stats leave them out
        assert len(await w.service.list(test=True)) == 1


async def test_a_test_incident_without_an_installer_waits_and_then_expires(
    tmp_path: Path,
) -> None:
    async with open_world(tmp_path) as w:
        (opened,) = await w.service.apply([smoke(test=True)])

        incident = await w.service.get(opened.incident.id)
        assert incident.status is Status.REPORTED
        assert "no installer known" in incident.timeline[-1].note
        assert [r.recipient for r in await w.pending()] == [None]
        w.clock.advance(w.service.config.test_ttl_s)
        (expired,) = await w.service.tick()
        assert (expired.event, expired.incident.outcome) == ("closed", Outcome.TEST)


async def test_a_real_alarm_is_never_folded_into_a_test_incident(tmp_path: Path) -> None:
    async with open_world(tmp_path) as w:
        (test_opened, _) = await w.service.apply([smoke(test=True, detail={"installer": "i"})])
        transitions = await w.service.apply([smoke()])

        assert [t.event for t in transitions] == ["closed", "reported", "dispatched"]
        assert transitions[0].incident.id == test_opened.incident.id
        real = await w.service.get(transitions[1].incident.id)
        assert not real.test
        assert real.worker_id == "w-0301"


async def test_a_confirmed_building_fire_absorbs_the_detector_incidents(tmp_path: Path) -> None:
    async with open_world(tmp_path) as w:
        await w.service.apply([smoke("smoke-1"), smoke("smoke-2"), smoke("smoke-2")])
        building = smoke(
            "smoke-2",
            rule_id="building-fire",
            subject="building:G-0301/B1",
            title="Confirmed fire in B1 (2 detectors)",
            supersedes=("smoke",),
        )
        transitions = await w.service.apply([building, low_battery("smoke-1")])

        closed = [t.incident for t in transitions if t.event == "closed"]
        host_id = next(t.incident.id for t in transitions if t.incident.rule_id == "building-fire")
        assert {c.device_id for c in closed} == {"smoke-1", "smoke-2"}
        assert all(c.outcome is Outcome.SUPERSEDED for c in closed)
        assert all(c.superseded_by == host_id for c in closed)
        host = await w.service.get(host_id)
        assert sorted(host.absorbed) == sorted(c.id for c in closed)
        assert host.count == 1 + 1 + 2
        assert host.status is Status.DISPATCHED and host.kind is IncidentKind.FIRE
        assert timeline_events(host).count("absorbed") == 2

        later = await w.service.apply([smoke("smoke-3")])  # a third detector, same building
        assert [t.event for t in later] == ["repeat"]
        assert later[0].incident.id == host_id
        open_ids = {i.id for i in w.service.open_incidents()}
        assert host_id in open_ids and not open_ids & {c.id for c in closed}
        assert any(i.rule_id == "low-battery" for i in w.service.open_incidents())


async def test_a_raised_severity_brings_a_station_to_an_electrical_hazard(tmp_path: Path) -> None:
    async with open_world(tmp_path) as w:
        alarm = smoke(
            "elec-1",
            rule_id="residual-current",
            kind=IncidentKind.ELECTRICAL_HAZARD,
            severity=Severity.MAJOR,
        )
        (opened, _) = await w.service.apply([alarm])
        assert opened.incident.station_id is None
        await w.service.apply([replace(alarm, severity=Severity.CRITICAL)])

        incident = await w.service.get(opened.incident.id)
        assert incident.severity is Severity.CRITICAL
        assert incident.station_id == "ST-NEAR"
        assert (await w.pending())[-1].topic == "grid/stations/ST-NEAR/alarms"


async def test_list_filters_by_status_grid_device_kind_and_openness(tmp_path: Path) -> None:
    async with open_world(tmp_path) as w:
        await w.service.apply([smoke("smoke-1")])
        w.clock.advance(1)
        await w.service.apply([low_battery("smoke-2")])
        w.clock.advance(1)
        await w.service.apply([low_battery("smoke-3"), cleared("low-battery", "smoke-3")])

        assert [i.device_id for i in await w.service.list()] == ["smoke-3", "smoke-2", "smoke-1"]
        assert [i.device_id for i in await w.service.list(kind="fire")] == ["smoke-1"]
        assert [i.device_id for i in await w.service.list(device="smoke-2")] == ["smoke-2"]
        assert [i.device_id for i in await w.service.list(status="closed")] == ["smoke-3"]
        assert len(await w.service.list(open_only=True)) == 2
        assert len(await w.service.list(grid="G-0301", limit=1, offset=1)) == 1
        assert await w.service.list(grid="G-0302") == []


async def test_an_incident_with_nobody_on_the_lower_rungs_goes_up_the_ladder(
    tmp_path: Path,
) -> None:
    async with open_world(tmp_path, config=IncidentConfig()) as w:
        w.topology.add_device(
            "smoke-9", "smoke-detector", w.topology.devices["smoke-1"].location, "G-0302"
        )
        (opened, _) = await w.service.apply([low_battery("smoke-9")])

        incident = await w.service.get(opened.incident.id)
        assert incident.escalation_level == 2
        assert incident.worker_id is None
        assert "dispatched to the community" in incident.timeline[1].note
        assert [r.topic for r in await w.pending() if r.recipient] == ["grid/workers/c-lead/alarms"]


async def test_a_missed_patrol_round_goes_to_the_grid_leader_not_the_worker(
    tmp_path: Path,
) -> None:
    """巡查超时: the rule says ``notify: leader``, so dispatch starts on the leader's rung."""
    overdue = smoke(
        rule_id="patrol-overdue",
        kind=IncidentKind.PATROL_OVERDUE,
        severity=Severity.MINOR,
        title="Patrol overdue",
        detail={"notify": "leader", "schedule": "public-gathering"},
    )
    async with open_world(tmp_path) as w:
        [reported, _] = await w.service.apply([overdue])
        incident = await w.service.get(reported.incident.id)
    assert incident.escalation_level == 1
    dispatch = [e.data for e in incident.timeline if e.event == "dispatch"]
    assert [(d["role"], d["recipient"]) for d in dispatch] == [("leader", "l-0301")]
