"""Boolean events (smoke, fault, tamper, low battery, arc fault, test button) and repeating."""

from __future__ import annotations

import pytest

from gateway.rules import Alarm, Clear, IncidentKind, Severity
from tests.unit.test_engine_support import T0, Harness, alarms, clears, device, shipped_rules

SMOKE = "SD-1"


FLEET = [
    device(SMOKE),
    device("Z2M-1", "smoke-detector-z2m", external_id="kitchen"),
    device("EF-1", "electrical-fire-monitor"),
]


@pytest.fixture
def h() -> Harness:
    return Harness(shipped_rules(), FLEET)


def test_smoke_is_a_critical_fire_at_once_and_never_cleared_by_the_engine(h: Harness) -> None:
    [alarm] = h.send(SMOKE, smoke=True, fault=False, tamper=False, battery_pct=90.0)
    assert isinstance(alarm, Alarm)
    assert alarm.rule_id == "smoke-fire"
    assert (alarm.kind, alarm.severity) == (IncidentKind.FIRE, Severity.CRITICAL)
    assert alarm.test is False
    assert h.at(5).send(SMOKE, smoke=True) == []  # held: no repeat per message
    assert h.at(60).send(SMOKE, smoke=False) == []  # no Clear for fire: a person verifies
    assert alarms(h.at(120).send(SMOKE, smoke=True), "smoke-fire")  # a new alarm later fires


def test_the_test_button_raises_a_test_alarm(h: Harness) -> None:
    [alarm] = alarms(h.send(SMOKE, test=True, smoke=False), "smoke-fire")
    assert alarm.test is True
    [alarm] = alarms(h.send("Z2M-1", smoke=True, test=True), "smoke-fire")
    assert alarm.test is True


def test_a_real_alarm_after_a_test_press_is_a_real_alarm_at_once(h: Harness) -> None:
    """The detector never said the self-test was over: the smoke that follows is still a fire."""
    [test] = alarms(h.send(SMOKE, test=True), "smoke-fire")
    assert test.test is True
    assert h.at(5).send(SMOKE, test=True) == []  # the press repeated: the same test
    [real] = alarms(h.at(30).send(SMOKE, smoke=True), "smoke-fire")
    assert (real.test, real.at) == (False, T0 + 30)
    assert h.at(35).send(SMOKE, smoke=True) == []  # and then held like any fire
    assert h.at(40).send(SMOKE, test=True) == []  # a test press cannot demote it


def test_a_device_in_commissioning_raises_test_alarms() -> None:
    h = Harness(shipped_rules(), FLEET, commissioning={SMOKE})
    [alarm] = alarms(h.send(SMOKE, smoke=True), "smoke-fire")
    assert alarm.test is True
    [alarm] = alarms(h.send("Z2M-1", smoke=True), "smoke-fire")
    assert alarm.test is False


def test_commissioning_can_be_a_callable_that_changes_over_time() -> None:
    commissioning: set[str] = {SMOKE}
    h = Harness(shipped_rules(), FLEET, commissioning=commissioning.__contains__)
    assert alarms(h.send(SMOKE, fault=True))[0].test is True
    commissioning.clear()
    h.send(SMOKE, fault=False)
    assert alarms(h.send(SMOKE, fault=True))[0].test is False


def test_fault_raises_a_maintenance_incident_and_clears_when_it_goes(h: Harness) -> None:
    [alarm] = h.send(SMOKE, fault=True)
    assert isinstance(alarm, Alarm)
    assert alarm.rule_id == "smoke-fault"
    assert (alarm.kind, alarm.severity) == (IncidentKind.DEVICE_FAULT, Severity.MINOR)
    [clear] = h.at(30).send(SMOKE, fault=False)
    assert isinstance(clear, Clear)
    assert clear.rule_id == "smoke-fault" and clear.subject == SMOKE


def test_tamper_and_arc_fault(h: Harness) -> None:
    [tamper] = alarms(h.send(SMOKE, tamper=True))
    assert tamper.kind is IncidentKind.TAMPER
    [arc] = alarms(h.send("EF-1", arc_fault=True), "arc-fault")
    assert (arc.kind, arc.severity) == (IncidentKind.ELECTRICAL_HAZARD, Severity.CRITICAL)
    # An arc is not "recovered" by the next report: an electrician inspects and closes it.
    assert not clears(h.send("EF-1", arc_fault=False), "arc-fault")


def test_low_battery_by_flag_or_by_percent_with_a_band(h: Harness) -> None:
    [by_flag] = alarms(h.send(SMOKE, battery_low=True, battery_pct=50.0))
    assert by_flag.kind is IncidentKind.LOW_BATTERY and by_flag.detail["field"] == "battery_low"
    assert clears(h.send(SMOKE, battery_low=False, battery_pct=50.0))
    [by_pct] = alarms(h.send(SMOKE, battery_low=False, battery_pct=19.0))
    assert by_pct.detail["field"] == "battery_pct" and by_pct.detail["threshold"] == 20
    assert h.send(SMOKE, battery_pct=22.0) == []  # inside the 5-point band: still low
    assert clears(h.send(SMOKE, battery_pct=26.0))


def test_fault_three_times_in_ten_minutes_is_one_repeating_alarm(h: Harness) -> None:
    outcomes = []
    for minute in (0, 3, 6):
        outcomes += h.at(minute * 60).send(SMOKE, fault=True)
        outcomes += h.at(minute * 60 + 30).send(SMOKE, fault=False)
    [repeating] = alarms(outcomes, "smoke-fault-repeating")
    assert repeating.severity is Severity.MAJOR and repeating.at == T0 + 360
    assert repeating.detail["count"] == 3 and repeating.detail["first_at"] == T0
    assert len(alarms(outcomes, "smoke-fault")) == 3  # each fault is its own single incident
    assert alarms(h.at(400).send(SMOKE, fault=True), "smoke-fault-repeating") == []  # held
    h.at(420).send(SMOKE, fault=False)
    assert clears(h.at(600).tick(), "smoke-fault-repeating") == []  # 3 starts still in window
    [clear] = clears(h.at(780).tick(), "smoke-fault-repeating")  # 03:00 and 06:00 remain
    assert clear.at == T0 + 780


def test_three_faults_spread_over_more_than_ten_minutes_do_not_repeat(h: Harness) -> None:
    outcomes = []
    for minute in (0, 6, 12):
        outcomes += h.at(minute * 60).send(SMOKE, fault=True)
        outcomes += h.at(minute * 60 + 30).send(SMOKE, fault=False)
    assert alarms(outcomes, "smoke-fault-repeating") == []


def test_a_fault_reported_in_every_message_counts_once(h: Harness) -> None:
    outcomes = []
    for minute in range(5):
        outcomes += h.at(minute * 60).send(SMOKE, fault=True)
    assert alarms(outcomes, "smoke-fault-repeating") == []


def test_a_profile_without_a_rule_or_an_unknown_profile_costs_nothing(h: Harness) -> None:
    h.add(device("X", "nfc-patrol-tag"))
    assert h.send("X", worker_id="W1", result="ok") == []
