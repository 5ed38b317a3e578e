"""Building correlation: two detectors in one building within 120 s are one confirmed fire."""

from __future__ import annotations

import pytest

from gateway.rules import Alarm, IncidentKind, Outcome, Severity
from tests.unit.test_engine_support import T0, Harness, alarms, device, shipped_rules

BUILDING = "building:G-0301/B1"


@pytest.fixture
def h() -> Harness:
    return Harness(
        shipped_rules(),
        [
            device("SD-A1", building="B1"),
            device("SD-A2", building="B1"),
            device("SD-A3", building="B1"),
            device("SD-C1", building="B2"),
            device("SD-X1", grid="G-0302", building="B1"),  # another grid's "B1"
            device("SD-N1", building=""),  # no building registered
            device("EF-1", "electrical-fire-monitor", building="B1"),
        ],
    )


def smoke(h: Harness, seconds: float, device_id: str, **extra: bool) -> list[Outcome]:
    return h.at(seconds).send(device_id, smoke=True, **extra)


def confirmed(outcomes: list[Outcome]) -> list[Alarm]:
    return alarms(outcomes, "fire-confirmed-building")


def test_two_detectors_in_one_building_within_two_minutes_are_one_confirmed_fire(
    h: Harness,
) -> None:
    first = smoke(h, 0, "SD-A1")
    second = smoke(h, 90, "SD-A2")
    assert confirmed(first) == []
    assert [a.rule_id for a in alarms(second)] == ["smoke-fire", "fire-confirmed-building"]
    [fire] = confirmed(second)
    assert fire.subject == BUILDING and fire.device_id == "SD-A1"
    assert (fire.kind, fire.severity) == (IncidentKind.FIRE, Severity.CRITICAL)
    assert fire.supersedes == ("smoke-fire",) and fire.at == T0 + 90
    assert fire.detail["confirmed"] is True and fire.detail["confidence"] == "high"
    assert fire.detail["devices"] == ["SD-A1", "SD-A2"] and fire.detail["first_at"] == T0
    assert (fire.detail["grid"], fire.detail["building"]) == ("G-0301", "B1")
    assert confirmed(h.at(100).send("SD-A1", smoke=True)) == []  # held, nothing new
    assert confirmed(h.at(110).send("SD-A2", smoke=False)) == []  # never cleared


def test_a_third_detector_updates_the_same_building_alarm(h: Harness) -> None:
    smoke(h, 0, "SD-A1")
    smoke(h, 30, "SD-A2")
    [again] = confirmed(smoke(h, 400, "SD-A3"))  # joins a held building alarm
    assert again.subject == BUILDING and again.detail["devices"] == ["SD-A1", "SD-A2", "SD-A3"]


def test_detectors_in_different_buildings_are_not_correlated(h: Harness) -> None:
    outcomes = smoke(h, 0, "SD-A1") + smoke(h, 10, "SD-C1") + smoke(h, 20, "SD-X1")
    outcomes += smoke(h, 30, "SD-N1")
    assert confirmed(outcomes) == []
    assert len(alarms(outcomes, "smoke-fire")) == 4


def test_detectors_further_apart_than_two_minutes_are_not_correlated(h: Harness) -> None:
    assert confirmed(smoke(h, 0, "SD-A1") + smoke(h, 121, "SD-A2")) == []


def test_test_button_presses_never_confirm_a_fire(h: Harness) -> None:
    outcomes = smoke(h, 0, "SD-A1", test=True) + smoke(h, 10, "SD-A2", test=True)
    assert confirmed(outcomes) == [] and all(a.test for a in alarms(outcomes))


def heating_cable(h: Harness) -> None:
    """EF-1's hottest channel climbs 2 °C a minute: over the 1 °C/min boost level."""
    for minute, temp in enumerate((40.0, 42.0, 44.0)):
        h.at(minute * 60 - 180).send("EF-1", cable_temp_c_1=temp, cable_temp_c_2=30.0)


def test_a_cable_heating_up_in_the_same_building_raises_confidence(h: Harness) -> None:
    heating_cable(h)
    [single] = alarms(smoke(h, 0, "SD-A1"), "smoke-fire")
    assert single.detail["confidence"] == "medium"
    assert single.detail["corroborated_by"] == ["EF-1"]
    [fire] = confirmed(smoke(h, 60, "SD-A2"))
    assert fire.detail["confidence"] == "very_high"
    assert fire.detail["corroborated_by"] == ["EF-1"]


def test_a_cable_heating_after_confirmation_re_raises_with_higher_confidence(h: Harness) -> None:
    smoke(h, 0, "SD-A1")
    [fire] = confirmed(smoke(h, 30, "SD-A2"))
    assert fire.detail["confidence"] == "high"
    h.at(60).send("EF-1", cable_temp_c_1=40.0)
    [again] = confirmed(h.at(120).send("EF-1", cable_temp_c_1=45.0))
    assert again.detail["confidence"] == "very_high"
    assert alarms(h.at(180).send("EF-1", cable_temp_c_1=50.0)) == []  # once is enough


def test_the_cable_signal_alone_raises_nothing(h: Harness) -> None:
    heating_cable(h)
    assert alarms(h.at(0).send("EF-1", cable_temp_c_1=46.0)) == []
