"""Bad input over a real broker, and the broker or the gateway going away: nothing valid lost."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import orjson
import pytest

from tests.integration.harness import eventually, metric, publish, register, running, settings_for
from tests.integration.test_ingest_e2e import _device
from tests.servers.influxdb import InfluxServer
from tests.servers.mosquitto import MosquittoServer

pytestmark = pytest.mark.integration


def _battery_values(influxdb: InfluxServer, db: str, device: str) -> list[float]:
    rows = influxdb.query(f"SELECT battery_pct FROM smoke WHERE device = '{device}'", db)
    return [r["battery_pct"] for r in rows if r["battery_pct"] is not None]


async def _counted(api: httpx.AsyncClient, counter: str, reason: str, before: float) -> bool:
    return await metric(api, counter, reason=reason) == before + 1


BAD = [
    (
        "malformed JSON",
        "devices/sd-1/up",
        b'{"smoke": tru',
        "firegrid_messages_rejected_total",
        "malformed_json",
    ),
    (
        "not an object",
        "devices/sd-1/up",
        b'"smoke"',
        "firegrid_messages_rejected_total",
        "not_an_object",
    ),
    (
        "oversize",
        "devices/sd-1/up",
        b'{"smoke": false, "pad": "' + b"x" * 5000 + b'"}',
        "firegrid_messages_rejected_total",
        "oversize",
    ),
    (
        "wrong type",
        "devices/sd-1/up",
        orjson.dumps({"battery_pct": "full"}),
        "firegrid_field_problems_total",
        "wrong_type",
    ),
    (
        "out of range",
        "devices/sd-1/up",
        orjson.dumps({"battery_pct": 250}),
        "firegrid_field_problems_total",
        "out_of_range",
    ),
    (
        "unknown device",
        "devices/ghost-7/up",
        orjson.dumps({"smoke": True}),
        "firegrid_messages_rejected_total",
        "unknown_device",
    ),
    (
        "empty device id",
        "devices//up",
        orjson.dumps({"smoke": True}),
        "firegrid_messages_rejected_total",
        "unknown_topic",
    ),
    (
        "binary garbage",
        "devices/sd-1/up",
        bytes(range(256)),
        "firegrid_messages_rejected_total",
        "malformed_json",
    ),
]


async def test_each_bad_input_is_counted_and_the_next_valid_message_lands(
    mosquitto: MosquittoServer, influxdb: InfluxServer, tmp_path: Path
) -> None:
    db = f"bad_{uuid.uuid4().hex[:8]}"
    settings = settings_for(
        tmp_path,
        mosquitto.url,
        influx_url=influxdb.url,
        influx_api="v1",
        influx_db=db,
        max_payload_bytes=4096,
    )
    async with running(settings) as (_, api):
        await register(api, [_device("sd-1", "smoke-detector")])
        for n, (what, topic, payload, counter, reason) in enumerate(BAD, start=1):
            valid = orjson.dumps({"smoke": False, "battery_pct": n})
            before = await metric(api, counter, reason=reason)
            await asyncio.to_thread(
                publish, mosquitto.port, [(topic, payload), ("devices/sd-1/up", valid)]
            )
            await eventually(
                lambda c=counter, r=reason, b=before: _counted(api, c, r, b),
                f"{what}: {counter}{{reason={reason}}} goes up",
            )
            await eventually(
                lambda n=n: n in _battery_values(influxdb, db, "sd-1"),
                f"{what}: the next valid message",
            )
        stored = _battery_values(influxdb, db, "sd-1")
        unregistered = (await api.get("/devices/unregistered")).json()
    assert sorted(stored) == list(range(1, len(BAD) + 1))  # nothing invalid reached InfluxDB
    assert [(u["topic"], u["count"]) for u in unregistered] == [("devices/ghost-7/up", 1)]


async def test_messages_queued_while_the_gateway_is_down_arrive_after_restart(
    mosquitto: MosquittoServer, influxdb: InfluxServer, tmp_path: Path
) -> None:
    """The persistent QoS 1 session: the broker keeps what came in while we were away."""
    db = f"restart_{uuid.uuid4().hex[:8]}"
    settings = settings_for(
        tmp_path, mosquitto.url, influx_url=influxdb.url, influx_api="v1", influx_db=db
    )
    async with running(settings) as (_, api):
        await register(api, [_device("sd-1", "smoke-detector")])
        await asyncio.to_thread(
            publish, mosquitto.port, [("devices/sd-1/up", b'{"battery_pct": 1}')]
        )
        await eventually(
            lambda: metric(api, "firegrid_readings_total", measurement="smoke"), "first"
        )
    # Gateway stopped; devices keep reporting.
    batch = [
        ("devices/sd-1/up", orjson.dumps({"battery_pct": n % 100, "ts": 1767225600 + n}))
        for n in range(500)
    ]
    await asyncio.to_thread(publish, mosquitto.port, batch)
    async with running(settings) as (gateway, api):
        rows = await eventually(
            lambda: len(r := influxdb.query("SELECT battery_pct FROM smoke", db)) == 501 and r,
            "500 queued readings after the first",
        )
        assert gateway.registry.by_id("sd-1") is not None  # the registry survived too
        # Exactly the 500 queued: the message handled before the stop was acknowledged (PUBACK
        # after the pipeline) and is not redelivered.
        assert await metric(api, "firegrid_messages_received_total") == 500
    assert sorted(r["time"] for r in rows)[:500] == [(1767225600 + n) * 10**6 for n in range(500)]


async def test_a_broker_restart_is_survived_with_reconnect_and_resubscribe(
    mosquitto: MosquittoServer, influxdb: InfluxServer, tmp_path: Path
) -> None:
    db = f"broker_{uuid.uuid4().hex[:8]}"
    settings = settings_for(
        tmp_path, mosquitto.url, influx_url=influxdb.url, influx_api="v1", influx_db=db
    )
    async with running(settings) as (gateway, api):
        await register(api, [_device("sd-1", "smoke-detector")])
        await asyncio.to_thread(
            publish, mosquitto.port, [("devices/sd-1/up", b'{"battery_pct": 1}')]
        )
        await eventually(
            lambda: _battery_values(influxdb, db, "sd-1") == [1.0], "before the restart"
        )
        await asyncio.to_thread(mosquitto.restart)
        assert gateway.mqtt is not None
        await eventually(
            lambda: all(s is not None and s.connected for s in (gateway.mqtt, gateway.mqtt_alarm)),
            "both sessions reconnected",
        )
        await asyncio.to_thread(
            publish, mosquitto.port, [("devices/sd-1/up", b'{"battery_pct": 2}')]
        )
        await eventually(
            lambda: sorted(_battery_values(influxdb, db, "sd-1")) == [1.0, 2.0], "after the restart"
        )
        assert await metric(api, "firegrid_mqtt_connects_total") == 2
        health = (await api.get("/healthz")).json()
    assert health["components"]["mqtt"]["ok"] is True
