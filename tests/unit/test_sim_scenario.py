"""The scripted episodes make the shipped rules fire — through the real pipeline and the real
rules engine, minutes of simulated traffic run instantly on a hand-moved clock — and the
non-fire ones clear again when the device is put right."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from gateway.metrics import Metrics
from gateway.model import Device
from gateway.pipeline import Pipeline
from gateway.rules import Alarm, Clear, RulesEngine
from gateway.sim.district import build_district
from gateway.sim.fleet import SimDevice, build_fleet, building_pairs
from gateway.sim.plan import DEMO_PLAN
from gateway.sim.scenario import CYCLE_S, Cast, Script
from gateway.sim.traffic import Traffic, reporters
from gateway.tracker import DeviceTracker
from gateway.unregistered import UnregisteredLog
from tests.fixtures.registry import PROFILES
from tests.unit.fakes import DictDirectory, RecordingSink
from tests.unit.test_engine_support import FakeTopology, shipped_rules

T0 = 1_767_225_600.0
TICK_S = 2.0  # as the gateway ticks the rules (RULES_TICK_S)


@dataclass
class Seen:
    """Outcomes and script steps, each with its second after T0."""

    alarms: list[tuple[float, Alarm]] = field(default_factory=list)
    clears: list[tuple[float, Clear]] = field(default_factory=list)
    steps: list[tuple[float, str]] = field(default_factory=list)

    def first(self, rule_id: str) -> float:
        return next(t for t, a in self.alarms if a.rule_id == rule_id and not a.test)

    def cleared(self, rule_id: str, after: float) -> float:
        return next(t for t, c in self.clears if c.rule_id == rule_id and t > after)


def _device(sim: SimDevice) -> Device:
    return Device(sim.id, sim.profile, sim.name, sim.grid, sim.location, sim.external_id)


def run(seconds: float, devices: int = 24) -> Seen:
    """The demo's traffic and script through the pipeline and the shipped rules."""
    district = build_district()
    fleet = [_device(d) for d in build_fleet(district, devices)]
    by_id = {d.id: d for d in fleet}
    sink = RecordingSink()
    pipeline = Pipeline(
        PROFILES, DictDirectory(*fleet), [sink], DeviceTracker(), UnregisteredLog(), Metrics()
    )
    found = reporters(district, build_fleet(district, devices), PROFILES, DEMO_PLAN)
    traffic, script = Traffic(found, DEMO_PLAN, T0), Script(Cast.of(found), T0)
    engine, topology = RulesEngine(shipped_rules(), PROFILES), FakeTopology(fleet)
    seen = Seen()

    def record(at: float, outcomes: list[Alarm | Clear]) -> None:
        for o in outcomes:
            if isinstance(o, Alarm):
                seen.alarms.append((at - T0, o))
            else:
                seen.clears.append((at - T0, o))

    now = T0
    while now < T0 + seconds:
        now += 0.5
        seen.steps += [(now - T0, s.note) for s in script.take(now)]
        for message in traffic.take(now):
            taken = len(sink.points)
            pipeline.handle(message.topic, message.payload, now)
            for reading, device in sink.points[taken:]:
                topology.seen[device.id] = now
                record(now, engine.on_reading(reading, by_id[device.id], now))
        if (now - T0) % TICK_S == 0:
            record(now, engine.on_tick(now, topology))
    return seen


@pytest.fixture(scope="module")
def first_cycle() -> Seen:
    return run(CYCLE_S)


def test_a_smoke_alarm_opens_within_seconds_of_the_start(first_cycle: Seen) -> None:
    assert first_cycle.first("smoke-fire") < 10


def test_two_detectors_of_one_building_confirm_a_fire(first_cycle: Seen) -> None:
    at = first_cycle.first("fire-confirmed-building")
    [fire] = [a for t, a in first_cycle.alarms if a.rule_id == "fire-confirmed-building"]
    assert 30 < at < 60
    assert fire.subject.startswith("building:")
    devices = fire.detail["devices"]
    assert isinstance(devices, list) and len(devices) == 2 and fire.detail["confirmed"]


def test_a_cable_overheats_past_70_degrees_held_20_s_and_clears_when_repaired(
    first_cycle: Seen,
) -> None:
    at = first_cycle.first("cable-overheat")
    assert 40 < at < 60
    assert first_cycle.cleared("cable-overheat", at) < CYCLE_S


def test_lost_fire_water_pressure_falls_fast_then_stays_low_then_recovers(
    first_cycle: Seen,
) -> None:
    dropping = first_cycle.first("water-pressure-dropping")
    low = first_cycle.first("water-pressure-low")
    assert 20 < dropping < 80  # the fall is judged over at least a minute (rules/water.yaml)
    assert low - 20 >= 60, "below 0.10 MPa held for the rule's 60 s first"
    assert first_cycle.cleared("water-pressure-dropping", dropping) < CYCLE_S
    assert first_cycle.cleared("water-pressure-low", low) < CYCLE_S


def test_a_low_battery_is_raised_and_clears_when_the_battery_is_replaced(
    first_cycle: Seen,
) -> None:
    at = first_cycle.first("smoke-low-battery")
    assert at < 15
    assert first_cycle.cleared("smoke-low-battery", at) < CYCLE_S


def test_the_two_smoke_alarms_of_a_cycle_stay_two_separate_incidents(first_cycle: Seen) -> None:
    confirmations = [t for t, a in first_cycle.alarms if a.rule_id == "fire-confirmed-building"]
    assert len(confirmations) == 1, "only the pair in one building confirms a fire"
    singles = {a.subject for t, a in first_cycle.alarms if a.rule_id == "smoke-fire" and t < 20}
    assert len(singles) == 2


def test_the_episodes_come_again_each_cycle_on_other_devices() -> None:
    district = build_district()
    found = reporters(district, build_fleet(district, 24), PROFILES, DEMO_PLAN)
    script = Script(Cast.of(found), T0)
    first = [s.note for s in script.take(T0 + CYCLE_S - 1)]
    second = [s.note for s in script.take(T0 + 2 * CYCLE_S - 1)]
    assert len(first) == len(second) >= 9
    assert first != second
    assert script.take(T0 + 2 * CYCLE_S - 1) == []  # each step runs once
    assert script.next_due() == T0 + 2 * CYCLE_S


def test_a_fleet_without_two_detectors_in_one_building_skips_that_episode() -> None:
    district = build_district()
    fleet = build_fleet(district, 7)
    assert building_pairs(fleet) == []
    found = reporters(district, fleet, PROFILES, DEMO_PLAN)
    notes = [s.note for s in Script(Cast.of(found), T0).take(T0 + CYCLE_S - 1)]
    assert notes and not any("next door" in n for n in notes)


def test_the_demo_fleet_has_detectors_paired_in_a_building_inside_their_grid() -> None:
    pairs = building_pairs(build_fleet(build_district(), 24))
    assert len(pairs) >= 2
    for first, second in pairs:
        assert first.grid == second.grid and first.id != second.id
        assert second.name.startswith(second.location.building or "?")
