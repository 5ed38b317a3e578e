"""Simulated traffic through the real ingest pipeline: minutes of it, run instantly.

Every device reports, every message but the deliberate bad ones becomes a reading, and the bad
ones are refused for exactly the reasons they were made for.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import replace

import pytest

from gateway.metrics import Metrics
from gateway.model import Device
from gateway.pipeline import Pipeline
from gateway.sim.district import District, build_district
from gateway.sim.faults import BadMessages
from gateway.sim.fleet import SimDevice, build_fleet
from gateway.sim.plan import DEMO_PLAN, Message, TrafficPlan
from gateway.sim.traffic import Traffic, drive, reporters
from gateway.tracker import DeviceTracker
from gateway.unregistered import UnregisteredLog
from tests.fixtures.registry import PROFILES
from tests.unit.fakes import DictDirectory, RecordingSink, counter

T0 = 1767225600.0


class Bench:
    """The pipeline over the simulated fleet, fed by the traffic generator."""

    def __init__(self, devices: int = 24, plan: TrafficPlan = DEMO_PLAN) -> None:
        self.district: District = build_district()
        self.fleet: list[SimDevice] = build_fleet(self.district, devices)
        self.sink = RecordingSink()
        self.metrics = Metrics()
        self.tracker = DeviceTracker()
        self.pipeline = Pipeline(
            PROFILES,
            DictDirectory(*(_device(d) for d in self.fleet)),
            [self.sink],
            self.tracker,
            UnregisteredLog(),
            self.metrics,
        )
        found = reporters(self.district, self.fleet, PROFILES, plan)
        self.traffic = Traffic(found, plan, T0)
        self.messages: list[Message] = []

    def run(self, seconds: float, step: float = 0.5) -> None:
        now = T0
        while now < T0 + seconds:
            now += step
            for message in self.traffic.take(now):
                self.messages.append(message)
                self.pipeline.handle(message.topic, message.payload, now + 0.05)

    def numbers(self, device_id: str, name: str) -> list[float]:
        return [
            float(r.fields[name])
            for r, _ in self.sink.points
            if r.device_id == device_id and name in r.fields
        ]

    def rejected(self) -> dict[str, float]:
        reasons = ("unknown_device", "malformed_json", "no_valid_fields", "bad_checksum")
        return {
            r: counter(self.metrics, "firegrid_messages_rejected_total", reason=r) for r in reasons
        }


def _device(sim: SimDevice) -> Device:
    return Device(sim.id, sim.profile, sim.name, sim.grid, sim.location, sim.external_id)


def test_within_two_seconds_every_kind_of_reading_arrives() -> None:
    bench = Bench()
    bench.run(2.0)
    measurements = {r.measurement for r, _ in bench.sink.points}
    assert {"smoke", "electrical", "water", "patrol"} <= measurements


def test_every_powered_device_reports_and_the_silent_ones_never_do() -> None:
    bench = Bench()
    bench.run(60)
    heard = {r.device_id for r, _ in bench.sink.points}
    for device in bench.fleet:
        assert (device.id in heard) != device.silent, device.id


def test_only_the_deliberate_bad_messages_are_refused_each_for_its_reason() -> None:
    bench = Bench()
    bench.run(60)
    faults = 60 / DEMO_PLAN.bad_message_every_s
    rejected = bench.rejected()
    assert all(n >= 1 for n in rejected.values()), rejected
    assert sum(rejected.values()) == pytest.approx(faults, abs=3)
    assert counter(bench.metrics, "firegrid_messages_received_total") == len(bench.messages)
    kept = len([r for r, _ in bench.sink.points if r.measurement != "device_status"])
    assert kept == len(bench.messages) - sum(rejected.values())
    problems = counter(bench.metrics, "firegrid_field_problems_total", reason="out_of_range")
    assert problems == rejected["no_valid_fields"]  # the broken pressure transducer, only


def test_the_bad_messages_come_in_turn_so_a_short_run_sees_each_kind() -> None:
    bench = Bench()
    source = BadMessages(bench.fleet, PROFILES)
    topics = [source.report(T0 + i).topic for i in range(4)]
    assert len(set(topics)) == 4
    assert topics[0] == "devices/sd-unregistered-1/up"


def test_a_heating_cable_passes_the_70_degree_insulation_limit_then_is_repaired() -> None:
    bench = Bench()
    bench.run(300)
    hot = bench.numbers("ef-0001", "cable_temp_c_2")
    assert max(hot) > 70
    peak = hot.index(max(hot))
    assert hot[peak + 1] < 50
    assert max(bench.numbers("ef-0002", "cable_temp_c_2")) < 45


def test_pressure_dips_below_the_floor_and_recovers() -> None:
    bench = Bench(plan=replace(DEMO_PLAN, pressure_dip_chance=0.2))
    bench.run(120)
    pressures = bench.numbers("wp-0001", "pressure_mpa")
    lowest = pressures.index(min(pressures))
    assert pressures[lowest] < 0.10  # below the sprinkler/public-building floor
    assert max(pressures[lowest:]) > 0.2


def test_patrol_scans_find_hazards_and_stay_near_their_tag() -> None:
    bench = Bench(plan=replace(DEMO_PLAN, hazard_chance=0.3))
    bench.run(60)
    scans = [(r, d) for r, d in bench.sink.points if r.measurement == "patrol"]
    results = Counter(r.fields["result"] for r, _ in scans)
    assert results["ok"] and results["hazard"]
    for reading, device in scans:
        assert reading.fields["worker_id"] == bench.district.unit(device.grid).grid.worker_id
        lat, lon = reading.fields["lat"], reading.fields["lon"]
        assert isinstance(lat, float) and isinstance(lon, float)
        assert abs(lat - (device.location.lat or 0)) < 0.0001
        assert abs(lon - (device.location.lon or 0)) < 0.0001


def test_smoke_alarms_happen_and_clear() -> None:
    bench = Bench(plan=replace(DEMO_PLAN, smoke_alarm_chance=0.2))
    bench.run(120)
    smoke = [r.fields["smoke"] for r, _ in bench.sink.points if "smoke" in r.fields]
    assert any(smoke) and not all(smoke)


def test_a_fleet_of_thousands_all_report_within_the_first_seconds() -> None:
    bench = Bench(devices=5000)
    bench.run(2, step=1.0)
    heard = {r.device_id for r, _ in bench.sink.points}
    # Tags excepted: a worker scans one at a time.
    powered = {d.id for d in bench.fleet if not d.silent and d.profile != "nfc-patrol-tag"}
    assert powered <= heard


async def test_drive_publishes_each_reporter_as_it_falls_due() -> None:
    plan = replace(DEMO_PLAN, first_within_s=0.2)
    district = build_district()
    found = reporters(district, build_fleet(district, 24), PROFILES, plan)
    traffic = Traffic(found, plan, time.time())
    sent: list[Message] = []
    stop = asyncio.Event()

    def publish(message: Message) -> None:
        sent.append(message)
        if len(sent) >= len(found):
            stop.set()

    await asyncio.wait_for(drive(traffic, publish, stop), 5)
    assert len({m.topic for m in sent}) >= len(found) - 1  # the faults share a device's topic
