"""The console's pages and the small endpoints it added: ``/me``, ``/geo/grid`` and
commissioning (调试)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.console import STATIC
from tests.fixtures.registry import IN_G0101, IN_G0104, OUTSIDE
from tests.unit.test_console_support import World, console_world

TILES = "https://tiles.example/{z}/{x}/{y}.png"


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with console_world(tmp_path, console_tile_url=TILES) as found:
        yield found


# -- the pages ------------------------------------------------------------------------------


async def test_the_console_is_served_with_its_files_and_settings(world: World) -> None:
    root = world.api.as_(None)
    root.base_url = "http://gateway.test"
    page = await root.get("/console/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert set(assets) == {
        "static/console.css",
        "static/i18n.js",
        "static/map.js",
        "static/console.js",
    }
    for asset in assets:
        assert (await root.get(f"/console/{asset}")).status_code == 200, asset
    assert (await root.get("/console/config.json")).json() == {
        "tile_url": TILES,
        "evidence_max_bytes": 8 * 1024 * 1024,
    }
    redirect = await root.get("/")
    assert (redirect.status_code, redirect.headers["location"]) == (307, "/console/")


def test_nothing_in_the_console_comes_from_the_internet() -> None:
    """A district's private network has no CDN: every script, style and font is shipped."""
    shipped = [p for p in STATIC.rglob("*") if p.suffix in {".html", ".js", ".css"}]
    assert STATIC / "vendor" / "jsQR.js" in shipped
    for path in shipped:
        text = path.read_text(encoding="utf-8").replace("http://www.w3.org/2000/svg", "")
        # A link in a comment loads nothing (jsQR cites an article on line drawing).
        text = re.sub(r"^\s*//.*$", "", text, flags=re.MULTILINE)
        assert not re.search(r"https?://|//cdn|@import|url\(", text), path.name
    # Vendored code ships with its licence.
    assert "Apache License" in (STATIC / "vendor" / "jsQR.LICENSE").read_text(encoding="utf-8")


# -- /me -------------------------------------------------------------------------------------


async def test_me_tells_the_console_who_signed_in(world: World) -> None:
    zhang = world.api.as_(await world.api.issue("worker", "张伟", "w-001"))
    me = (await zhang.get("/me")).json()
    assert {k: me[k] for k in ("name", "role", "worker_id", "grids", "actor")} == {
        "name": "张伟",
        "role": "worker",
        "worker_id": "w-001",
        "grids": ["G-0101"],
        "actor": "w-001",
    }
    assert (await world.api.admin.get("/me")).json()["role"] == "admin"
    assert (await world.api.as_("wrong").get("/me")).status_code == 401


# -- /geo/grid -------------------------------------------------------------------------------


async def test_the_grid_under_a_point_with_its_ladder(world: World) -> None:
    installer = world.api.as_(await world.api.issue("installer", "inst-01"))
    lat, lon = IN_G0101
    found = (await installer.get("/geo/grid", params={"lat": lat, "lon": lon})).json()
    assert found["grid"] == {"code": "G-0101", "name": "贵州社区第1网格", "level": "grid"}
    assert [u["code"] for u in found["ladder"]] == ["G-0101", "C-0101", "S-310101-01", "D-310101"]
    assert (found["worker_id"], found["leader_id"]) == ("w-001", "w-101")

    lat, lon = OUTSIDE
    outside = (await installer.get("/geo/grid", params={"lat": lat, "lon": lon})).json()
    assert (outside["grid"], outside["ladder"], outside["worker_id"]) == (None, [], None)


async def test_what_the_form_shows_is_what_registration_assigns(world: World) -> None:
    installer = world.api.as_(await world.api.issue("installer", "inst-01"))
    lat, lon = IN_G0104
    shown = (await installer.get("/geo/grid", params={"lat": lat, "lon": lon})).json()
    body = {
        "id": "sd-new",
        "profile": "smoke-detector",
        "name": "new",
        "location": {"lat": lat, "lon": lon},
    }
    registered = (await installer.post("/devices", json=body)).json()
    assert registered["grid"] == shown["grid"]["code"] == "G-0104"


async def test_a_point_off_the_globe_is_a_422_and_workers_have_no_map(world: World) -> None:
    installer = world.api.as_(await world.api.issue("installer", "inst-01"))
    bad = await installer.get("/geo/grid", params={"lat": 95, "lon": 121.4})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "lat"]
    zhang = world.api.as_(await world.api.issue("worker", "张伟", "w-001"))
    assert (await zhang.get("/geo/grid", params={"lat": 31.2, "lon": 121.4})).status_code == 403


# -- commissioning (调试) ----------------------------------------------------------------------


async def test_commissioning_needs_the_test_message_and_closes_the_test_incident(
    world: World,
) -> None:
    installer = world.api.as_(await world.api.issue("installer", "inst-01"))
    path = "/devices/sd-0101/commissioning"

    early = await installer.post(path)
    assert early.status_code == 409
    assert "press the device's test button" in early.json()["detail"]
    assert (await installer.get(path)).status_code == 404

    test = await world.alarm("sd-0101", rule_id="smoke-fire", test=True)
    world.clock.now += 20
    done = await installer.post(path)
    assert done.status_code == 200, done.text
    assert done.json() == {
        "device_id": "sd-0101",
        "commissioned_at": "2025-11-23T04:00:20.000Z",
        "by": "inst-01",
        "incident_id": test,
    }
    assert (await installer.get(path)).json() == done.json()
    closed = await world.service.get(test)
    assert (closed.status.value, closed.outcome and closed.outcome.value) == ("closed", "test")
    assert [e.note for e in closed.timeline if e.event == "closed"] == ["commissioned"]


async def test_commissioning_ends_the_window_in_which_alarms_are_only_tests(
    world: World,
) -> None:
    installer = world.api.as_(await world.api.issue("installer", "inst-01"))
    device = (await installer.get("/devices/sd-0101")).json()
    window = {k: device[k] for k in ("profile", "name", "location", "grid", "installer")}
    window["commissioning_until"] = "2099-01-01T00:00:00Z"
    assert (await installer.put("/devices/sd-0101", json=window)).status_code == 200
    registered = world.api.registry.by_id("sd-0101")
    assert registered is not None and registered.commissioning(world.clock.now)

    await world.alarm("sd-0101", rule_id="smoke-fire", test=True)
    assert (await installer.post("/devices/sd-0101/commissioning")).status_code == 200
    commissioned = world.api.registry.by_id("sd-0101")
    assert commissioned is not None and not commissioned.commissioning(world.clock.now)
    assert commissioned.commissioning_until is None
    after = (await installer.get("/devices/sd-0101")).json()
    assert after == device  # nothing else about it changed


async def test_an_old_test_press_proves_nothing_and_only_installers_commission(
    world: World,
) -> None:
    installer = world.api.as_(await world.api.issue("installer", "inst-01"))
    await world.alarm("sd-0101", rule_id="smoke-fire", test=True)
    world.clock.now += 31 * 60
    assert (await installer.post("/devices/sd-0101/commissioning")).status_code == 409
    assert (await installer.post("/devices/nope/commissioning")).status_code == 404
    for role in ("worker", "officer", "viewer"):
        client = world.api.as_(
            await world.api.issue(role, f"a {role}", "w-001" if role == "worker" else None)
        )
        assert (await client.post("/devices/sd-0101/commissioning")).status_code == 403, role
