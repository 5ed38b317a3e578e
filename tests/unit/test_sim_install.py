"""The simulated district registers through the REST API as an installer would, and again
without harm."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gateway.api import create_app
from gateway.metrics import Metrics
from gateway.model import GridLevel
from gateway.registry import Registry, open_registry
from gateway.sim.district import build_district
from gateway.sim.fleet import build_fleet
from gateway.sim.installer import Installed, RegistrationError, install
from gateway.tracker import DeviceTracker
from gateway.unregistered import UnregisteredLog
from tests.fixtures.registry import PROFILES, TOKEN


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[Registry]:
    async with open_registry(tmp_path / "registry.sqlite", PROFILES) as opened:
        yield opened


def _client(registry: Registry, token: str = TOKEN) -> httpx.AsyncClient:
    app = create_app(
        registry=registry,
        profiles=PROFILES,
        tracker=DeviceTracker(),
        unregistered=UnregisteredLog(),
        metrics=Metrics(),
        admin_token=TOKEN,
    )
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://gateway.test/api/v1",
        headers={"Authorization": f"Bearer {token}"},
    )


async def test_the_whole_district_lands_in_the_registry(registry: Registry) -> None:
    district = build_district()
    fleet = build_fleet(district, 24)
    async with _client(registry) as client:
        installed = await install(client, district, fleet)
    units = len(district.units)
    expected = len(district.people) + len(district.stations) + units + len(fleet)
    assert installed == Installed(created=expected, existing=0)
    assert [d.id for d in registry.devices()] == sorted(d.id for d in fleet)
    assert len(registry.workers()) == len(district.people)
    assert len(registry.stations()) == len(district.stations)
    grids = [r for r in registry.grids() if r.grid.level is GridLevel.GRID]
    assert len(grids) == 4
    device = registry.by_external_id(fleet[-1].external_id or "")
    assert device is not None
    assert device.community and device.street, "derived from the grid's parents"


async def test_registering_again_changes_nothing(registry: Registry) -> None:
    district = build_district()
    fleet = build_fleet(district, 24)
    async with _client(registry) as client:
        await install(client, district, fleet)
        again = await install(client, district, fleet)
    assert again.created == 0
    assert again.existing == len(district.people) + len(district.stations) + len(
        district.units
    ) + len(fleet)
    assert len(registry.devices()) == len(fleet)


async def test_a_refusal_names_the_request_and_the_answer(registry: Registry) -> None:
    district = build_district()
    async with _client(registry, token="wrong") as client:
        with pytest.raises(RegistrationError, match=r"POST /workers answered 401"):
            await install(client, district, [])
