"""REST API, /devices: an installer registers sensors and sees how they are doing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.registry import FIXTURES, IN_G0101, IN_G0102, OUTSIDE, ApiHarness, api_harness

KITCHEN: dict[str, Any] = {
    "id": "sd-0001",
    "profile": "smoke-detector",
    "name": "3F kitchen",
    "location": {
        "address": "贵州路 101 号",
        "building": "1 号楼",
        "floor": "3",
        "lat": IN_G0101[0],
        "lon": IN_G0101[1],
    },
}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ApiHarness]:
    async with api_harness(tmp_path / "registry.sqlite") as harness:
        yield harness


def with_location(**changes: object) -> dict[str, Any]:
    return KITCHEN | {"location": KITCHEN["location"] | changes}


async def test_a_device_is_registered_in_the_grid_under_its_position(api: ApiHarness) -> None:
    response = await api.client.post("/devices", json=KITCHEN)
    assert response.status_code == 201
    assert response.headers["Location"] == "http://gateway.test/api/v1/devices/sd-0001"
    device = response.json()
    assert device | {"location": None} == {
        "id": "sd-0001",
        "profile": "smoke-detector",
        "name": "3F kitchen",
        "external_id": None,
        "location": None,
        "grid": "G-0101",
        "community": "C-0101",
        "street": "S-310101-01",
        "thresholds": {},
        "installer": None,
        "commissioning_until": None,
        "status": "never_seen",
        "last_seen": None,
        "latest": {},
        "latest_at": None,
    }
    assert device["location"] == KITCHEN["location"]
    assert (await api.client.get("/devices/sd-0001")).json() == device


async def test_a_device_in_commissioning_names_its_installer_until_a_deadline(
    api: ApiHarness,
) -> None:
    body = KITCHEN | {"installer": "inst-07", "commissioning_until": "2026-11-23T18:00:00+08:00"}
    response = await api.client.post("/devices", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["installer"] == "inst-07"
    assert response.json()["commissioning_until"].startswith("2026-11-23T10:00:00")
    device = api.registry.by_id("sd-0001")
    assert device is not None
    deadline = 1795428000.0  # 2026-11-23T10:00:00Z
    assert device.commissioning(deadline - 1) and not device.commissioning(deadline)
    naive = await api.client.post(
        "/devices", json=KITCHEN | {"id": "sd-2", "commissioning_until": "2026-11-23T18:00:00"}
    )
    assert naive.status_code == 422 and naive.json()["detail"][0]["loc"] == [
        "body",
        "commissioning_until",
    ]


@pytest.mark.parametrize(
    ("body", "loc", "says"),
    [
        (with_location(lat=95), ["body", "location", "lat"], "less than or equal to 90"),
        (with_location(lon="east"), ["body", "location", "lon"], "valid number"),
        (KITCHEN | {"id": "sd/1"}, ["body", "id"], "should match pattern"),
        (KITCHEN | {"lattitude": 31.2}, ["body", "lattitude"], "Extra inputs"),
        ({"id": "sd-1"}, ["body", "profile"], "Field required"),
        (KITCHEN | {"thresholds": {"battery_low_pct": "low"}}, None, "valid number"),
    ],
)
async def test_a_malformed_body_is_422_with_the_field(
    api: ApiHarness, body: dict[str, Any], loc: list[str] | None, says: str
) -> None:
    response = await api.client.post("/devices", json=body)
    assert response.status_code == 422
    first = response.json()["detail"][0]
    assert first["loc"] == (loc or ["body", "thresholds", "battery_low_pct"])
    assert says in first["msg"]


@pytest.mark.parametrize(
    ("body", "loc", "message"),
    [
        (
            KITCHEN | {"profile": "smoke-alarm-x"},
            ["body", "profile"],
            "unknown profile smoke-alarm-x; known: electrical-fire-monitor, nfc-patrol-tag, "
            "smoke-detector, smoke-detector-nb, smoke-detector-z2m, water-level-sensor, "
            "water-pressure-sensor",
        ),
        (KITCHEN | {"grid": "G-9999"}, ["body", "grid"], "unknown grid G-9999"),
        (
            with_location(lat=OUTSIDE[0], lon=OUTSIDE[1]),
            ["body", "grid"],
            "device sd-0001 at (31.2, 121.4) lies in no grid; name one with grid=",
        ),
        (
            KITCHEN | {"thresholds": {"residual_current_ma": 500}},
            ["body", "thresholds", "residual_current_ma"],
            "profile smoke-detector has no threshold residual_current_ma; it has: battery_low_pct",
        ),
    ],
)
async def test_a_device_that_does_not_fit_the_registry_is_422_with_a_precise_message(
    api: ApiHarness, body: dict[str, Any], loc: list[str], message: str
) -> None:
    response = await api.client.post("/devices", json=body)
    assert response.status_code == 422
    assert response.json() == {"detail": [{"type": "registry", "loc": loc, "msg": message}]}


async def test_a_duplicate_is_409_and_an_unknown_id_404(api: ApiHarness) -> None:
    assert (await api.client.post("/devices", json=KITCHEN)).status_code == 201
    again = await api.client.post("/devices", json=KITCHEN)
    assert (again.status_code, again.json()) == (409, {"detail": "device sd-0001 already exists"})
    missing = await api.client.get("/devices/sd-9999")
    assert (missing.status_code, missing.json()) == (404, {"detail": "no device sd-9999"})
    assert (await api.client.delete("/devices/sd-9999")).status_code == 404


async def test_a_deleted_device_is_gone_with_its_liveness(api: ApiHarness) -> None:
    await api.client.post("/devices", json=KITCHEN)
    api.tracker.seen("sd-0001", 1767225600.0)
    assert (await api.client.delete("/devices/sd-0001")).status_code == 204
    assert (await api.client.get("/devices/sd-0001")).status_code == 404
    assert api.registry.by_id("sd-0001") is None
    assert api.tracker.get("sd-0001") is None


async def test_status_last_seen_and_latest_values_come_from_the_tracker(api: ApiHarness) -> None:
    await api.client.post("/devices", json=KITCHEN)
    api.tracker.seen("sd-0001", 1767225600.0)
    api.tracker.update("sd-0001", 1767225590.5, {"smoke": True, "battery_pct": 87})
    device = (await api.client.get("/devices/sd-0001")).json()
    assert device["status"] == "online"
    assert device["last_seen"] == "2026-01-01T00:00:00.000Z"
    assert device["latest"] == {"smoke": True, "battery_pct": 87}
    assert device["latest_at"] == "2025-12-31T23:59:50.500Z"
    api.tracker.sweep(1767225600.0 + 10_000, {"sd-0001": 60})
    assert (await api.client.get("/devices/sd-0001")).json()["status"] == "offline"


async def test_the_list_filters_by_grid_profile_and_status(api: ApiHarness) -> None:
    await api.client.post("/devices", json=KITCHEN)
    other = with_location(lat=IN_G0102[0], lon=IN_G0102[1]) | {"id": "wp-1"}
    await api.client.post("/devices", json=other | {"profile": "water-pressure-sensor"})
    api.tracker.seen("wp-1", 1767225600.0)

    async def ids(**params: str) -> list[str]:
        response = await api.client.get("/devices", params=params)
        return [d["id"] for d in response.json()]

    assert await ids() == ["sd-0001", "wp-1"]
    assert await ids(grid="G-0102") == ["wp-1"]
    assert await ids(profile="smoke-detector") == ["sd-0001"]
    assert await ids(status="never_seen") == ["sd-0001"]
    assert await ids(status="online") == ["wp-1"]
    assert await ids(limit="1", offset="1") == ["wp-1"]
    bad = await api.client.get("/devices", params={"status": "asleep"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "status"]


async def test_unregistered_talkers_are_listed_until_registered(api: ApiHarness) -> None:
    api.unregistered.record("zigbee2mqtt/canteen-1F", "canteen-1F", b'{"smoke":false}', 1767225600)
    api.unregistered.record("zigbee2mqtt/canteen-1F", "canteen-1F", b'{"smoke":true}', 1767225660)
    api.unregistered.record("devices/sd-0001/up", "sd-0001", b"\xa5\x01", 1767225630)
    listed = (await api.client.get("/devices/unregistered")).json()
    assert listed == [
        {
            "topic": "zigbee2mqtt/canteen-1F",
            "key": "canteen-1F",
            "first_seen": "2026-01-01T00:00:00.000Z",
            "last_seen": "2026-01-01T00:01:00.000Z",
            "count": 2,
            "sample": '{"smoke":false}',
        },
        {
            "topic": "devices/sd-0001/up",
            "key": "sd-0001",
            "first_seen": "2026-01-01T00:00:30.000Z",
            "last_seen": "2026-01-01T00:00:30.000Z",
            "count": 1,
            "sample": "hex:a501",
        },
    ]
    canteen = KITCHEN | {
        "id": "z2m-1",
        "profile": "smoke-detector-z2m",
        "external_id": "canteen-1F",
    }
    await api.client.post("/devices", json=canteen)
    await api.client.post("/devices", json=KITCHEN)
    assert (await api.client.get("/devices/unregistered")).json() == []


async def test_a_csv_imports_whole_over_rest(api: ApiHarness) -> None:
    data = (FIXTURES / "devices.csv").read_bytes()
    response = await api.client.post(
        "/devices/import", content=data, headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 201
    assert response.json() == {
        "imported": 4,
        "ids": ["sd-0001", "sd-0002", "z2m-0001", "ef-0001"],
    }


async def test_a_bad_csv_is_422_line_by_line_and_nothing_is_imported(api: ApiHarness) -> None:
    data = (FIXTURES / "devices_bad.csv").read_bytes()
    response = await api.client.post("/devices/import", content=data)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [(d["line"], d["loc"]) for d in detail] == [
        (3, ["body", 3, "lat"]),
        (4, ["body", 4, "grid"]),
        (5, ["body", 5, "profile"]),
        (6, ["body", 6, "id"]),
    ]
    assert (await api.client.get("/devices")).json() == []
