"""The audit log: who changed the registry or moved an incident, when, and what it was before
and after — including what they tried and were refused."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.audit import AuditLog
from gateway.incidents.service import IncidentService
from gateway.incidents.store import SqliteIncidentStore
from gateway.model import Location
from gateway.registry import DeviceDraft
from tests.fixtures.registry import FIXTURES, registry_with_district
from tests.unit.test_api_support import Access, FakeClock, Incidents, served

DISTRICT = FIXTURES / "district.geojson"


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[Incidents, AuditLog]]:
    """The sample district, detector sd-0101 in G-0101 (worker w-001) with an open fire."""
    async with registry_with_district(tmp_path / "registry.sqlite") as registry:
        draft = DeviceDraft("sd-0101", "smoke-detector", "3F", grid="G-0101", location=Location())
        await registry.add_device(draft)
        store = await SqliteIncidentStore.open(tmp_path / "incidents.sqlite")
        log = await AuditLog.open(tmp_path / "audit.sqlite")
        try:
            clock = FakeClock()
            service = await IncidentService.open(store, registry, clock=clock)
            async with served(tmp_path, registry, incidents=service, audit=log) as api:
                yield Incidents(api, service, clock), log
        finally:
            await log.close()
            await store.close()


async def _entries(api: Access, **params: str) -> list[dict[str, Any]]:
    response = await api.admin.get("/audit", params=params)
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()
    return entries


async def test_registry_changes_name_who_and_what_was_there_before(
    world: tuple[Incidents, AuditLog],
) -> None:
    api = world[0].api
    installer = api.as_(await api.issue("installer", name="installer Wang"))
    device = {"id": "sd-2", "profile": "smoke-detector", "name": "lobby", "grid": "G-0102"}
    assert (await installer.post("/devices", json=device)).status_code == 201
    assert (await installer.delete("/devices/sd-0101")).status_code == 204
    csv = b"id,profile,name,grid\nsd-3,smoke-detector,hall,G-0101\n"
    assert (await installer.post("/devices/import", content=csv)).status_code == 201
    [g0104] = [f for f in json.loads(DISTRICT.read_text())["features"] if "G-0104" in str(f)]
    g0104["properties"]["name"] = "新名字"
    renamed = {"type": "FeatureCollection", "features": [g0104]}
    assert (await api.admin.post("/grids", json=renamed)).status_code == 200

    grids, imported, removed, added, issued = (await _entries(api))[:5]
    assert imported["subject"] == "devices/import" and imported["after"]["ids"] == ["sd-3"]
    assert (added["actor"], added["role"], added["subject"]) == (
        "installer Wang",
        "installer",
        "device:sd-2",
    )
    assert added["before"] is None and added["after"]["grid"] == "G-0102"
    assert removed["action"] == "DELETE /api/v1/devices/sd-0101"
    assert removed["before"]["id"] == "sd-0101" and removed["after"] is None
    assert grids["actor"] == "admin" and grids["subject"] == "grids:G-0104"
    assert grids["before"]["G-0104"]["name"] == "贵州社区第4网格"
    assert grids["after"]["G-0104"]["name"] == "新名字"
    assert issued["subject"] == "tokens" and issued["after"]["secret"] == "(redacted)"
    assert added["at"] == pytest.approx(removed["at"], abs=60)


async def test_an_incident_action_and_a_refused_attempt_are_both_on_record(
    world: tuple[Incidents, AuditLog],
) -> None:
    incidents, _ = world
    api = incidents.api
    incident_id = await incidents.alarm("sd-0101")
    worker = api.as_(await api.issue("worker", worker_id="w-001"))
    acted = await worker.post(f"/incidents/{incident_id}/actions", json={"action": "ack"})
    assert acted.status_code == 200, acted.text
    assert (await worker.delete("/devices/sd-0101")).status_code == 403
    assert (await api.as_(None).delete("/devices/sd-0101")).status_code == 401  # not recorded

    refused, ack = (await _entries(api))[:2]
    assert (ack["actor"], ack["subject"], ack["status"]) == (
        "w-001",
        f"incident:{incident_id}",
        200,
    )
    assert ack["before"]["status"] != "accepted" and ack["after"]["status"] == "accepted"
    assert (refused["actor"], refused["status"], refused["after"]) == ("w-001", 403, None)
    assert refused["before"]["id"] == "sd-0101"  # what they tried to remove, still there
    assert all(e["role"] != "anonymous" for e in await _entries(api))
    assert [e["status"] for e in await _entries(api, subject=f"incident:{incident_id}")] == [200]


async def test_a_revoked_token_shows_when_and_never_its_hash(
    world: tuple[Incidents, AuditLog],
) -> None:
    api = world[0].api
    issued = (await api.admin.post("/tokens", json={"role": "viewer", "name": "grafana"})).json()
    assert (await api.admin.delete(f"/tokens/{issued['id']}")).status_code == 204
    [revoked] = await _entries(api, subject=f"token:{issued['id']}")
    assert revoked["before"]["revoked_at"] is None and revoked["after"]["revoked_at"] is not None
    assert revoked["after"]["secret_hash"] == "(redacted)"


async def test_only_an_admin_reads_the_log(world: tuple[Incidents, AuditLog]) -> None:
    api = world[0].api
    officer = api.as_(await api.issue("officer"))
    assert (await officer.get("/audit")).status_code == 403
