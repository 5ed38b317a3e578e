"""Real Mosquitto → firegrid → real InfluxDB 1.x / VictoriaMetrics, with devices registered
through the REST API like an installer would."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.integration.harness import eventually, publish, register, running, settings_for
from tests.servers.influxdb import InfluxServer
from tests.servers.mosquitto import MosquittoServer
from tests.servers.victoria import VictoriaServer

pytestmark = pytest.mark.integration

# In grid G-0101 (community C-0101, street S-310101-01) of tests/fixtures/district.geojson.
LAT, LON = 31.235, 121.465
NB_FRAME = bytes.fromhex("A501019C6955B8F601570DFC00D7FC487681")  # smoke alarm, seq 412
TAG_UID = "04:A2:2B:1C:5F:80"


def _device(device_id: str, profile: str, **extra: Any) -> dict[str, Any]:
    location = {
        "address": "贵州路 101 号",
        "building": "1 号楼",
        "floor": "3",
        "lat": LAT,
        "lon": LON,
    }
    return {
        "id": device_id,
        "profile": profile,
        "name": f"{profile} {device_id}",
        "location": location,
    } | extra


FLEET = [
    _device("sd-1", "smoke-detector"),
    _device("z2m-1", "smoke-detector-z2m", external_id="hall-1F"),
    _device("nb-1", "smoke-detector-nb"),
    _device("ef-1", "electrical-fire-monitor"),
    _device("wp-1", "water-pressure-sensor"),
    _device("wl-1", "water-level-sensor"),
    _device("tag-1", "nfc-patrol-tag", external_id=TAG_UID),
]

MESSAGES = [
    ("devices/sd-1/up", orjson.dumps({"smoke": True, "battery_pct": 87, "seq": 1})),
    ("zigbee2mqtt/hall-1F", orjson.dumps({"smoke": False, "battery": 64, "linkquality": 120})),
    ("devices/nb-1/up", NB_FRAME),
    (
        "devices/ef-1/up",
        orjson.dumps(
            {"residual_current_ma": 42.5, "cable_temp_c": [31.5, 30, 35.25, 29], "arc_fault": False}
        ),
    ),
    ("devices/wp-1/up", orjson.dumps({"pressure_mpa": 0.32, "battery_pct": 91})),
    ("devices/wl-1/up", orjson.dumps({"level": 2.35})),
    (
        "patrol/phone-w001/scan",
        orjson.dumps(
            {
                "tag": TAG_UID,
                "worker_id": "w-001",
                "result": "hazard",
                "note": "通道堵塞",
                "lat": LAT,
                "lon": LON,
            }
        ),
    ),
]

# What InfluxDB must hold: (measurement, device) → fields (booleans as 0/1).
EXPECTED = {
    ("smoke", "sd-1"): {"smoke": 1, "battery_pct": 87.0},
    ("smoke", "z2m-1"): {"smoke": 0, "battery_pct": 64.0, "linkquality": 120},
    ("smoke", "nb-1"): {
        "smoke": 1,
        "fault": 0,
        "battery_pct": 87.0,
        "battery_v": 3.58,
        "temperature_c": 21.5,
    },
    ("electrical", "ef-1"): {
        "residual_current_ma": 42.5,
        "cable_temp_c_1": 31.5,
        "cable_temp_c_2": 30.0,
        "cable_temp_c_3": 35.25,
        "cable_temp_c_4": 29.0,
        "arc_fault": 0,
    },
    ("water", "wp-1"): {"pressure_mpa": 0.32, "battery_pct": 91.0},
    ("water", "wl-1"): {"level_m": 2.35},
    ("patrol", "tag-1"): {"result": "hazard", "lat": LAT, "lon": LON},
}
PROFILE_OF = {d["id"]: d["profile"] for d in FLEET}


def _rows_by_device(influxdb: InfluxServer, db: str) -> dict[tuple[str, str], dict[str, Any]]:
    rows = influxdb.query("SELECT * FROM smoke, electrical, water, patrol", db)
    return {(r["_measurement"], r["device"]): r for r in rows}


async def test_readings_of_every_kind_land_in_influxdb_1x_with_grid_tags(
    mosquitto: MosquittoServer, influxdb: InfluxServer, tmp_path: Path
) -> None:
    db = f"e2e_{uuid.uuid4().hex[:8]}"
    settings = settings_for(
        tmp_path, mosquitto.url, influx_url=influxdb.url, influx_api="v1", influx_db=db
    )
    async with running(settings) as (_, api):
        await register(api, FLEET)
        await asyncio.to_thread(publish, mosquitto.port, MESSAGES)
        rows = await eventually(
            lambda: len(r := _rows_by_device(influxdb, db)) == len(EXPECTED) and r,
            "all kinds in InfluxDB",
        )
        status = await api.get("/devices/ef-1")
    for key, fields in EXPECTED.items():
        row = rows[key]
        assert {k: row[k] for k in fields} == pytest.approx(fields), key
        tags = {k: row[k] for k in ("profile", "grid", "community", "street")}
        assert tags == {
            "profile": PROFILE_OF[key[1]],
            "grid": "G-0101",
            "community": "C-0101",
            "street": "S-310101-01",
        }
    assert rows[("patrol", "tag-1")]["worker_id"] == "w-001"
    assert "note" not in rows[("patrol", "tag-1")] or rows[("patrol", "tag-1")]["note"] is None
    assert rows[("smoke", "nb-1")]["time"] == 1767225590_000000  # the frame's device time, in µs
    body = status.json()
    assert body["status"] == "online" and body["latest"]["cable_temp_c_3"] == 35.25
    online = influxdb.query("SELECT count(online) FROM device_status GROUP BY device", db)
    assert {r["device"] for r in online} == {d["id"] for d in FLEET}


async def test_the_v2_write_path_lands_in_victoriametrics(
    mosquitto: MosquittoServer, victoria: VictoriaServer, tmp_path: Path
) -> None:
    bucket = f"e2e{uuid.uuid4().hex[:8]}"
    settings = settings_for(
        tmp_path,
        mosquitto.url,
        influx_url=victoria.url,
        influx_api="v2",
        influx_bucket=bucket,
        influx_org="district",
        influx_token="vm-ignores-it",
    )
    suffix = uuid.uuid4().hex[:6]
    fleet = [
        _device(f"sd-{suffix}", "smoke-detector"),
        _device(f"ef-{suffix}", "electrical-fire-monitor"),
    ]
    async with running(settings) as (_, api):
        await register(api, fleet)
        await asyncio.to_thread(
            publish,
            mosquitto.port,
            [
                (f"devices/sd-{suffix}/up", orjson.dumps({"smoke": True, "battery_pct": 55.5})),
                (
                    f"devices/ef-{suffix}/up",
                    orjson.dumps({"residual_current_ma": 320.0, "cable_temp_c": [71.5]}),
                ),
            ],
        )
        match = f'{{__name__=~"(smoke|electrical)_.*",device=~".*-{suffix}"}}'

        def exported() -> list[dict[str, Any]] | None:
            victoria.force_flush()
            found = victoria.export(match)
            return found if len(found) >= 4 else None

        series = await eventually(exported, "four series in VictoriaMetrics")
    got = {(s["metric"]["__name__"], s["metric"]["device"]): s["values"][-1] for s in series}
    assert got == {
        ("smoke_smoke", f"sd-{suffix}"): 1,
        ("smoke_battery_pct", f"sd-{suffix}"): 55.5,
        ("electrical_residual_current_ma", f"ef-{suffix}"): 320.0,
        ("electrical_cable_temp_c_1", f"ef-{suffix}"): 71.5,
    }
    labels = series[0]["metric"]
    assert (labels["grid"], labels["community"], labels["street"]) == (
        "G-0101",
        "C-0101",
        "S-310101-01",
    )
