"""Line protocol for readings: what InfluxDB receives for each kind of device."""

from __future__ import annotations

import timeit

from gateway.config import Settings
from gateway.model import Device, Reading
from gateway.profiles import load_profiles
from gateway.sinks.lineprotocol import LineProtocol, field_roles

DETECTOR = Device(
    "sd-0001", "smoke-detector", "3F corridor", "G-0301", community="C-03", street="S-01"
)
TS = 1767225600.25


def smoke(**fields: bool | int | float | str) -> Reading:
    return Reading("sd-0001", "smoke-detector", "smoke", TS, fields)


def test_a_smoke_alarm_is_one_line_with_sorted_tags_integer_booleans_and_microseconds() -> None:
    line = LineProtocol().line(smoke(smoke=True, fault=False, battery_pct=87), DETECTOR)
    assert line == (
        "smoke,community=C-03,device=sd-0001,grid=G-0301,profile=smoke-detector,street=S-01"
        " smoke=1i,fault=0i,battery_pct=87i 1767225600250000"
    )


def test_floats_keep_their_full_precision() -> None:
    reading = Reading("ef-1", "electrical-fire-monitor", "electrical", TS, {"a": 0.1, "b": 350.0})
    line = LineProtocol().line(reading, Device("ef-1", "electrical-fire-monitor", "n", "G-1"))
    assert line is not None
    assert " a=0.1,b=350.0 " in line


def test_empty_tags_are_left_out() -> None:
    device = Device("wp-1", "water-pressure-sensor", "riser", grid="")
    reading = Reading("wp-1", "water-pressure-sensor", "water", TS, {"pressure_mpa": 0.32})
    assert LineProtocol().line(reading, device) == (
        "water,device=wp-1,profile=water-pressure-sensor pressure_mpa=0.32 1767225600250000"
    )


def test_commas_spaces_and_equals_signs_are_escaped_in_names_and_tags() -> None:
    device = Device("tag 1,a=b", "p", "n", "G 1", community="东区, 1=2")
    reading = Reading("tag 1,a=b", "p", "my meas,x", TS, {"odd key=": 1})
    assert LineProtocol().line(reading, device) == (
        r"my\ meas\,x,community=东区\,\ 1\=2,device=tag\ 1\,a\=b,grid=G\ 1,profile=p"
        r" odd\ key\==1i 1767225600250000"
    )


def test_a_trailing_backslash_cannot_swallow_the_separator() -> None:
    device = Device("dev\\", "p", "n", "G")
    line = LineProtocol().line(Reading("dev\\", "p", "m", TS, {"x": 1}), device)
    assert line == "m,device=dev\\\\,grid=G,profile=p x=1i 1767225600250000"


def test_patrol_worker_becomes_a_tag_result_a_string_field_and_free_text_is_skipped() -> None:
    tag = Device("04:A2", "nfc-patrol-tag", "exit B", "G-0301")
    scan = Reading(
        "04:A2",
        "nfc-patrol-tag",
        "patrol",
        TS,
        {"worker_id": "w017", "result": 'haz"ard\\', "note": "exit blocked", "lat": 31.5},
    )
    line = LineProtocol(tag_fields={"worker_id"}, string_fields={"result"}).line(scan, tag)
    assert line == (
        "patrol,device=04:A2,grid=G-0301,profile=nfc-patrol-tag,worker_id=w017"
        r' result="haz\"ard\\",lat=31.5 1767225600250000'
    )


def test_extra_tags_take_their_sorted_place_among_the_devices_tags() -> None:
    lp = LineProtocol(tag_fields={"worker_id", "floor", "area"})
    scan = Reading("04:A2", "p", "patrol", TS, {"worker_id": "w017", "floor": "3", "area": "B"})
    scan = Reading("04:A2", "p", "patrol", TS, {**scan.fields, "x": 1})
    line = lp.line(scan, DETECTOR)
    assert line == (
        "patrol,area=B,community=C-03,device=sd-0001,floor=3,grid=G-0301,profile=p,street=S-01,"
        "worker_id=w017 x=1i 1767225600250000"
    )


def test_newlines_never_split_a_point() -> None:
    device = Device("d", "p", "n", "G\nX")
    reading = Reading("d", "p", "m", TS, {"result": "a\nb"})
    line = LineProtocol(string_fields={"result"}).line(reading, device)
    assert line is not None
    assert "\n" not in line
    assert line == r'm,device=d,grid=G\nX,profile=p result="a\nb" 1767225600250000'


def test_a_reading_with_nothing_writable_produces_no_line() -> None:
    lp = LineProtocol(tag_fields={"worker_id"})
    scan = Reading("t", "nfc-patrol-tag", "patrol", TS, {"worker_id": "w017", "note": "hi"})
    assert lp.line(scan, Device("t", "nfc-patrol-tag", "n", "G")) is None
    assert lp.line(smoke(), DETECTOR) is None


def test_values_influxdb_cannot_store_are_skipped_not_sent() -> None:
    reading = smoke(
        nan=float("nan"), inf=float("inf"), big=2**63, ok=2**63 - 1, neg=-(2**63), x=1.5
    )
    line = LineProtocol().line(reading, DETECTOR)
    assert line is not None
    assert f" ok={2**63 - 1}i,neg={-(2**63)}i,x=1.5 " in line


def test_a_moved_device_gets_fresh_tags() -> None:
    lp = LineProtocol()
    before = lp.line(smoke(smoke=False), DETECTOR)
    moved = DETECTOR.replace(grid="G-0999")
    after = lp.line(smoke(smoke=False), moved)
    assert before is not None and "grid=G-0301" in before
    assert after is not None and "grid=G-0999" in after
    assert lp.line(smoke(smoke=False), moved) == after


def test_an_equal_but_new_device_object_is_recomputed_and_gives_the_same_line() -> None:
    lp = LineProtocol()
    first = lp.line(smoke(smoke=True), DETECTOR)
    assert lp.line(smoke(smoke=True), DETECTOR.replace()) == first


def test_status_points_share_the_device_tags_under_their_own_measurement() -> None:
    lp = LineProtocol()
    lp.line(smoke(smoke=True), DETECTOR)
    status = Reading("sd-0001", "smoke-detector", "device_status", TS, {"online": False})
    line = lp.line(status, DETECTOR)
    assert line is not None and line.startswith("device_status,community=C-03,device=sd-0001")
    assert line.endswith(" online=0i 1767225600250000")


def test_field_roles_come_from_the_shipped_profiles() -> None:
    tag_fields, string_fields = field_roles(load_profiles(Settings().profiles_dir).values())
    assert "worker_id" in tag_fields
    assert "result" in string_fields
    assert "note" not in tag_fields | string_fields


def test_serialising_a_reading_takes_microseconds() -> None:
    lp = LineProtocol()
    reading = Reading(
        "ef-0001",
        "electrical-fire-monitor",
        "electrical",
        TS,
        {
            "residual_current_ma": 42.5,
            "cable_temp_c_1": 31.2,
            "cable_temp_c_2": 30.8,
            "voltage_v": 228.4,
            "arc_fault": False,
        },
    )
    device = Device("ef-0001", "electrical-fire-monitor", "board", "G-0301", community="C")
    n = 20_000
    per_reading = min(timeit.repeat(lambda: lp.line(reading, device), number=n, repeat=3)) / n
    # The budget is 5 µs on a developer machine; allow slow CI runners a wide margin.
    assert per_reading < 50e-6
