"""REST API: the token, the grid map, workers, stations, profiles, health and metrics."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gateway.api import create_app
from tests.fixtures.registry import FIXTURES, PROFILES, TOKEN, ApiHarness, api_harness


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ApiHarness]:
    async with api_harness(tmp_path / "registry.sqlite") as harness:
        yield harness


def geojson() -> dict[str, object]:
    loaded: dict[str, object] = json.loads((FIXTURES / "district.geojson").read_text("utf-8"))
    return loaded


@pytest.mark.parametrize(
    ("headers", "says"),
    [
        ({}, "missing bearer token (Authorization: Bearer <token>)"),
        ({"Authorization": "Bearer wrong"}, "invalid token"),
        ({"Authorization": f"Basic {TOKEN}"}, "missing bearer token"),
    ],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/devices"), ("POST", "/devices"), ("GET", "/grids"), ("GET", "/metrics")],
)
async def test_without_the_right_token_the_answer_is_401(
    api: ApiHarness, headers: dict[str, str], says: str, method: str, path: str
) -> None:
    api.client.headers.pop("Authorization")
    response = await api.client.request(method, path, headers=headers, json={})
    assert response.status_code == 401
    assert response.json()["detail"].startswith(says)
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_with_no_admin_token_configured_nothing_gets_in(tmp_path: Path) -> None:
    async with api_harness(tmp_path / "r.sqlite", token=None) as api:
        assert (await api.client.get("/devices")).status_code == 401
        assert (await api.client.get("/healthz")).status_code == 200


async def test_the_grid_map_imports_and_reads_back_as_geojson(api: ApiHarness) -> None:
    again = await api.client.post("/grids", json=geojson())
    assert again.json() == {"created": 0, "updated": 7}  # the harness imported it already
    grids = (await api.client.get("/grids", params={"level": "grid"})).json()
    assert grids["type"] == "FeatureCollection"
    assert [f["properties"]["code"] for f in grids["features"]] == [
        "G-0101",
        "G-0102",
        "G-0103",
        "G-0104",
    ]
    first = grids["features"][0]
    assert first["properties"]["worker_id"] == "w-001"
    assert first["geometry"]["type"] == "Polygon"
    children = (await api.client.get("/grids", params={"parent": "S-310101-01"})).json()
    assert [f["properties"]["code"] for f in children["features"]] == ["C-0101"]


async def test_a_bad_grid_map_names_the_feature_and_field(api: ApiHarness) -> None:
    bad = geojson()
    features = bad["features"]
    assert isinstance(features, list)
    features[2]["geometry"]["coordinates"][0][0] = [31.23, 121.46]  # lat and lon swapped
    features[3]["properties"]["level"] = "village"
    features[4]["properties"]["parent"] = "C-404"
    response = await api.client.post("/grids", json=bad)
    assert response.status_code == 422
    locs = {tuple(e["loc"]): e["msg"] for e in response.json()["detail"]}
    assert "[lon, lat]" in locs[("body", "features", 2, "geometry")]
    assert "district" in locs[("body", "features", 3, "properties", "level")]
    # The parent is checked once the features themselves are sound, in a second pass.
    features[2]["geometry"] = None
    features[3]["properties"]["level"] = "grid"
    response = await api.client.post("/grids", json=bad)
    assert [(e["loc"], e["msg"]) for e in response.json()["detail"]] == [
        (["body", "features", 2, "geometry"], "grid G-0101 has no boundary"),
        (
            ["body", "features", 4, "properties", "parent"],
            "parent C-404 of G-0103 is neither registered nor here",
        ),
    ]


async def test_workers_and_stations(api: ApiHarness) -> None:
    worker = {"id": "w-001", "name": "张伟", "phone": "138 0000 0001"}
    assert (await api.client.post("/workers", json=worker)).status_code == 201
    duplicate = await api.client.post("/workers", json=worker)
    assert (duplicate.status_code, duplicate.json()) == (
        409,
        {"detail": "worker w-001 already exists"},
    )
    assert (await api.client.get("/workers")).json() == [worker]
    station = {
        "id": "ms-01",
        "name": "贵州路微型消防站",
        "phone": "",
        "lat": 31.232,
        "lon": 121.472,
    }
    assert (await api.client.post("/stations", json=station)).status_code == 201
    assert (await api.client.get("/stations")).json() == [station]
    bad = await api.client.post("/stations", json=station | {"id": "ms-02", "lat": 131.2})
    assert bad.status_code == 422
    assert [e["loc"] for e in bad.json()["detail"]] == [["body", "lat"]]


async def test_profiles_are_listed_and_shown_whole(api: ApiHarness) -> None:
    listed = (await api.client.get("/profiles")).json()
    assert [p["name"] for p in listed] == sorted(PROFILES)
    smoke = next(p for p in listed if p["name"] == "smoke-detector")
    assert smoke["thresholds"] == {"battery_low_pct": 20}
    whole = (await api.client.get("/profiles/electrical-fire-monitor")).json()
    assert whole["codec"]["type"] == "json-map"
    assert whole["examples"]
    missing = await api.client.get("/profiles/nope")
    assert (missing.status_code, missing.json()) == (404, {"detail": "no profile nope"})


async def test_healthz_needs_no_token_and_says_503_when_degraded(api: ApiHarness) -> None:
    api.client.headers.pop("Authorization")
    ok = await api.client.get("/healthz")
    assert (ok.status_code, ok.json()) == (
        200,
        {"status": "ok", "components": {"mqtt": {"ok": True, "detail": "connected"}}},
    )
    api.health["sink"] = {"ok": False, "detail": "influx unreachable", "buffered": 1200}
    degraded = await api.client.get("/healthz")
    assert degraded.status_code == 503
    assert degraded.json()["status"] == "degraded"
    assert degraded.json()["components"]["sink"]["buffered"] == 1200


async def test_a_broken_or_async_health_callback(api: ApiHarness) -> None:
    def broken() -> dict[str, dict[str, object]]:
        raise RuntimeError("boom")

    async def fine() -> dict[str, dict[str, object]]:
        return {"registry": {"ok": True}}

    for callback, code in ((broken, 503), (fine, 200)):
        app = create_app(
            registry=api.registry,
            profiles=PROFILES,
            tracker=api.tracker,
            unregistered=api.unregistered,
            metrics=api.metrics,  # a second app on the same metrics must not clash
            admin_token=TOKEN,
            health=callback,
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/api/v1/healthz")).status_code == code


async def test_metrics_are_prometheus_text_and_count_refused_requests(api: ApiHarness) -> None:
    await api.client.post("/devices", json={"id": "sd 1"})
    await api.client.post("/devices", json={"id": "sd-1", "profile": "x", "name": "x"})
    response = await api.client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    assert 'firegrid_api_requests_refused_total{operation="add_device"} 2.0' in response.text
    assert "firegrid_messages_received_total" in response.text
