"""Failure drills with real processes: the database goes away under load and comes back."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

import gateway.app
from tests.integration.harness import (
    REPO,
    TOKEN,
    eventually,
    metric,
    publish,
    register,
    running,
    settings_for,
)
from tests.integration.test_ingest_e2e import _device
from tests.servers.influxdb import InfluxServer, start_influxdb
from tests.servers.mosquitto import MosquittoServer
from tests.servers.ports import free_port

pytestmark = pytest.mark.integration

T0 = 1767225600


def _uplinks(first: int, count: int) -> list[tuple[str, bytes]]:
    return [
        ("devices/sd-1/up", orjson.dumps({"battery_pct": n % 100, "ts": T0 + n}))
        for n in range(first, first + count)
    ]


async def test_influxdb_down_under_load_degrades_health_and_loses_nothing(
    mosquitto: MosquittoServer, tmp_path: Path
) -> None:
    influx = start_influxdb(tmp_path / "influxdb")
    try:
        settings = settings_for(
            tmp_path, mosquitto.url, influx_url=influx.url, influx_api="v1", influx_db="drill"
        )
        async with running(settings) as (_, api):
            await register(api, [_device("sd-1", "smoke-detector")])

            def stored() -> list[int]:
                rows = influx.query("SELECT battery_pct FROM smoke", "drill")
                return sorted(r["time"] // 10**6 - T0 for r in rows)

            await asyncio.to_thread(publish, mosquitto.port, _uplinks(0, 50))
            await eventually(lambda: stored() == list(range(50)), "the first 50 stored")

            await asyncio.to_thread(influx.stop)
            await asyncio.to_thread(publish, mosquitto.port, _uplinks(50, 300))

            async def degraded() -> dict[str, object] | None:
                response = await api.get("/healthz")
                sink = response.json()["components"]["sink"]
                down = response.status_code == 503 and not sink["ok"] and sink["buffered"] > 0
                # A write caught by the shutdown itself fails with HTTP 500 first; the retry
                # after it finds nothing listening, and that is what the operator must read.
                unreachable = "unreachable" in str(sink["detail"]).lower()
                return sink if down and unreachable else None

            await eventually(degraded, "/healthz says the sink is degraded: InfluxDB unreachable")
            # The readings wait on disk, not in memory.
            await eventually(lambda: _spooled(api, at_least=300), "the outage's readings spooled")
            assert _spool_files(tmp_path)

            await asyncio.to_thread(influx.restart)
            await eventually(lambda: stored() == list(range(350)), "all 350 stored", within=60)
            await eventually(
                lambda: _healthy(api), "/healthz healthy again once the spool drained", within=30
            )
            assert await metric(api, "firegrid_sink_spool_points", sink="influxdb") == 0
            assert _spool_files(tmp_path) == []
    finally:
        influx.stop()


async def test_a_full_spool_drops_the_oldest_readings_counts_them_and_keeps_the_newest(
    mosquitto: MosquittoServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A spool of 30 kB holds ~170 readings: of 600 sent during the outage, exactly the newest
    that fit are stored once InfluxDB returns, and the counter says how many were not."""
    # The gateway's own points would share the spool: this drill counts readings only.
    monkeypatch.setattr(gateway.app, "SELF_METRICS_S", 3600.0)
    bound = 30_000
    influx = start_influxdb(tmp_path / "influxdb")
    try:
        settings = settings_for(
            tmp_path,
            mosquitto.url,
            influx_url=influx.url,
            influx_api="v1",
            influx_db="bound",
            influx_spool_max_bytes=bound,
            device_burst=10_000,  # 601 readings from one device in seconds: no flood, a drill
        )
        async with running(settings) as (_, api):
            await register(api, [_device("sd-1", "smoke-detector")])

            def stored() -> list[int]:
                rows = influx.query("SELECT battery_pct FROM smoke", "bound")
                return sorted(r["time"] // 10**6 - T0 for r in rows)

            # Online before the outage, so its device_status point is not in the spool.
            await asyncio.to_thread(publish, mosquitto.port, _steady(0, 1))
            await eventually(lambda: stored() == [0], "the first reading stored")

            await asyncio.to_thread(influx.stop)
            await asyncio.to_thread(publish, mosquitto.port, _steady(1, 600))

            async def all_accounted() -> tuple[float, float] | None:
                spooled = await metric(api, "firegrid_sink_spool_points", sink="influxdb")
                dropped = await _dropped(api, "spool_full")
                return (spooled, dropped) if spooled + dropped == 600 else None

            spooled, dropped = await eventually(all_accounted, "every reading spooled or dropped")
            assert dropped > 0 and spooled > 0
            assert await metric(api, "firegrid_sink_spool_bytes", sink="influxdb") <= bound

            await asyncio.to_thread(influx.restart)
            await eventually(lambda: _spooled(api, at_most=0), "the spool replayed", within=60)
            kept = int(spooled)
            assert stored() == [0, *range(601 - kept, 601)]  # exactly the newest
            assert await _dropped(api, "spool_full") == 600 - kept
    finally:
        influx.stop()
    warnings = [r.getMessage() for r in caplog.records if "spool full" in r.getMessage()]
    assert warnings and all("InfluxDB unreachable" in w for w in warnings)


def _steady(first: int, count: int) -> list[tuple[str, bytes]]:
    """Readings of one steady battery level: no incident, so no incident points."""
    return [
        ("devices/sd-1/up", orjson.dumps({"battery_pct": 80, "ts": T0 + n}))
        for n in range(first, first + count)
    ]


async def _spooled(api: httpx.AsyncClient, at_least: int = 0, at_most: int | None = None) -> bool:
    points = await metric(api, "firegrid_sink_spool_points", sink="influxdb")
    return points >= at_least and (at_most is None or points <= at_most)


async def _dropped(api: httpx.AsyncClient, reason: str) -> float:
    """``firegrid_sink_points_dropped_total{sink="influxdb",reason=...}``, 0 when absent."""
    text = (await api.get("/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "firegrid_sink_points_dropped_total" and sample.labels == {
                "sink": "influxdb",
                "reason": reason,
            }:
                return float(sample.value)
    return 0.0


def _spool_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "data" / "spool" / "influx").glob("*.lp"))


