"""A fire alarm never waits behind bulk telemetry: with InfluxDB hanging on every write and a
flood of telemetry queued ahead of it in the broker, the smoke alarm still reaches its grid
worker — while not one telemetry point has been written."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.integration.harness import (
    Subscriber,
    eventually,
    metric,
    publish,
    register,
    running,
    settings_for,
)
from tests.integration.test_incidents_e2e import ALARM, FAR, NEAR, detector
from tests.servers.mosquitto import MosquittoServer
from tests.servers.ports import free_port

pytestmark = pytest.mark.integration

FLOOD = 20_000
SENSORS = 50  # each under its rate limit's burst of 600


async def register_district(api: httpx.AsyncClient) -> None:
    """Worker w-001, the two stations, SENSORS telemetry detectors and sd-fire."""
    await register(api, [])
    await api.post("/workers", json={"id": "w-001", "name": "w-001", "phone": ""})
    for station in (NEAR, FAR):
        await api.post("/stations", json=station)
    sensors = [detector(f"sd-{i}") for i in range(SENSORS)]
    await register(api, [*sensors, detector("sd-fire")])


def flood() -> list[tuple[str, bytes]]:
    """FLOOD heartbeats spread over the SENSORS detectors."""
    return [
        (f"devices/sd-{n % SENSORS}/up", orjson.dumps({"battery_pct": 80, "seq": n}))
        for n in range(FLOOD)
    ]


@contextlib.asynccontextmanager
async def hanging_influxdb() -> AsyncIterator[str]:
    """Accepts connections and never answers: every write hangs until its timeout."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.read(-1)

    port = free_port()
    server = await asyncio.start_server(hold, "127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for writer in held:
            writer.close()
        server.close()


async def test_a_smoke_alarm_behind_a_telemetry_flood_is_dispatched_while_influxdb_hangs(
    mosquitto: MosquittoServer, tmp_path: Path
) -> None:
    phones = Subscriber(mosquitto.port, "grid/workers/+/alarms")
    async with hanging_influxdb() as influx_url:
        settings = settings_for(
            tmp_path, mosquitto.url, influx_url=influx_url, influx_api="v2", influx_batch_size=500
        )
        try:
            async with running(settings) as (gateway, api):
                await register_district(api)
                # One publisher, in order: the broker queues the alarm behind the whole flood.
                await asyncio.to_thread(
                    publish, mosquitto.port, [*flood(), ("devices/sd-fire/up", ALARM)]
                )
                [dispatch] = await eventually(
                    lambda: phones.on("grid/workers/w-001/alarms"), "the worker's phone rings"
                )
                health = gateway.sink.health()
                written = await metric(api, "firegrid_sink_points_written_total")
        finally:
            phones.close()
    assert dispatch["device_id"] == "sd-fire" and dispatch["kind"] == "fire"
    # The flood was handed over ahead of the alarm, and InfluxDB has taken none of it.
    assert health.buffered >= FLOOD
    assert not written
