"""The simulated district and fleet: a valid grid map, every profile installed, real NB frames."""

from __future__ import annotations

from collections import Counter

import pytest
from shapely.geometry import shape

from gateway.codecs import build_codec
from gateway.model import GridLevel
from gateway.profiles import BinaryStructCodec
from gateway.registry.geo import GridMap, polygon_from_geojson
from gateway.registry.grids import check_import
from gateway.registry.inputs import DeviceIn, GridCollection
from gateway.sim.district import DEMO_DISTRICT, DistrictPlan, build_district
from gateway.sim.fleet import REFERENCE_FLEET, build_fleet, fleet_mix
from gateway.sim.frames import encode_frame
from tests.fixtures.registry import PROFILES

NB = PROFILES["smoke-detector-nb"]


def test_the_demo_district_is_a_grid_map_the_registry_accepts() -> None:
    district = build_district(DEMO_DISTRICT)
    records = GridCollection.model_validate(district.feature_collection()).to_records()
    assert check_import(records, {}, {}) == []
    levels = Counter(r.grid.level for r in records)
    assert levels == {
        GridLevel.DISTRICT: 1,
        GridLevel.STREET: 1,
        GridLevel.COMMUNITY: 1,
        GridLevel.GRID: 4,
    }
    assert 2 <= len(district.stations) <= 3


def test_every_unit_lies_inside_its_parent_and_grids_do_not_overlap() -> None:
    district = build_district(DistrictPlan(streets=2, communities_per_street=3))
    areas = {
        u.grid.code: shape(polygon_from_geojson(_polygon(u.box.ring()))) for u in district.units
    }
    for unit in district.units:
        if unit.grid.parent is not None:
            assert areas[unit.grid.parent].contains(areas[unit.grid.code]), unit.grid.code
    grids = [areas[u.grid.code] for u in district.base_grids()]
    assert len(grids) == 2 * 3 * 4
    assert all(
        not a.overlaps(b) and not a.intersects(b) for a in grids for b in grids if a is not b
    )


def test_the_map_sits_in_central_shanghai_with_lon_lat_order() -> None:
    collection = build_district().feature_collection()
    district = shape(collection["features"][0]["geometry"])
    lon, lat = district.centroid.x, district.centroid.y
    assert abs(lat - 31.23) < 0.01 and abs(lon - 121.47) < 0.01


def test_every_grid_has_a_worker_and_a_leader_who_are_registered_people() -> None:
    district = build_district()
    people = {p.id for p in district.people}
    for unit in district.base_grids():
        assert unit.grid.worker_id in people
        assert unit.grid.leader_id in people
    workers = [u.grid.worker_id for u in district.base_grids()]
    assert len(set(workers)) == len(workers), "one worker (网格员) per grid"


@pytest.mark.parametrize("total", [7, 8, 24, 100, 10_000])
def test_a_fleet_of_any_size_holds_every_shipped_profile(total: int) -> None:
    mix = fleet_mix(total)
    assert set(mix) == set(PROFILES) == set(REFERENCE_FLEET)
    assert sum(mix.values()) == total
    assert min(mix.values()) >= 1


def test_at_scale_the_mix_follows_the_reference_district() -> None:
    total = sum(REFERENCE_FLEET.values())
    mix = fleet_mix(total)
    # The one-per-profile floor shifts each share by a few devices at most.
    assert all(abs(mix[p] - n) <= 3 for p, n in REFERENCE_FLEET.items()), mix


def test_a_fleet_smaller_than_one_per_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 7"):
        fleet_mix(6)


def test_each_device_is_registrable_and_placed_inside_its_own_grid() -> None:
    district = build_district()
    fleet = build_fleet(district, 40)
    grid_map = GridMap(
        (u.grid.code, polygon_from_geojson(_polygon(u.box.ring()))) for u in district.base_grids()
    )
    for device in fleet:
        body = DeviceIn.model_validate(device.registration())
        assert body.location.lat is not None and body.location.lon is not None
        assert grid_map.locate(body.location.lat, body.location.lon) == device.grid
    assert len({d.id for d in fleet}) == len(fleet)
    external = [d.external_id for d in fleet if d.external_id is not None]
    assert len(set(external)) == len(external)


def test_transport_ids_look_like_the_field_z2m_names_imeis_and_nfc_uids() -> None:
    fleet = build_fleet(build_district(), 24)
    by_profile = {d.profile: d for d in fleet}
    z2m = by_profile["smoke-detector-z2m"].external_id or ""
    imei = by_profile["smoke-detector-nb"].external_id or ""
    uid = by_profile["nfc-patrol-tag"].external_id or ""
    assert "/" not in z2m and "+" not in z2m and "#" not in z2m
    assert imei.isdigit() and len(imei) == 15
    assert uid.startswith("04:") and len(uid.split(":")) == 6
    assert by_profile["smoke-detector"].external_id is None


def test_a_few_devices_stay_silent_but_never_the_only_one_of_a_profile() -> None:
    fleet = build_fleet(build_district(), 60)
    silent = [d for d in fleet if d.silent]
    assert silent
    speaking = {d.profile for d in fleet if not d.silent}
    assert speaking == set(PROFILES)
    assert not any(d.profile == "nfc-patrol-tag" for d in silent)


def test_the_same_plan_and_seed_give_the_same_district_and_fleet() -> None:
    assert build_district() == build_district()
    assert build_fleet(build_district(), 24) == build_fleet(build_district(), 24)


def test_an_nb_frame_decodes_with_the_profiles_own_codec() -> None:
    assert isinstance(NB.codec, BinaryStructCodec)
    fields = {
        "smoke": True,
        "test": False,
        "battery_low": False,
        "battery_pct": 87,
        "battery_v": 3.58,
        "temperature_c": -5.2,
        "rsrp_dbm": -101.4,
    }
    frame = encode_frame(NB.codec, fields, ts=1767225590, seq=7)
    decoded = build_codec(NB).decode(frame, received_at=1767225600)
    assert decoded.problems == []
    assert (decoded.ts, decoded.seq) == (1767225590, 7)
    assert decoded.fields == {
        **fields,
        "battery_pct": 87.0,
        "fault": False,
        "tamper": False,
        "silence": False,
    }


def test_frames_match_the_profiles_examples_byte_for_byte() -> None:
    assert isinstance(NB.codec, BinaryStructCodec)
    checked = 0
    for example in NB.examples:
        if example.reading is None:
            continue
        reading = example.reading
        frame = encode_frame(NB.codec, reading.fields, reading.ts, reading.seq)
        assert frame == example.raw(), example.description
        checked += 1
    assert checked >= 2


def _polygon(ring: list[list[float]]) -> dict[str, object]:
    return {"type": "Polygon", "coordinates": [ring]}
