"""The reference district of DOMAIN.md at full scale and scaled down, its CSV and scenarios."""

from __future__ import annotations

import time
from collections import Counter

import orjson
import pytest
import typer
from typer.testing import CliRunner

from gateway.model import GridLevel
from gateway.registry.csv_import import parse_devices_csv
from gateway.registry.geo import GridMap, polygon_from_geojson
from gateway.registry.grids import check_import
from gateway.registry.inputs import GridCollection
from gateway.sim.behaviour import ElectricalFireMonitor
from gateway.sim.bulk import devices_csv
from gateway.sim.command import simulate
from gateway.sim.district import District
from gateway.sim.diurnal import HOURLY, apply_diurnal, load_at, sim_hour
from gateway.sim.fleet import SimDevice
from gateway.sim.patrol import PatrolWorker
from gateway.sim.plan import PATROL, Message
from gateway.sim.run import base_url, geojson_bytes
from gateway.sim.scale import build_world, district_plan, fleet_counts, sim_plan
from gateway.sim.scripted import SCENARIOS, Mute, scripted
from gateway.sim.traffic import reporters
from tests.fixtures.registry import PROFILES

World = tuple[District, list[SimDevice]]
SMOKE = ("smoke-detector", "smoke-detector-nb", "smoke-detector-z2m")
WATER = ("water-pressure-sensor", "water-level-sensor")


@pytest.fixture(scope="module")
def full() -> World:
    started = time.perf_counter()
    world = build_world(1.0)
    assert time.perf_counter() - started < 5.0  # seconds, not minutes
    return world


def test_full_scale_counts_match_the_reference_district(full: World) -> None:
    district, fleet = full
    assert len(district.base_grids()) == 1089
    assert len(district.stations) == 76
    kinds = Counter(d.profile for d in fleet)
    assert sum(kinds[p] for p in SMOKE) == 2861
    assert kinds["electrical-fire-monitor"] == 2113
    assert sum(kinds[p] for p in WATER) == 430
    assert kinds["nfc-patrol-tag"] == 4064
    assert len({d.id for d in fleet}) == len(fleet) == 9468


def test_every_device_lies_inside_its_own_grid(full: World) -> None:
    district, fleet = full
    boxes = {u.grid.code: u.box for u in district.base_grids()}
    assert all(boxes[d.grid].contains(*_at(d)) for d in fleet)
    # And the gateway's own point-in-polygon agrees, for a sample.
    grid_map = GridMap(
        (code, polygon_from_geojson(_polygon(b.ring()))) for code, b in boxes.items()
    )
    for device in fleet[::97]:
        assert grid_map.locate(*_at(device)) == device.grid


def test_the_full_scale_geojson_is_a_map_the_registry_accepts(full: World) -> None:
    district, _ = full
    collection = orjson.loads(geojson_bytes(district))
    records = GridCollection.model_validate(collection).to_records()
    assert check_import(records, {}, {}) == []
    levels = Counter(r.grid.level for r in records)
    assert levels[GridLevel.GRID] == 1089 and levels[GridLevel.COMMUNITY] == 99
    for feature in collection["features"]:
        ring = feature["geometry"]["coordinates"][0]
        assert ring[0] == ring[-1] and len(ring) == 5


def test_the_import_csv_parses_without_problems(full: World) -> None:
    _, fleet = full
    rows = parse_devices_csv(devices_csv(fleet[:3000]))
    assert rows.problems == [] and len(rows.drafts) == 3000


@pytest.mark.parametrize("scale", [0.001, 0.01, 0.1, 0.5])
def test_scaled_districts_keep_every_profile(scale: float) -> None:
    plan = district_plan(scale)
    grids = plan.streets * plan.communities_per_street * plan.grids_per_community
    assert grids >= max(1, round(1089 * scale))
    assert all(n >= 1 for n in fleet_counts(scale).values())


def test_the_plan_compresses_profile_heartbeats() -> None:
    plan = sim_plan(PROFILES, speed=60)
    assert plan.period_s["electrical-fire-monitor"] == 300 / 60
    assert plan.period_s["smoke-detector"] == 14400 / 60
    assert PATROL in plan.period_s and "nfc-patrol-tag" not in plan.period_s
    assert sim_plan(PROFILES, speed=1e6).period_s["smoke-detector"] == 1.0


def test_power_cut_and_missed_patrol_mute_their_topics_and_kitchen_fire_alarms_at_once() -> None:
    district, fleet = build_world(0.01)
    found = reporters(district, fleet, PROFILES, sim_plan(PROFILES, 60))
    mute, sent = Mute(), []
    steps = scripted(SCENARIOS, found, mute, lambda r: sent.append(r.report(0.0)))
    for step in steps:
        step.act()
    assert len(sent) == 2  # the two detectors of one building, alarming
    patrol = next(r for r in found if isinstance(r, PatrolWorker))
    assert patrol.topic in mute.topics
    out: list[Message] = []
    gate = mute.gate(out.append)
    gate(Message(patrol.topic, b"{}"))
    gate(Message("elsewhere", b"{}"))
    assert [m.topic for m in out] == ["elsewhere"]
    with pytest.raises(ValueError, match="unknown scenario"):
        scripted(["flood"], found, mute, lambda r: None)


def test_the_api_url_works_with_or_without_the_api_prefix() -> None:
    assert base_url("http://firegrid:8080/api/v1") == "http://firegrid:8080"
    assert base_url("http://firegrid:8080/") == "http://firegrid:8080"


def test_the_command_refuses_an_unknown_scenario_and_a_missing_token() -> None:
    app = typer.Typer()
    app.command()(simulate)
    runner = CliRunner()
    env = {"FIREGRID_ADMIN_TOKEN": ""}
    assert runner.invoke(app, [], env=env).exit_code == 2
    done = runner.invoke(app, ["--token", "t", "--scenario", "flood"], env=env)
    assert done.exit_code == 2
    assert "--scenario" in runner.invoke(app, ["--help"]).output


def _polygon(ring: list[list[float]]) -> dict[str, object]:
    return {"type": "Polygon", "coordinates": [ring]}


def _at(device: SimDevice) -> tuple[float, float]:
    lat, lon = device.location.lat, device.location.lon
    assert lat is not None and lon is not None
    return lat, lon


def test_the_electrical_load_follows_the_simulated_day() -> None:
    assert load_at(19) == max(HOURLY) and load_at(3) < 0.3
    assert load_at(18.5) == pytest.approx((HOURLY[18] + HOURLY[19]) / 2)
    hour = sim_hour(start=0.0, speed=3600)  # an hour a second; epoch 0 is 08:00 in Beijing
    assert hour(0.0) == 8 and hour(11.0) == 19 and hour(24.0) == 8
    district, fleet = build_world(0.01)
    found = reporters(district, fleet, PROFILES, sim_plan(PROFILES, 3600))
    assert apply_diurnal(found, 0.0, 3600) > 0
    monitor = next(r for r in found if isinstance(r, ElectricalFireMonitor))
    night = orjson.loads(monitor.report(-5.0).payload)["current_a"]  # 03:00
    evening = orjson.loads(monitor.report(11.0).payload)["current_a"]  # 19:00
    assert evening > 2 * night
