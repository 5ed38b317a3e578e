"""Who gets in where: no route but ``/healthz`` without a token, and each role allowed and refused.

Walks the app's own route table, so a route added later is checked without editing this file.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute, iter_route_contexts

from gateway.api import auth
from gateway.api.auth import PLATFORM, Principal, Role, require
from tests.fixtures.registry import district
from tests.unit.test_api_support import Access, FakeClock, access

# Stands in for the platform callback of issue 4, which mounts through ``routers=``.
callback = APIRouter()


@callback.post("/platform/callback", dependencies=[PLATFORM])
def platform_callback() -> dict[str, str]:
    return {"ok": "yes"}


@callback.get("/whoami")
def whoami(caller: Annotated[Principal, require(*Role)]) -> dict[str, object]:
    grids = None if caller.grids is None else sorted(caller.grids)
    return {"role": caller.role, "actor": caller.actor, "grids": grids}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Access]:
    async with access(tmp_path, routers=[callback]) as harness:
        yield harness


def every_route(api: Access) -> list[tuple[str, str]]:
    found = []
    for route in iter_route_contexts(api.app.routes):
        # Only API routes: a mount or static files would slip past the role checks.
        assert isinstance(route.original_route, APIRoute), route
        assert route.path is not None and route.methods
        path = re.sub(r"\{[^}]+\}", "x", route.path).removeprefix("/api/v1")
        found += [(method, path) for method in sorted(route.methods)]
    return found


async def test_no_route_but_healthz_answers_without_a_token(api: Access) -> None:
    routes = every_route(api)
    assert ("GET", "/openapi.json") in routes and ("POST", "/incidents/x/actions") in routes
    anonymous = api.as_(None)
    revoked_secret = await api.issue("admin", "revoked")
    revoked = api.as_(revoked_secret)
    token_id = api.tokens.authenticate(revoked_secret)
    assert token_id is not None
    await api.admin.delete(f"/tokens/{token_id.id}")
    for method, path in routes:
        for client in (anonymous, revoked):
            response = await client.request(method, path)
            if path == "/healthz":
                assert response.status_code == 200
            else:
                assert response.status_code == 401, (method, path, response.text)
                assert response.headers["WWW-Authenticate"] == "Bearer"


# (method, path, roles allowed besides admin). Registry reads are refused to workers — they
# stay inside their grids — and everything but the callback to the platform.
MATRIX = [
    ("GET", "/devices", {"officer", "installer", "viewer"}),
    ("POST", "/devices", {"installer"}),
    ("DELETE", "/devices/sd-x", {"installer"}),
    ("GET", "/grids", {"officer", "installer", "viewer"}),
    ("POST", "/grids", set()),
    ("POST", "/workers", set()),
    ("GET", "/stations", {"officer", "installer", "viewer"}),
    ("GET", "/profiles", {"officer", "installer", "viewer"}),
    ("GET", "/metrics", {"officer", "installer", "viewer"}),
    ("GET", "/incidents", {"officer", "worker", "viewer"}),
    ("POST", "/incidents/INC-x/actions", {"officer", "worker"}),
    ("GET", "/stats", {"officer", "worker", "viewer"}),
    ("GET", "/tokens", set()),
    ("POST", "/platform/callback", {"platform"}),
    ("GET", "/openapi.json", {"officer", "installer", "worker", "platform", "viewer"}),
]


@pytest.mark.parametrize("role", ["officer", "installer", "worker", "platform", "viewer"])
async def test_each_role_is_allowed_and_refused_as_the_matrix_says(api: Access, role: str) -> None:
    client = api.as_(await api.issue(role, worker_id="w-001" if role == "worker" else None))
    for method, path, allowed in MATRIX:
        response = await client.request(method, path)
        if role in allowed:
            assert response.status_code != 403, (method, path, response.text)
        else:
            assert response.status_code == 403, (method, path, response.text)
            assert response.json()["detail"].startswith("this needs the ")


async def test_the_admin_token_passes_every_check(api: Access) -> None:
    for method, path, _ in MATRIX:
        response = await api.admin.request(method, path)
        assert response.status_code not in (401, 403), (method, path)


async def test_the_spec_is_served_to_a_token_holder(api: Access) -> None:
    spec = (await api.admin.get("/openapi.json")).json()
    assert {"/api/v1/incidents", "/api/v1/stats", "/api/v1/tokens"} <= set(spec["paths"])
    assert "<html" in (await api.admin.get("/docs")).text.lower()


async def test_a_worker_scope_follows_the_registry_without_reissuing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(0.0)
    monkeypatch.setattr(auth, "monotonic", clock)
    async with access(tmp_path / "own", routers=[callback]) as api:
        zhang = api.as_(await api.issue("worker", "张伟", "w-001"))
        assert (await zhang.get("/whoami")).json() == {
            "role": "worker",
            "actor": "w-001",
            "grids": ["G-0101"],
        }
        leader = api.as_(await api.issue("worker", "网格长", "w-101"))
        four = ["G-0101", "G-0102", "G-0103", "G-0104"]
        assert (await leader.get("/whoami")).json()["grids"] == four
        # G-0101 is handed to w-009: w-001's token reaches nothing once the scope is looked up
        # again, without anyone re-issuing it.
        record = next(r for r in district() if r.grid.code == "G-0101")
        await api.registry.import_grids(
            [replace(record, grid=replace(record.grid, worker_id="w-009"))]
        )
        assert (await zhang.get("/whoami")).json()["grids"] == ["G-0101"]  # still cached
        clock.now += auth.SCOPE_TTL_S
        assert (await zhang.get("/whoami")).json()["grids"] == []