async def _healthy(api: httpx.AsyncClient) -> bool:
    return (await api.get("/healthz")).status_code == 200


async def test_a_broker_restart_during_an_alarm_does_not_duplicate_the_incident(
    mosquitto: MosquittoServer, tmp_path: Path
) -> None:
    """The detector keeps sounding while the broker restarts (and redelivers what it queued):
    still one incident, and the gateway carries on after reconnecting."""
    settings = settings_for(tmp_path, mosquitto.url)
    async with running(settings) as (gateway, api):
        await register(api, [_device("sd-1", "smoke-detector")])

        async def fire_incidents() -> list[dict[str, object]]:
            body = (await api.get("/incidents", params={"device": "sd-1", "kind": "fire"})).json()
            items: list[dict[str, object]] = body["items"] if isinstance(body, dict) else body
            return items

        alarm = [("devices/sd-1/up", orjson.dumps({"smoke": True, "seq": 1}))]
        await asyncio.to_thread(publish, mosquitto.port, alarm)
        [incident] = await eventually(fire_incidents, "the fire incident")
        await asyncio.to_thread(mosquitto.restart)
        assert gateway.mqtt is not None
        await eventually(lambda: gateway.mqtt is not None and gateway.mqtt.connected, "reconnected")
        still = [("devices/sd-1/up", orjson.dumps({"smoke": True, "battery_pct": 70, "seq": 2}))]
        await asyncio.to_thread(publish, mosquitto.port, still)

        async def carried_on() -> bool:
            device = (await api.get("/devices/sd-1")).json()
            return device["latest"].get("battery_pct") == 70

        await eventually(carried_on, "readings flow after the restart")
        after = await fire_incidents()
    assert [i["id"] for i in after] == [incident["id"]]


def _run_env(
    tmp_path: Path, mosquitto: MosquittoServer, influx_url: str, db: str, port: int, **extra: str
) -> dict[str, str]:
    return (
        os.environ
        | {
            "FIREGRID_MQTT_URL": mosquitto.url,
            "FIREGRID_MQTT_CLIENT_ID": f"firegrid-drill-{db}",
            "FIREGRID_INFLUX_URL": influx_url,
            "FIREGRID_INFLUX_API": "v1",
            "FIREGRID_INFLUX_DB": db,
            "FIREGRID_DATA_DIR": str(tmp_path / "data"),
            "FIREGRID_API_PORT": str(port),
            "FIREGRID_ADMIN_TOKEN": TOKEN,
            "FIREGRID_PROFILES_DIR": str(REPO / "device_profiles"),
            "FIREGRID_RULES_DIR": str(REPO / "rules"),
        }
        | extra
    )


