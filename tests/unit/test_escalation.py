"""Time limits and the escalation ladder on a fast fake clock: 网格员 → 网格长 → 社区 → 街道 → 中心."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from gateway.incidents import (
    IncidentConfig,
    InvalidTransitionError,
    Limit,
    Stage,
    Status,
    TimeLimitRule,
    TimeLimits,
    load_incident_config,
)
from gateway.incidents.model import Transition
from gateway.rules.outcomes import IncidentKind, Severity
from gateway.yamlfile import ConfigFileError
from tests.unit.test_incident_world import BASE, World, low_battery, open_world, smoke


async def run_until(w: World, until: float, step: float = 5) -> list[tuple[float, Transition]]:
    """Tick the service every ``step`` seconds of fake time up to ``BASE + until``."""
    seen = []
    while w.clock.now < BASE + until:
        w.clock.advance(step)
        seen += [(w.clock.now - BASE, t) for t in await w.service.tick()]
    return seen


async def alarms_to(w: World, topic: str) -> list[dict[str, object]]:
    return [orjson.loads(r.body) for r in await w.pending() if r.topic == topic]


async def test_an_unacknowledged_fire_climbs_the_ladder_and_reminds_every_30_s(
    tmp_path: Path,
) -> None:
    async with open_world(tmp_path) as w:
        await w.service.apply([smoke()])
        assert w.service.next_wakeup() == BASE + 60

        seen = await run_until(w, 300)

        steps = [(at, t.event, t.incident.escalation_level) for at, t in seen]
        assert steps == [
            (60, "escalated", 1),
            (90, "remind", 1),
            (120, "escalated", 2),
            (150, "remind", 2),
            (180, "escalated", 3),
            (210, "remind", 3),
            (240, "escalated", 4),
            (270, "remind", 4),
            (300, "remind", 4),
        ]
        leader = await alarms_to(w, "grid/workers/l-0301/alarms")
        assert [(p.get("reason"), p.get("reminder")) for p in leader] == [
            ("accept_overdue", None),
            ("reminder", 1),
        ]
        assert leader[0]["escalation_level"] == 1
        assert len(await alarms_to(w, "grid/workers/s-lead/alarms")) == 2
        assert len(await alarms_to(w, "grid/workers/s-duty/alarms")) == 2
        centre = await alarms_to(w, "grid/centre/alarms")
        assert [p.get("reminder") for p in centre] == [None, 1, 2]
        incident = (await w.service.list())[0]
        assert incident.status is Status.ESCALATED
        assert incident.breaches == ["accept"] * 4
        full = await w.service.get(incident.id)
        assert [e.data["to"] for e in full.timeline if e.event == "escalated"] == [
            "leader",
            "community",
            "street",
            "centre",
        ]


async def test_acknowledging_stops_the_reminders_and_the_next_limit_takes_over(
    tmp_path: Path,
) -> None:
    async with open_world(tmp_path) as w:
        (opened, _) = await w.service.apply([smoke()])
        await run_until(w, 95)  # escalated at 60, reminded at 90
        acked = await w.service.act(opened.incident.id, "ack", "l-0301")

        assert acked.status is Status.ACCEPTED
        assert acked.next_reminder_at is None
        assert (acked.due_stage, acked.due_at) == (Stage.ON_SITE, BASE + 180)
        assert [t.event for _, t in await run_until(w, 175)] == []  # no more reminders
        seen = await run_until(w, 200)
        assert [(at, t.event, t.incident.escalation_level) for at, t in seen] == [
            (180, "escalated", 2)  # nobody on site within 3 minutes
        ]
        arrived = await w.service.act(opened.incident.id, "arrive", "ST-NEAR")
        assert arrived.status is Status.ON_SITE
        assert arrived.next_reminder_at is None and arrived.due_at is None
        assert await run_until(w, 1200, step=60) == []
        assert w.service.next_wakeup() is None


async def test_an_urgent_matter_is_handled_within_an_hour_or_escalates(tmp_path: Path) -> None:
    async with open_world(tmp_path) as w:
        alarm = smoke(
            "water-1",
            rule_id="low-pressure",
            kind=IncidentKind.WATER_SUPPLY,
            severity=Severity.MAJOR,
        )
        (opened, _) = await w.service.apply([alarm])
        incident = await w.service.get(opened.incident.id)
        assert (incident.due_stage, incident.due_at) == (Stage.HANDLE, BASE + 3600)

        await w.service.act(opened.incident.id, "ack", "w-0301")  # accepting is not handling
        seen = await run_until(w, 3600 + 300 * 2, step=60)
        assert [(at, t.event) for at, t in seen] == [
            (3600, "escalated"),
            (3900, "remind"),
            (4200, "remind"),
        ]
        acked = await w.service.act(opened.incident.id, "ack", "l-0301")
        assert acked.status is Status.ACCEPTED
        assert acked.due_at == BASE + 3600 + 3600  # the grid leader gets a full hour
        assert await run_until(w, 7000, step=60) == []


async def test_a_manual_escalation_goes_one_rung_up_and_reminds(tmp_path: Path) -> None:
    async with open_world(tmp_path) as w:
        (opened, _) = await w.service.apply([low_battery()])
        w.clock.advance(10)
        escalated = await w.service.act(opened.incident.id, "escalate", "w-0301", "needs a ladder")

        assert (escalated.status, escalated.escalation_level) == (Status.ESCALATED, 1)
        assert escalated.timeline[-2].actor == "w-0301"
        assert escalated.timeline[-1].data["recipient"] == "l-0301"
        interval = w.service.config.time_limits.remind_interval(escalated)
        assert escalated.next_reminder_at == BASE + 10 + interval
        back = await w.service.act(opened.incident.id, "ack", "l-0301")
        assert back.status is Status.ACCEPTED and back.next_reminder_at is None


async def test_nothing_is_above_the_centre(tmp_path: Path) -> None:
    async with open_world(tmp_path) as w:
        (opened, _) = await w.service.apply([low_battery()])
        for _ in range(4):
            await w.service.act(opened.incident.id, "escalate", "officer-1")

        with pytest.raises(InvalidTransitionError, match="already at the centre"):
            await w.service.act(opened.incident.id, "escalate", "officer-1")


async def test_limits_and_reminders_come_from_configuration(tmp_path: Path) -> None:
    limits = TimeLimits(
        rules=(
            TimeLimitRule(
                name="drill",
                kinds=frozenset({IncidentKind.LOW_BATTERY}),
                accept=Limit(seconds=10),
                remind_every_s=2,
            ),
        )
    )
    async with open_world(tmp_path, config=IncidentConfig(time_limits=limits)) as w:
        await w.service.apply([low_battery()])
        seen = await run_until(w, 16, step=1)
        assert [(at, t.event) for at, t in seen] == [
            (10, "escalated"),
            (12, "remind"),
            (14, "remind"),
            (16, "remind"),
        ]
        assert await w.service.apply([smoke()])  # no rule for fire here: no limits at all
        fire = next(i for i in w.service.open_incidents() if i.kind is IncidentKind.FIRE)
        assert fire.due_at is None


def test_a_limit_is_seconds_or_working_days_never_both() -> None:
    assert Limit.model_validate(60) == Limit(seconds=60)
    assert Limit.model_validate({"working_days": 3}).working_days == 3
    with pytest.raises(ValueError, match="either seconds or working_days"):
        Limit.model_validate({"seconds": 5, "working_days": 1})
    with pytest.raises(ValueError, match="unknown time zone"):
        TimeLimits(timezone="Mars/Olympus")


def test_the_defaults_follow_domain_md() -> None:
    limits = TimeLimits()
    fire = limits.rule_for(IncidentKind.FIRE, Severity.WARNING)
    urgent = limits.rule_for(IncidentKind.ELECTRICAL_HAZARD, Severity.CRITICAL)
    ordinary = limits.rule_for(IncidentKind.LOW_BATTERY, Severity.MINOR)
    complex_ = limits.rule_for(IncidentKind.PATROL_HAZARD, Severity.MINOR)
    assert fire and urgent and ordinary and complex_
    assert (fire.accept, fire.on_site, fire.remind_every_s) == (
        Limit(seconds=60),
        Limit(seconds=180),
        30,
    )
    assert urgent.handle == Limit(seconds=3600)
    assert ordinary.handle == Limit(working_days=3)
    assert complex_.handle == Limit(working_days=5)


def test_the_time_limits_load_from_yaml_and_a_mistake_names_file_line_and_key(
    tmp_path: Path,
) -> None:
    good = tmp_path / "incidents.yaml"
    good.write_text(
        "time_limits:\n"
        "  rules:\n"
        "    - {name: fire, kinds: [fire], accept: 30, on_site: 120, remind_every_s: 15}\n"
        "    - {name: rest, handle: {working_days: 2}, remind_every_s: 3600}\n"
        "dispatch: {station_radius_m: 1500}\n"
    )
    config = load_incident_config(good)
    assert config.time_limits.rules[0].accept == Limit(seconds=30)
    assert config.dispatch.station_radius_m == 1500

    bad = tmp_path / "bad.yaml"
    bad.write_text("time_limits:\n  rules:\n    - {name: x, accept: -1, remind_every_s: 1}\n")
    with pytest.raises(ConfigFileError, match=r"bad.yaml:3: time_limits.rules.0.accept"):
        load_incident_config(bad)
