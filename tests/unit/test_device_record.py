"""A registered device is one record: its place kept in its own fields, equal by value."""

from __future__ import annotations

import sys

import orjson
import pytest

from gateway.model import Device, Location, as_json

PLACE = Location("贵州路 101 号", "3号楼", "3", 31.2304, 121.4737)
DETECTOR = Device("sd-1", "smoke-detector", "3F kitchen", "G-0101", PLACE, community="C-01")


def test_the_location_comes_back_whole_and_a_device_without_one_has_an_empty_one() -> None:
    assert DETECTOR.location == PLACE and DETECTOR.lat == 31.2304
    assert Device("sd-2", "smoke-detector", "hall", "G-0101").location == Location()


def test_replace_makes_a_changed_copy_and_equality_is_by_value() -> None:
    moved = DETECTOR.replace(grid="G-0999", location=Location(floor="5"))
    assert (moved.grid, moved.floor, moved.lat, moved.community) == ("G-0999", "5", None, "C-01")
    assert DETECTOR.grid == "G-0101"  # unchanged
    assert DETECTOR.replace() == DETECTOR and DETECTOR.replace() is not DETECTOR
    assert moved != DETECTOR
    with pytest.raises(TypeError):
        hash(DETECTOR)  # equal by value, with a thresholds mapping: not a set member
    with pytest.raises(TypeError):
        DETECTOR.replace(colour="red")


def test_json_has_the_fields_a_dataclass_had() -> None:
    data = orjson.loads(orjson.dumps(DETECTOR, default=as_json))
    assert data["location"] == {
        "address": "贵州路 101 号",
        "building": "3号楼",
        "floor": "3",
        "lat": 31.2304,
        "lon": 121.4737,
    }
    assert set(data) == {
        "id",
        "profile",
        "name",
        "grid",
        "location",
        "external_id",
        "thresholds",
        "community",
        "street",
        "installer",
        "commissioning_until",
    }
    with pytest.raises(TypeError):
        orjson.dumps(object(), default=as_json)


def test_one_record_is_smaller_than_a_record_and_a_location() -> None:
    assert sys.getsizeof(DETECTOR) < sys.getsizeof(DETECTOR.location) + 11 * 8 + 16
