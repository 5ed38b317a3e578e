"""Inactivity (offline after 2 missed heartbeats) and grid storm control, on a fake clock."""

from __future__ import annotations

from gateway.rules import Alarm, Clear, IncidentKind, Severity
from tests.unit.test_engine_support import T0, Harness, alarms, clears, device, shipped_rules

HEARTBEAT = 300  # electrical-fire-monitor


def monitors(n: int, grid: str = "G-0301") -> list[str]:
    return [f"{grid}-EF-{i}" for i in range(n)]


def fleet(*grids: tuple[str, int]) -> Harness:
    h = Harness(shipped_rules())
    for grid, n in grids:
        h.add(*(device(d, "electrical-fire-monitor", grid=grid) for d in monitors(n, grid)))
    return h


def test_a_silent_device_goes_offline_after_two_missed_heartbeats_and_a_reading_clears_it() -> None:
    h = fleet(("G-0301", 1))
    [ef] = monitors(1)
    h.send(ef, voltage_v=230.0)
    assert h.at(2 * HEARTBEAT - 1).tick() == []
    [alarm] = h.at(2 * HEARTBEAT).tick()
    assert isinstance(alarm, Alarm)
    assert alarm.rule_id == "device-offline" and alarm.subject == ef
    assert (alarm.kind, alarm.severity) == (IncidentKind.OFFLINE, Severity.MINOR)
    assert alarm.detail == {"last_seen": T0, "offline_after_s": 600, "missed_heartbeats": 2}
    assert h.at(2000).tick() == []  # held
    [clear] = clears(h.at(2100).send(ef, voltage_v=231.0), "device-offline")
    assert clear.subject == ef and clear.at == T0 + 2100
    assert h.at(2200).tick() == []


def test_a_bare_heartbeat_without_fields_clears_it_on_the_next_tick() -> None:
    h = fleet(("G-0301", 1))
    [ef] = monitors(1)
    h.send(ef, voltage_v=230.0)
    assert alarms(h.at(700).tick(), "device-offline")
    h.topology.seen[ef] = T0 + 800  # the pipeline heard it; no reading reached the engine
    [clear] = clears(h.at(810).tick(), "device-offline")
    assert clear.at == T0 + 800


def test_a_device_never_heard_from_is_not_offline() -> None:
    h = fleet(("G-0301", 1))
    assert h.at(10 * HEARTBEAT).tick() == []


def test_a_few_devices_going_silent_are_individual_offline_alarms() -> None:
    h = fleet(("G-0301", 10))
    for ef in monitors(10):
        h.send(ef, voltage_v=230.0)
    for ef in monitors(10)[3:]:  # 3 of 10 (under 5) fall silent; the others keep reporting
        for t in range(300, 1300, 300):
            h.topology.seen[ef] = T0 + t
    out = h.at(1200).tick()
    assert sorted(a.subject for a in alarms(out, "device-offline")) == monitors(10)[:3]
    assert alarms(out, "grid-outage") == []


def test_a_grid_losing_power_is_one_grid_outage_instead_of_n_offline_alarms() -> None:
    h = fleet(("G-0301", 10), ("G-0302", 4))
    for ef in monitors(10) + monitors(4, "G-0302"):
        h.send(ef, voltage_v=230.0)
    outcomes = []
    for t in range(10, 1800, 10):  # G-0302 keeps reporting; G-0301 has lost power
        for ef in monitors(4, "G-0302"):
            h.topology.seen[ef] = T0 + t
        outcomes += h.at(t).tick()
    [outage] = alarms(outcomes)
    assert outage.rule_id == "grid-outage" and outage.subject == "grid:G-0301"
    assert outage.kind is IncidentKind.GRID_OUTAGE and outage.device_id in monitors(10)
    assert outage.at == T0 + 460  # 1.5 heartbeats: before any offline alarm was due
    assert outage.detail["late"] == 10 and outage.detail["seen"] == 10
    assert outage.detail["devices"] == sorted(monitors(10))
    assert clears(outcomes) == []

    # Power returns to all but one: the outage clears, the straggler is its own problem.
    back = []
    for ef in monitors(10)[1:]:
        back += h.at(1900).send(ef, voltage_v=229.0)
    assert back == []  # suppressed devices had no alarm of their own to clear
    [clear] = h.at(1910).tick()
    assert isinstance(clear, Clear)
    assert clear.rule_id == "grid-outage" and clear.subject == "grid:G-0301"
    [straggler] = h.at(1920).tick()
    assert isinstance(straggler, Alarm)
    assert straggler.rule_id == "device-offline" and straggler.subject == monitors(10)[0]


