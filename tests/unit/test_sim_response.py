"""The responders' policy: how fast people answer, what they find, whom they leave unanswered."""

from __future__ import annotations

import orjson
import pytest

from gateway.incidents.model import Action, Outcome
from gateway.sim.response import (
    ESCALATION_WAIT_S,
    FIRE_DELAYS,
    Dispatch,
    ResponsePolicy,
)


def fire(incident_id: str) -> Dispatch:
    """A fresh fire dispatch to the grid worker's phone."""
    return Dispatch("w001", False, incident_id, "fire", "sd-0001")


def test_the_first_fire_is_always_answered_and_a_later_one_left_to_escalate() -> None:
    policy = ResponsePolicy()
    assert policy.answers(fire("INC-1"), now=0, ends_at=None)
    assert not policy.answers(fire("INC-2"), now=10, ends_at=None)
    assert policy.answers(fire("INC-3"), now=20, ends_at=None), "one at a time"


def test_an_alarm_is_left_only_when_the_run_lasts_long_enough_to_see_it_escalate() -> None:
    policy = ResponsePolicy()
    assert policy.answers(fire("INC-1"), now=0, ends_at=60)
    assert policy.answers(fire("INC-2"), now=10, ends_at=60)
    assert not policy.answers(fire("INC-3"), now=10, ends_at=10 + ESCALATION_WAIT_S)


def test_after_a_while_another_alarm_may_be_left() -> None:
    policy = ResponsePolicy(leave_every_s=600)
    policy.answers(fire("INC-1"), now=0, ends_at=None)
    assert not policy.answers(fire("INC-2"), now=10, ends_at=None)
    assert policy.answers(fire("INC-3"), now=500, ends_at=None)
    assert not policy.answers(fire("INC-4"), now=700, ends_at=None)


@pytest.mark.parametrize(
    "dispatch",
    [
        Dispatch("lc001", False, "INC-2", "fire", "sd-0001", escalation_level=1),
        Dispatch("w001", False, "INC-2", "fire", "sd-0001", reminder=2),
        Dispatch("w001", False, "INC-2", "electrical_hazard", "ef-0001"),
    ],
)
def test_escalations_reminders_and_other_kinds_are_always_answered(dispatch: Dispatch) -> None:
    policy = ResponsePolicy()
    policy.answers(fire("INC-1"), now=0, ends_at=None)
    assert policy.answers(dispatch, now=10, ends_at=None)


def test_fires_are_answered_faster_and_pace_scales_every_delay() -> None:
    for action, (low, high) in FIRE_DELAYS.items():
        assert low <= ResponsePolicy().delay(action, "fire") <= high
    assert ResponsePolicy(pace=0).delay(Action.ARRIVE, "water_supply") == 0
    assert ResponsePolicy(pace=0.5).delay(Action.ACK, "fire") <= FIRE_DELAYS[Action.ACK][1] / 2


def test_kitchen_smoke_is_mostly_a_false_alarm_and_now_and_then_a_fire() -> None:
    policy = ResponsePolicy(seed=1)
    found = [policy.finding("fire", "sd-0001", "4号楼9层厨房").outcome for _ in range(400)]
    assert found.count(Outcome.FALSE_ALARM) > 360
    assert Outcome.FIRE in found
    building = [policy.finding("fire", "building:G/8号楼", "").outcome for _ in range(100)]
    assert 20 < building.count(Outcome.FIRE) < 80, "two detectors agreeing: far likelier a fire"


@pytest.mark.parametrize(
    ("kind", "outcome"),
    [
        ("electrical_hazard", Outcome.HAZARD_FIXED),
        ("water_supply", Outcome.HAZARD_FIXED),
        ("low_battery", Outcome.HAZARD_FIXED),
        ("patrol_hazard", Outcome.HAZARD_FIXED),
        ("device_fault", Outcome.FAULT),
        ("suspicious_scan", Outcome.OTHER),
    ],
)
def test_hazards_are_fixed_and_faults_sent_for_repair(kind: str, outcome: Outcome) -> None:
    finding = ResponsePolicy().finding(kind, "x-1", "")
    assert finding.outcome is outcome and finding.note


def test_a_dispatch_reads_as_the_contract_sends_it() -> None:
    body = {
        "incident_id": "INC-1",
        "kind": "fire",
        "device_id": "sd-0001",
        "escalation_level": 0,
        "test": False,
        "distance_m": 93.9,
    }
    station = Dispatch.parse("grid/stations/ms-01/alarms", orjson.dumps(body))
    assert station == Dispatch("ms-01", True, "INC-1", "fire", "sd-0001", distance_m=93.9)
    worker = Dispatch.parse("grid/workers/w001/alarms", orjson.dumps(body | {"reminder": 2}))
    assert worker is not None and not worker.station and worker.reminder == 2


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("grid/incidents/INC-1/events", b'{"incident_id": "INC-1", "kind": "fire"}'),
        ("grid/centre/alarms", b'{"incident_id": "INC-1", "kind": "fire"}'),
        ("grid/workers/w001/alarms", b"{not json"),
        ("grid/workers/w001/alarms", b'{"kind": "fire"}'),
        ("grid/workers/w001/alarms", b'["a list"]'),
    ],
)
def test_anything_else_is_not_a_dispatch(topic: str, payload: bytes) -> None:
    assert Dispatch.parse(topic, payload) is None