async def _start_run(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    """`firegrid run` as a real process; returns once /healthz answers 200."""
    command = [sys.executable, "-c", "from gateway.cli import main; main()", "run"]
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            *command, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    async with _api(env) as api:

        async def up() -> bool:
            if proc.returncode is not None:
                tail = (await asyncio.to_thread(log.read_text))[-2000:]
                raise AssertionError(f"firegrid run exited: {tail}")
            try:
                return (await api.get("/healthz")).status_code == 200
            except httpx.TransportError:
                return False

        await eventually(up, "firegrid run is up and connected")
    return proc


def _api(env: dict[str, str]) -> httpx.AsyncClient:
    base = f"http://127.0.0.1:{env['FIREGRID_API_PORT']}/api/v1"
    return httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


async def test_sigterm_flushes_what_is_buffered_before_exit(
    mosquitto: MosquittoServer, influxdb: InfluxServer, tmp_path: Path
) -> None:
    """`firegrid run` as a real process: with a 30 s flush interval, only the shutdown flush
    can have written the readings it holds when SIGTERM arrives."""
    env = _run_env(
        tmp_path,
        mosquitto,
        influxdb.url,
        "sigterm",
        free_port(),
        FIREGRID_INFLUX_FLUSH_INTERVAL_S="30",
    )
    proc = await _start_run(env, tmp_path / "run.log")
    try:
        async with _api(env) as api:
            await register(api, [_device("sd-1", "smoke-detector")])
            await asyncio.to_thread(publish, mosquitto.port, _uplinks(0, 200))
            await eventually(
                lambda: _received(api, 200), "all 200 taken in (buffered, not yet flushed)"
            )
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        await _stop(proc)
    rows = influxdb.query("SELECT battery_pct FROM smoke", "sigterm")
    assert sorted(r["time"] // 10**6 - T0 for r in rows) == list(range(200))
    assert "flushing sinks" in (tmp_path / "run.log").read_text()


async def test_sigkill_under_load_loses_no_alarm_and_duplicates_no_incident(
    mosquitto: MosquittoServer, influxdb: InfluxServer, tmp_path: Path
) -> None:
    """Killed mid-load with alarms in flight, alarms still arriving while it is dead: after a
    restart every alarming detector has exactly one incident. (An alarm's incident is
    committed before its PUBACK; what was not acknowledged, the broker redelivers.)"""
    env = _run_env(tmp_path, mosquitto, influxdb.url, "sigkill", free_port())
    log = tmp_path / "run.log"
    devices = [f"sd-{i:02d}" for i in range(20)]
    proc = await _start_run(env, log)
    try:
        async with _api(env) as api:
            # one detector per building: two alarms in one building would be correlated into
            # a single confirmed-fire incident (rules/correlation.yaml)
            await register(api, [_detector_in_own_building(d) for d in devices])
            load = [
                (f"devices/{devices[n % 20]}/up", orjson.dumps({"battery_pct": n % 100}))
                for n in range(3000)
            ]
            for i, device in enumerate(devices[:10]):  # alarms among the load
                load.insert(i * 300 + 150, (f"devices/{device}/up", b'{"smoke": true}'))
            await asyncio.to_thread(publish, mosquitto.port, load)
            await eventually(lambda: _received(api, 500, at_least=True), "under load")
        proc.kill()
        await proc.wait()
        alarms = [(f"devices/{d}/up", b'{"smoke": true}') for d in devices[10:]]
        await asyncio.to_thread(publish, mosquitto.port, alarms)  # queued by the broker
        proc = await _start_run(env, log)
        async with _api(env) as api:

            async def one_each() -> dict[str, int] | None:
                body = (await api.get("/incidents", params={"kind": "fire", "limit": 100})).json()
                items = body["items"] if isinstance(body, dict) else body
                counts = {d: sum(1 for i in items if i["device_id"] == d) for d in devices}
                return counts if all(counts.values()) else None

            counts = await eventually(one_each, "an incident for every alarming detector")
    finally:
        await _stop(proc)
    assert counts == dict.fromkeys(devices, 1)


async def test_readings_spooled_while_influxdb_is_down_survive_a_sigkill(
    mosquitto: MosquittoServer, tmp_path: Path
) -> None:
    """InfluxDB down, readings spooled, `firegrid run` SIGKILLed, InfluxDB back, firegrid
    restarted: it replays the spool first, and every reading lands."""
    influx = start_influxdb(tmp_path / "influxdb")
    env = _run_env(tmp_path, mosquitto, influx.url, "spoolkill", free_port())
    log = tmp_path / "run.log"
    proc = await _start_run(env, log)
    try:
        async with _api(env) as api:
            await register(api, [_device("sd-1", "smoke-detector")])
            await asyncio.to_thread(influx.stop)
            await asyncio.to_thread(publish, mosquitto.port, _uplinks(0, 300))

            async def on_disk() -> bool:
                taken = await _received(api, 300)
                in_memory = await metric(api, "firegrid_sink_buffer_points", sink="influxdb")
                return taken and in_memory == 0 and await _spooled(api, at_least=300)

            await eventually(on_disk, "all 300 taken in and spooled to disk")
        assert _spool_files(tmp_path)
        proc.kill()
        await proc.wait()
        await asyncio.to_thread(influx.restart)
        # Up means /healthz is 200, which it is only once the spool has been replayed.
        proc = await _start_run(env, log)
        rows = await asyncio.to_thread(influx.query, "SELECT battery_pct FROM smoke", "spoolkill")
        assert sorted(r["time"] // 10**6 - T0 for r in rows) == list(range(300))
        assert _spool_files(tmp_path) == []
    finally:
        await _stop(proc)
        influx.stop()


def _detector_in_own_building(device_id: str) -> dict[str, object]:
    device = _device(device_id, "smoke-detector")
    device["location"] = device["location"] | {"building": f"{device_id} 号楼"}
    return device


async def _received(api: httpx.AsyncClient, count: int, at_least: bool = False) -> bool:
    got = await metric(api, "firegrid_readings_total", measurement="smoke")
    return got >= count if at_least else got == count