def test_a_power_cut_under_slow_heartbeats_is_still_one_outage() -> None:
    """Smoke detectors beat every 4 h at random phases: silence is noticed over hours."""
    h = Harness(shipped_rules())
    detectors = [device(f"SD-{i}", grid="G-0301") for i in range(20)]
    h.add(*detectors)
    cut = 5 * 3600
    for i, d in enumerate(detectors):
        h.topology.seen[d.id] = T0 + cut - 14400 * i / 20  # last beat before the cut
    outcomes = []
    for t in range(cut, cut + 12 * 3600, 600):
        outcomes += h.at(t).tick()
    assert [a.rule_id for a in alarms(outcomes)] == ["grid-outage"]


def test_a_tick_in_steps_is_the_same_pass_with_room_for_other_work_between_steps() -> None:
    """At city scale one sweep is ~150 ms of CPU; cut into steps, an alarm runs in between."""
    whole, stepped = fleet(("G-0301", 10)), fleet(("G-0301", 10))
    silent = monitors(10)[5:8]  # 3 of 10: individual offline alarms, not an outage
    for h in (whole, stepped):
        for ef in monitors(10):
            h.send(ef, voltage_v=230.0)
        for ef in set(monitors(10)) - set(silent):
            h.topology.seen[ef] = T0 + 2 * HEARTBEAT - 1
    assert sorted(a.subject for a in alarms(whole.at(2 * HEARTBEAT).tick())) == silent

    steps = stepped.engine.tick_in_steps(T0 + 2 * HEARTBEAT, stepped.topology, devices_per_step=3)
    parts = [next(steps)]
    # Between two steps a reading arrives from a device the sweep has not reached yet.
    assert stepped.at(2 * HEARTBEAT).send(silent[2], voltage_v=231.0) == []
    parts += list(steps)

    assert len(parts) == 5  # 10 devices in steps of 3, then the storms
    assert sorted(a.subject for part in parts for a in alarms(part)) == silent[:2]


def test_a_device_deleted_during_a_stepped_tick_is_left_alone() -> None:
    h = fleet(("G-0301", 4))
    for ef in monitors(4):
        h.send(ef, voltage_v=230.0)
    steps = h.engine.tick_in_steps(T0 + 2 * HEARTBEAT, h.topology, devices_per_step=2)
    first = next(steps)
    del h.topology.by_id[monitors(4)[3]]
    rest = [o for part in steps for o in part]
    offline = sorted(a.subject for a in alarms(first + rest, "device-offline"))
    assert offline == monitors(4)[:3]


def test_a_tick_without_the_device_pass_runs_due_timers_only() -> None:
    """What the gateway does between two device passes of a large fleet: a cable that has been
    hot for its hold time still fires on time; a silent device waits for the next pass."""
    h = fleet(("G-0301", 2))
    hot, silent = monitors(2)
    h.send(hot, cable_temp_c_1=80.0)  # cable-overheat: a 20 s hold starts
    h.send(silent, voltage_v=230.0)
    h.topology.seen[hot] = T0 + 2 * HEARTBEAT
    timers_only = list(h.engine.tick_in_steps(T0 + 2 * HEARTBEAT, h.topology, pass_devices=False))
    assert len(timers_only) == 1
    assert [a.rule_id for a in alarms(timers_only[0])] == ["cable-overheat"]
    [offline] = alarms(h.at(2 * HEARTBEAT).tick(), "device-offline")  # the next full pass
    assert offline.subject == silent
