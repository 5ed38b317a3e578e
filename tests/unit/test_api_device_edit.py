"""REST API, ``PUT /devices/{id}``: an installer moves, renames and re-thresholds a detector
already on the wall; its history and liveness stay, and the audit log keeps before and after."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.audit import AuditLog
from gateway.tracker import DeviceTracker
from tests.fixtures.registry import IN_G0101, IN_G0104, registry_with_district
from tests.unit.test_api_support import Access, served

KITCHEN: dict[str, Any] = {
    "id": "sd-0001",
    "profile": "smoke-detector",
    "name": "3F kitchen",
    "external_id": "kitchen-3F",
    "location": {"address": "贵州路 101 号", "lat": IN_G0101[0], "lon": IN_G0101[1]},
}
MOVED: dict[str, Any] = {
    "profile": "smoke-detector",
    "name": "1F lobby",
    "external_id": "kitchen-3F",
    "location": {"address": "宁波路 55 号", "floor": "1", "lat": IN_G0104[0], "lon": IN_G0104[1]},
    "thresholds": {"battery_low_pct": 15},
}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[Access, AuditLog, DeviceTracker]]:
    async with registry_with_district(tmp_path / "registry.sqlite") as registry:
        log = await AuditLog.open(tmp_path / "audit.sqlite")
        try:
            async with served(tmp_path, registry, audit=log) as access:
                created = await access.admin.post("/devices", json=KITCHEN)
                assert created.status_code == 201, created.text
                yield access, log, access.app.state.firegrid.tracker
        finally:
            await log.close()


async def test_a_moved_detector_gets_the_grid_under_its_new_place_and_keeps_its_liveness(
    api: tuple[Access, AuditLog, DeviceTracker],
) -> None:
    access, _, tracker = api
    tracker.seen("sd-0001", 1767225600.0)
    tracker.update("sd-0001", 1767225600.0, {"smoke": False, "battery_pct": 87})
    installer = access.as_(await access.issue("installer", "inst-01"))
    response = await installer.put("/devices/sd-0001", json=MOVED)
    assert response.status_code == 200, response.text
    device = response.json()
    assert (device["id"], device["grid"], device["name"]) == ("sd-0001", "G-0104", "1F lobby")
    assert device["location"]["floor"] == "1" and device["thresholds"] == {"battery_low_pct": 15}
    assert (device["status"], device["latest"]["battery_pct"]) == ("online", 87)
    assert (await installer.get("/devices/sd-0001")).json() == device
    # The id may be repeated in the body, as the registration had it.
    again = await installer.put("/devices/sd-0001", json=MOVED | {"id": "sd-0001"})
    assert again.status_code == 200, again.text


async def test_only_installers_and_admins_edit_devices(
    api: tuple[Access, AuditLog, DeviceTracker],
) -> None:
    access, _, _ = api
    assert (await access.as_(None).put("/devices/sd-0001", json=MOVED)).status_code == 401
    assert (await access.as_("not-a-token").put("/devices/sd-0001", json=MOVED)).status_code == 401
    for role in ("worker", "officer", "viewer"):
        client = access.as_(
            await access.issue(role, f"a {role}", "w-001" if role == "worker" else None)
        )
        assert (await client.put("/devices/sd-0001", json=MOVED)).status_code == 403, role
    assert (await access.admin.put("/devices/sd-0001", json=MOVED)).status_code == 200
    device = access.registry.by_id("sd-0001")
    assert device is not None and device.grid == "G-0104"


async def test_an_unknown_device_is_404_and_another_model_is_409(
    api: tuple[Access, AuditLog, DeviceTracker],
) -> None:
    access, _, _ = api
    missing = await access.admin.put("/devices/sd-9999", json=MOVED)
    assert (missing.status_code, missing.json()) == (404, {"detail": "no device sd-9999"})
    water = await access.admin.put(
        "/devices/sd-0001", json=MOVED | {"profile": "water-pressure-sensor", "thresholds": {}}
    )
    assert water.status_code == 409
    assert "delete this one and register the replacement" in water.json()["detail"]
    await access.admin.post("/devices", json=KITCHEN | {"id": "sd-0002", "external_id": "hall"})
    taken = await access.admin.put("/devices/sd-0001", json=MOVED | {"external_id": "hall"})
    assert (taken.status_code, taken.json()) == (
        409,
        {"detail": "external_id hall is already used by device sd-0002"},
    )
    device = access.registry.by_id("sd-0001")
    assert device is not None and device.grid == "G-0101"  # nothing changed


@pytest.mark.parametrize(
    ("body", "loc", "says"),
    [
        (
            MOVED | {"id": "sd-0002"},
            ["body", "id"],
            "the path names device sd-0001, the body sd-0002",
        ),
        (MOVED | {"lattitude": 31.2}, ["body", "lattitude"], "Extra inputs"),
        ({"name": "x"}, ["body", "profile"], "Field required"),
        (MOVED | {"location": {"lat": 95, "lon": 121.4}}, ["body", "location", "lat"], "90"),
        (
            MOVED | {"thresholds": {"residual_current_ma": 300}},
            ["body", "thresholds", "residual_current_ma"],
            "profile smoke-detector has no threshold residual_current_ma",
        ),
        (
            MOVED | {"location": {"lat": 31.2, "lon": 121.4}},
            ["body", "grid"],
            "lies in no grid",
        ),
    ],
)
async def test_a_bad_edit_is_422_with_the_field(
    api: tuple[Access, AuditLog, DeviceTracker], body: dict[str, Any], loc: list[str], says: str
) -> None:
    access, _, _ = api
    response = await access.admin.put("/devices/sd-0001", json=body)
    assert response.status_code == 422, response.text
    first = response.json()["detail"][0]
    assert first["loc"] == loc and says in first["msg"]


async def test_an_edit_is_on_the_audit_log_with_before_and_after(
    api: tuple[Access, AuditLog, DeviceTracker],
) -> None:
    access, _, _ = api
    installer = access.as_(await access.issue("installer", "inst-01"))
    assert (await installer.put("/devices/sd-0001", json=MOVED)).status_code == 200
    officer = access.as_(await access.issue("officer", "李监管"))
    assert (await officer.put("/devices/sd-0001", json=KITCHEN)).status_code == 403
    entries = (await access.admin.get("/audit", params={"subject": "device:sd-0001"})).json()
    refused, edited, registered = entries
    assert registered["action"] == "POST /api/v1/devices"
    assert (edited["actor"], edited["role"], edited["action"], edited["status"]) == (
        "inst-01",
        "installer",
        "PUT /api/v1/devices/sd-0001",
        200,
    )
    assert (edited["before"]["grid"], edited["before"]["name"]) == ("G-0101", "3F kitchen")
    assert (edited["after"]["grid"], edited["after"]["name"]) == ("G-0104", "1F lobby")
    assert (refused["actor"], refused["status"], refused["after"]) == ("李监管", 403, None)
    assert refused["before"]["grid"] == "G-0104"
