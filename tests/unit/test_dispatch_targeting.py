"""分拨派遣 targeting: nearest micro fire station, radius and fallback, the ladder's rungs."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.incidents import DispatchConfig, IncidentConfig, Role
from gateway.incidents.dispatch import climb, haversine_m, pick_station, recipient_topic, rung
from gateway.model import FireStation
from gateway.rules.outcomes import IncidentKind, Severity
from tests.unit.test_incident_world import FakeTopology, north_of, open_world, smoke

CONFIG = DispatchConfig()  # 1 km radius, 5 km fallback cap


def test_haversine_matches_a_known_distance() -> None:
    assert haversine_m(0, 0, 0, 1) == pytest.approx(111_195, abs=1)  # a degree on the equator
    # People's Square to the Oriental Pearl Tower, Shanghai: about 2.7 km across the river.
    assert haversine_m(31.2304, 121.4737, 31.2397, 121.4998) == pytest.approx(2690, rel=0.01)
    assert haversine_m(31.2, 121.5, 31.2, 121.5) == 0


def test_the_nearest_station_is_chosen_and_a_farther_one_is_not() -> None:
    stations = [
        FireStation("ST-B", "b", north_of(31.2, 900), 121.5),
        FireStation("ST-A", "a", north_of(31.2, 300), 121.5),
        FireStation("ST-C", "c", north_of(31.2, 4000), 121.5),
    ]
    picked = pick_station(31.2, 121.5, stations, CONFIG)

    assert picked is not None
    assert (picked.role, picked.id, picked.within_radius) == (Role.STATION, "ST-A", True)
    assert picked.distance_m == pytest.approx(300, abs=1)


def test_equal_distances_go_to_the_lower_station_id() -> None:
    stations = [
        FireStation("ST-2", "x", north_of(31.2, 400), 121.5),
        FireStation("ST-1", "y", north_of(31.2, -400), 121.5),
    ]
    picked = pick_station(31.2, 121.5, stations, CONFIG)
    assert picked is not None and picked.id == "ST-1"


def test_with_none_inside_the_radius_the_nearest_beyond_it_is_the_fallback() -> None:
    stations = [
        FireStation("ST-3K", "x", north_of(31.2, 3000), 121.5),
        FireStation("ST-2K", "y", north_of(31.2, 2000), 121.5),
    ]
    picked = pick_station(31.2, 121.5, stations, CONFIG)

    assert picked is not None
    assert (picked.id, picked.within_radius) == ("ST-2K", False)


def test_beyond_the_fallback_cap_no_station_is_dispatched() -> None:
    stations = [FireStation("ST-6K", "x", north_of(31.2, 6000), 121.5)]
    assert pick_station(31.2, 121.5, stations, CONFIG) is None
    uncapped = DispatchConfig(station_fallback_max_m=None)
    assert pick_station(31.2, 121.5, stations, uncapped) is not None
    assert pick_station(31.2, 121.5, [], CONFIG) is None


def test_the_radius_and_the_cap_are_configurable_and_checked() -> None:
    tight = DispatchConfig(station_radius_m=200, station_fallback_max_m=1000)
    station = [FireStation("ST", "x", north_of(31.2, 500), 121.5)]
    picked = pick_station(31.2, 121.5, station, tight)
    assert picked is not None and picked.within_radius is False
    with pytest.raises(ValidationError, match="must not be below"):
        DispatchConfig(station_radius_m=2000, station_fallback_max_m=1000)


@pytest.mark.parametrize(
    ("kind", "severity", "wanted"),
    [
        (IncidentKind.FIRE, Severity.WARNING, True),
        (IncidentKind.ELECTRICAL_HAZARD, Severity.CRITICAL, True),
        (IncidentKind.ELECTRICAL_HAZARD, Severity.MAJOR, False),
        (IncidentKind.WATER_SUPPLY, Severity.CRITICAL, False),
    ],
)
def test_fires_and_critical_electrical_hazards_bring_a_station(
    kind: IncidentKind, severity: Severity, wanted: bool
) -> None:
    assert CONFIG.wants_station(kind, severity) is wanted


def test_the_ladder_rungs_come_from_the_grid_and_its_ancestors() -> None:
    topology = FakeTopology()
    people = [[(r.role, r.id) for r in rung(topology, "G-0301", level)] for level in range(5)]
    assert people == [
        [(Role.WORKER, "w-0301")],
        [(Role.LEADER, "l-0301")],
        [(Role.COMMUNITY, "c-lead")],
        [(Role.STREET, "s-lead"), (Role.STREET, "s-duty")],
        [(Role.CENTRE, "")],
    ]
    assert climb(topology, "G-0302", 0)[0] == 2  # no worker, no leader in G-0302
    assert climb(topology, "nowhere", 0)[0] == 4  # the centre always answers


def test_topics_follow_the_contract() -> None:
    assert recipient_topic(Role.WORKER, "w1") == "grid/workers/w1/alarms"
    assert recipient_topic(Role.COMMUNITY, "c1") == "grid/workers/c1/alarms"
    assert recipient_topic(Role.STATION, "s1") == "grid/stations/s1/alarms"
    assert recipient_topic(Role.CENTRE, "") == "grid/centre/alarms"
    assert recipient_topic(Role.INSTALLER, "i1") == "grid/installers/i1/alarms"


async def test_a_fallback_station_is_dispatched_and_noted(tmp_path: Path) -> None:
    topology = FakeTopology()
    topology.station_list = [FireStation("ST-FAR", "far", north_of(31.2, 2000), 121.5)]
    async with open_world(tmp_path, topology=topology) as w:
        (opened, _) = await w.service.apply([smoke()])

        incident = await w.service.get(opened.incident.id)
        assert incident.station_id == "ST-FAR"
        (entry,) = [e for e in incident.timeline if e.data.get("role") == "station"]
        assert entry.data["within_radius"] is False
        assert "fallback" in entry.note


async def test_no_station_beyond_the_cap_is_noted_and_the_worker_still_goes(
    tmp_path: Path,
) -> None:
    topology = FakeTopology()
    topology.station_list = [FireStation("ST-X", "x", north_of(31.2, 9000), 121.5)]
    config = IncidentConfig(dispatch=DispatchConfig(station_fallback_max_m=5000))
    async with open_world(tmp_path, topology=topology, config=config) as w:
        (opened, _) = await w.service.apply([smoke()])

        incident = await w.service.get(opened.incident.id)
        assert incident.station_id is None
        assert any("no micro fire station within 5000 m" in e.note for e in incident.timeline)
        assert [r.topic for r in await w.pending() if r.recipient] == ["grid/workers/w-0301/alarms"]
