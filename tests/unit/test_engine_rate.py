"""Rate of change: fire-water pressure falling faster than 0.05 MPa/min (burst pipe, open hydrant)."""

from __future__ import annotations

import pytest

from gateway.rules import IncidentKind, Outcome
from tests.unit.test_engine_support import T0, Harness, alarms, clears, device, shipped_rules

SENSOR = "WP-1"


@pytest.fixture
def h() -> Harness:
    return Harness(shipped_rules(), [device(SENSOR, "water-pressure-sensor")])


def pressure(h: Harness, seconds: float, mpa: float) -> list[Outcome]:
    return h.at(seconds).send(SENSOR, pressure_mpa=mpa)


def test_a_fast_fall_fires_from_two_readings_and_their_timestamps(h: Harness) -> None:
    assert pressure(h, 0, 0.40) == []
    out = pressure(h, 60, 0.30)  # 0.10 MPa/min, twice the limit, still above 0.10 MPa
    [alarm] = alarms(out, "water-pressure-dropping")
    assert alarm.kind is IncidentKind.WATER_SUPPLY and alarm.at == T0 + 60
    assert alarm.detail["rate"] == pytest.approx(-0.10)
    assert alarm.detail["limit"] == 0.05 and alarm.detail["value"] == 0.30


def test_the_rate_uses_the_reading_times_not_the_arrival(h: Harness) -> None:
    h.at(0).send(SENSOR, pressure_mpa=0.40)
    # Two minutes of buffered readings arriving at once: 0.04 MPa/min, under the limit.
    assert h.at(200).send(SENSOR, ts=T0 + 60, pressure_mpa=0.36) == []
    assert h.at(200).send(SENSOR, ts=T0 + 120, pressure_mpa=0.32) == []


def test_a_slow_decline_does_not_fire(h: Harness) -> None:
    outcomes = []
    for minute in range(1, 6):
        outcomes += pressure(h, minute * 60, 0.40 - 0.03 * minute)
    assert alarms(outcomes, "water-pressure-dropping") == []


def test_readings_closer_than_ten_seconds_are_not_judged(h: Harness) -> None:
    pressure(h, 0, 0.40)
    assert pressure(h, 2, 0.39) == []  # -0.3 MPa/min over 2 s: jitter, not judged
    assert pressure(h, 60, 0.38) == []  # against the 0 s reference: 0.02 MPa/min


def test_it_clears_once_the_pressure_settles(h: Harness) -> None:
    pressure(h, 0, 0.50)
    assert alarms(pressure(h, 60, 0.40), "water-pressure-dropping")
    assert pressure(h, 120, 0.33) == []  # still falling fast: held
    [clear] = clears(pressure(h, 180, 0.32), "water-pressure-dropping")
    assert clear.at == T0 + 180
