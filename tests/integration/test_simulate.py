"""``firegrid simulate`` against a running gateway and Mosquitto: the fleet is registered over
REST (CSV import), its readings arrive, and the kitchen-fire scenario confirms a building fire.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from gateway.config import parse_mqtt_url
from gateway.sim.run import SimOptions, run_simulation
from tests.integration.harness import REPO, TOKEN, eventually, metric, running, settings_for
from tests.servers.mosquitto import MosquittoServer

pytestmark = pytest.mark.integration


async def _fire_confirmed(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await api.get("/incidents", params={"kind": "fire"})).json()
    return [i for i in found if i["rule_id"] == "fire-confirmed-building"]


async def test_simulate_registers_publishes_and_plays_a_kitchen_fire(
    mosquitto: MosquittoServer, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, mosquitto.url)
    async with running(settings) as (gateway, api):
        geojson = tmp_path / "district.geojson"
        opts = SimOptions(
            api_url=f"http://127.0.0.1:{gateway.api_port}/api/v1",
            token=TOKEN,
            mqtt=parse_mqtt_url(mosquitto.url),
            profiles_dir=REPO / "device_profiles",
            scale=0.01,
            speed=600.0,
            scenarios=("kitchen-fire",),
            geojson_out=geojson,
            responders=False,
            summary_every_s=2.0,
        )
        stop = asyncio.Event()
        lines: list[str] = []
        sim = asyncio.create_task(run_simulation(opts, lines.append, stop))

        await eventually(
            lambda: metric(api, "firegrid_readings_total", measurement="smoke"),
            "smoke readings arrived",
            within=10,
        )
        await eventually(lambda: _fire_confirmed(api), "fire confirmed in a building", within=12)
        assert await metric(api, "firegrid_readings_total", measurement="electrical") > 0
        registered = (await api.get("/devices", params={"limit": 10_000})).json()
        stop.set()
        result = await asyncio.wait_for(sim, 15)

    assert len(registered) == result.devices > 50  # 1 % of ~9.5k, registered by CSV import
    assert {d["grid"] for d in registered} == {f"HP-01-01-{g:02d}" for g in range(1, 12)}
    assert result.created > result.devices  # and the people, stations and grid map
    assert result.published > 0
    assert any("fire in a flat" in line for line in lines)
    features = orjson.loads(geojson.read_bytes())["features"]
    assert sum(f["properties"]["level"] == "grid" for f in features) == result.grids == 11
