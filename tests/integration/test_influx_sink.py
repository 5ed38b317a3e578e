"""Readings of every kind reach a real InfluxDB 1.6 (v1 API) and VictoriaMetrics (v2 API)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from gateway.config import Settings
from gateway.metrics import Metrics
from gateway.model import Device, Reading
from gateway.profiles import load_profiles
from gateway.sinks.influx import InfluxConfig, InfluxSink
from gateway.sinks.lineprotocol import field_roles
from tests.servers.influxdb import InfluxServer
from tests.servers.victoria import VictoriaServer

pytestmark = pytest.mark.integration

TAG_FIELDS, STRING_FIELDS = field_roles(load_profiles(Settings().profiles_dir).values())
# Whole seconds, a little in the past: distinct per reading (InfluxDB overwrites a point with
# the same series and time) and inside any retention window.
T0 = float(int(time.time()) - 600)


def fleet(suffix: str) -> list[tuple[Reading, Device]]:
    """One reading per measurement, from devices in grid G-0301."""
    where = {"grid": "G-0301", "community": "C-03", "street": "S-01"}
    detector = Device(f"sd-{suffix}", "smoke-detector", "3F corridor", **where)
    monitor = Device(f"ef-{suffix}", "electrical-fire-monitor", "board 2", **where)
    sensor = Device(f"wp-{suffix}", "water-pressure-sensor", "riser", **where)
    tag = Device(f"04:A2:{suffix}", "nfc-patrol-tag", "exit B", **where)
    return [
        (
            Reading(detector.id, detector.profile, "smoke", T0 + 1, smoke_fields()),
            detector,
        ),
        (
            Reading(
                monitor.id,
                monitor.profile,
                "electrical",
                T0 + 2,
                {"residual_current_ma": 350.5, "cable_temp_c_1": 72.5, "arc_fault": True},
            ),
            monitor,
        ),
        (
            Reading(sensor.id, sensor.profile, "water", T0 + 3, {"pressure_mpa": 0.32}),
            sensor,
        ),
        (
            Reading(
                tag.id,
                tag.profile,
                "patrol",
                T0 + 4,
                {
                    "worker_id": "w017",
                    "result": "hazard",
                    "lat": 31.2304,
                    "lon": 121.4737,
                    "note": "安全出口被杂物堵塞",
                },
            ),
            tag,
        ),
    ]


def smoke_fields() -> dict[str, bool | int | float | str]:
    return {"smoke": True, "fault": False, "battery_pct": 87}


def one(rows: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(rows) == 1, rows
    return rows[0]


async def test_every_measurement_is_written_through_the_v1_api(
    influxdb: InfluxServer, tmp_path: Path
) -> None:
    influxdb.create_database("firegrid_v1")
    cfg = InfluxConfig(
        url=influxdb.url, spool_dir=tmp_path, api="v1", db="firegrid_v1", flush_interval_s=0.05
    )
    metrics = Metrics()
    async with InfluxSink(cfg, metrics, TAG_FIELDS, STRING_FIELDS) as sink:
        for reading, device in fleet("v1"):
            sink.write(reading, device)
        await sink.flush()
        assert sink.health().ok

    def select(measurement: str) -> dict[str, Any]:
        return one(influxdb.query(f'SELECT * FROM "{measurement}"', "firegrid_v1"))

    smoke = select("smoke")
    assert smoke["time"] == int(T0 + 1) * 1_000_000
    assert (smoke["smoke"], smoke["fault"], smoke["battery_pct"]) == (1, 0, 87)
    assert smoke["device"] == "sd-v1"
    assert smoke["profile"] == "smoke-detector"
    assert (smoke["grid"], smoke["community"], smoke["street"]) == ("G-0301", "C-03", "S-01")

    electrical = select("electrical")
    assert electrical["residual_current_ma"] == 350.5
    assert electrical["cable_temp_c_1"] == 72.5
    assert electrical["arc_fault"] == 1

    assert select("water")["pressure_mpa"] == 0.32

    patrol = select("patrol")
    assert patrol["device"] == "04:A2:v1"
    assert patrol["worker_id"] == "w017"
    assert patrol["result"] == "hazard"
    assert (patrol["lat"], patrol["lon"]) == (31.2304, 121.4737)
    assert "note" not in patrol
    tag_keys = {r["tagKey"] for r in influxdb.query("SHOW TAG KEYS FROM patrol", "firegrid_v1")}
    assert tag_keys == {"community", "device", "grid", "profile", "street", "worker_id"}

    # What an officer's dashboard asks: the worst leakage per device in a grid.
    worst = influxdb.query(
        "SELECT max(residual_current_ma) FROM electrical WHERE grid = 'G-0301' GROUP BY device",
        "firegrid_v1",
    )
    assert [(r["device"], r["max"]) for r in worst] == [("ef-v1", 350.5)]
    written = metrics.registry.get_sample_value(
        "firegrid_sink_points_written_total", {"sink": "influxdb"}
    )
    assert written == 4


async def test_a_field_type_conflict_drops_only_the_conflicting_point(
    influxdb: InfluxServer, tmp_path: Path
) -> None:
    influxdb.create_database("firegrid_conflict")
    cfg = InfluxConfig(
        url=influxdb.url, spool_dir=tmp_path, api="v1", db="firegrid_conflict", flush_interval_s=60
    )
    detector = Device("sd-c1", "smoke-detector", "hall", "G-0302")
    metrics = Metrics()
    async with InfluxSink(cfg, metrics) as sink:
        sink.write(Reading(detector.id, detector.profile, "smoke", T0, smoke_fields()), detector)
        await sink.flush()
        # battery_pct is an integer field now; a float for it is refused, its neighbour kept.
        sink.write(
            Reading(detector.id, detector.profile, "smoke", T0 + 1, {"battery_pct": 8.5}), detector
        )
        sink.write(
            Reading(detector.id, detector.profile, "smoke", T0 + 2, smoke_fields()), detector
        )
        await sink.flush()
        health = sink.health()
    assert not health.ok and "field type conflict" in health.detail
    rows = influxdb.query("SELECT battery_pct FROM smoke", "firegrid_conflict")
    assert [r["time"] for r in rows] == [int(T0) * 1_000_000, int(T0 + 2) * 1_000_000]

    def counted(name: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(name, {"sink": "influxdb", **labels})

    assert counted("firegrid_sink_points_dropped_total", reason="bad_data") == 1
    assert counted("firegrid_sink_points_written_total") == 2


async def test_every_measurement_is_written_through_the_v2_api(
    victoria: VictoriaServer, tmp_path: Path
) -> None:
    cfg = InfluxConfig(
        url=victoria.url,
        spool_dir=tmp_path,
        api="v2",
        org="city",
        bucket="firegrid",
        token="test-token",
        flush_interval_s=0.05,
    )
    async with InfluxSink(cfg, Metrics(), TAG_FIELDS, STRING_FIELDS) as sink:
        for reading, device in fleet("v2"):
            sink.write(reading, device)
        await sink.flush()
        assert sink.health().ok

    numeric = 3 + 3 + 1 + 2  # smoke, electrical, water, patrol (lat, lon)
    exported = victoria.export_until('{__name__=~"(smoke|electrical|water|patrol)_.*"}', numeric)
    series = {s["metric"]["__name__"]: s for s in exported}

    smoke = series["smoke_smoke"]
    assert smoke["values"] == [1]
    assert smoke["timestamps"] == [int(T0 + 1) * 1000]
    assert smoke["metric"] | {"__name__": None} == {
        "__name__": None,
        "device": "sd-v2",
        "profile": "smoke-detector",
        "grid": "G-0301",
        "community": "C-03",
        "street": "S-01",
    }
    assert series["smoke_fault"]["values"] == [0]
    assert series["smoke_battery_pct"]["values"] == [87]
    assert series["electrical_residual_current_ma"]["values"] == [350.5]
    assert series["electrical_cable_temp_c_1"]["values"] == [72.5]
    assert series["electrical_arc_fault"]["values"] == [1]
    assert series["water_pressure_mpa"]["values"] == [0.32]
    assert series["patrol_lat"]["values"] == [31.2304]
    assert series["patrol_lat"]["metric"]["worker_id"] == "w017"
    assert "patrol_note" not in series
