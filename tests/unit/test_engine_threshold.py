"""Thresholds with hysteresis and hold time, on a fake clock, with the shipped electrical rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.rules import IncidentKind, Outcome, Severity
from tests.unit.test_engine_support import (
    T0,
    Harness,
    alarms,
    clears,
    device,
    rules_from,
    shipped_rules,
)

MONITOR = "EF-1"


@pytest.fixture
def h() -> Harness:
    return Harness(shipped_rules(), [device(MONITOR, "electrical-fire-monitor")])


def cable(h: Harness, *temps: float) -> list[Outcome]:
    fields = {f"cable_temp_c_{i}": t for i, t in enumerate(temps, 1)}
    return h.send(MONITOR, **fields)


def test_a_cable_over_70_for_20_seconds_fires_once_on_the_tick_that_finds_it_still_hot(
    h: Harness,
) -> None:
    assert cable(h, 40, 72, 41, 39) == []  # breach starts at t=0 on channel 2
    assert h.at(19).tick() == []
    out = h.at(20).tick()
    [alarm] = alarms(out, "cable-overheat")
    assert alarm.subject == MONITOR and alarm.device_id == MONITOR
    assert (alarm.kind, alarm.severity) == (IncidentKind.ELECTRICAL_HAZARD, Severity.MAJOR)
    assert alarm.at == T0 + 20
    assert alarm.detail["field"] == "cable_temp_c_2" and alarm.detail["value"] == 72
    assert alarm.detail["threshold"] == 70 and alarm.detail["since"] == T0
    assert alarm.title == "线缆温度过高 / Cable temperature too high"
    assert h.at(30).tick() == [] and cable(h.at(31), 40, 73, 41, 39) == []  # held: no repeat


def test_a_later_reading_still_over_the_level_fires_without_a_tick(h: Harness) -> None:
    cable(h, 71, 20, 20, 20)
    assert cable(h.at(10), 71.5, 20, 20, 20) == []
    [alarm] = alarms(cable(h.at(21), 71.2, 20, 20, 20), "cable-overheat")
    assert alarm.at == T0 + 21 and alarm.detail["value"] == 71.2


def test_a_spike_shorter_than_the_hold_never_fires(h: Harness) -> None:
    cable(h, 95, 20, 20, 20)
    assert cable(h.at(12), 50, 20, 20, 20) == []  # back under before 20 s
    assert h.at(25).tick() == [] and h.at(600).tick() == []


def test_hysteresis_no_flapping_around_the_level_and_one_clear_below_it(h: Harness) -> None:
    cable(h, 72, 20, 20, 20)
    assert alarms(h.at(20).tick(), "cable-overheat")
    outcomes = []
    for i, temp in enumerate([69.0, 71.0, 68.0, 70.5, 66.0, 69.9], start=1):
        outcomes += cable(h.at(20 + i * 10), temp, 20, 20, 20)
    assert outcomes == []  # 66-71 °C: above the 65 °C clear level, still one alarm held
    [clear] = clears(cable(h.at(100), 64.9, 20, 20, 20), "cable-overheat")
    assert clear.subject == MONITOR and clear.at == T0 + 100
    assert cable(h.at(110), 69.0, 20, 20, 20) == []  # 69 °C re-arms nothing: not over 70


def test_a_reading_without_the_field_says_nothing_the_last_value_holds(h: Harness) -> None:
    cable(h, 75, 20, 20, 20)
    assert h.at(5).send(MONITOR, voltage_v=230.0) == []
    assert alarms(h.at(20).tick(), "cable-overheat")


def test_an_older_reading_arriving_late_does_not_undo_a_newer_one(h: Harness) -> None:
    cable(h.at(10), 75, 20, 20, 20)
    assert h.at(11).send(MONITOR, ts=T0 + 5, cable_temp_c_1=30.0) == []
    assert alarms(h.at(30).tick(), "cable-overheat")


def test_a_device_clock_ahead_of_the_gateway_is_capped_at_now(h: Harness) -> None:
    h.send(MONITOR, ts=T0 + 3600, cable_temp_c_1=75.0)  # device says an hour from now
    assert h.at(19).tick() == []
    assert alarms(h.at(20).tick(), "cable-overheat")


def test_residual_current_below_level_with_its_own_hold(h: Harness) -> None:
    h.send(MONITOR, residual_current_ma=300.0)  # at the level: not above it
    assert h.at(30).tick() == []
    h.at(31).send(MONITOR, residual_current_ma=350.0)
    [alarm] = alarms(h.at(51).tick())
    assert alarm.rule_id == "residual-current-high" and alarm.detail["for_s"] == 20


def test_below_with_an_absolute_clear_level(tmp_path: Path) -> None:
    rules = rules_from(
        tmp_path,
        """
rules:
  - id: pressure-low
    title: {zh: 压力低, en: Pressure low}
    applies_to: {profiles: [water-pressure-sensor]}
    kind: water_supply
    severity: major
    threshold: {field: pressure_mpa, below: 0.10, clear_above: 0.12}
""",
    )
    h = Harness(rules, [device("WP-1", "water-pressure-sensor")])
    assert alarms(h.send("WP-1", pressure_mpa=0.09))
    assert h.at(1).send("WP-1", pressure_mpa=0.11) == []
    assert clears(h.at(2).send("WP-1", pressure_mpa=0.125))
