"""The embedded SQLite history store that ``firegrid demo`` uses instead of InfluxDB."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from gateway.config import Settings
from gateway.metrics import Metrics
from gateway.model import Device, Reading
from gateway.sinks.history import HistoryRow, HistorySink, build_history_sink

DAY = 86400.0
NOW = 1767225600.0
DETECTOR = Device("sd-0001", "smoke-detector", "corridor", "G-0301")
MONITOR = Device("ef-0001", "electrical-fire-monitor", "board", "G-0301")


def smoke(ts: float, alarm: bool = False) -> Reading:
    return Reading(DETECTOR.id, DETECTOR.profile, "smoke", ts, {"smoke": alarm, "battery_pct": 80})


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_readings_come_back_newest_first_with_their_field_types(tmp_path: Path) -> None:
    metrics = Metrics()
    async with HistorySink(tmp_path / "history.sqlite", metrics) as store:
        store.write(smoke(NOW - 60), DETECTOR)
        store.write(smoke(NOW, alarm=True), DETECTOR)
        store.write(
            Reading(MONITOR.id, MONITOR.profile, "electrical", NOW, {"residual_current_ma": 350.5}),
            MONITOR,
        )
        rows = await store.history(DETECTOR.id)
    assert rows == [
        HistoryRow(DETECTOR.id, "smoke", NOW, {"smoke": True, "battery_pct": 80}),
        HistoryRow(DETECTOR.id, "smoke", NOW - 60, {"smoke": False, "battery_pct": 80}),
    ]
    value = metrics.registry.get_sample_value(
        "firegrid_sink_points_written_total", {"sink": "history"}
    )
    assert value == 3


async def test_history_is_filtered_by_time_and_limited(tmp_path: Path) -> None:
    async with HistorySink(tmp_path / "h.sqlite", Metrics()) as store:
        for minute in range(10):
            store.write(smoke(NOW + 60 * minute), DETECTOR)
        rows = await store.history(DETECTOR.id, since=NOW + 120, until=NOW + 420, limit=3)
        assert [r.ts for r in rows] == [NOW + 420, NOW + 360, NOW + 300]
        assert await store.history("nobody") == []


async def test_readings_older_than_the_retention_are_deleted(tmp_path: Path) -> None:
    clock = Clock(NOW)
    async with HistorySink(tmp_path / "h.sqlite", Metrics(), 30, clock=clock) as store:
        store.write(smoke(NOW - 31 * DAY), DETECTOR)
        store.write(smoke(NOW - 29 * DAY), DETECTOR)
        await store.flush()
        assert await store.apply_retention() == 1
        assert [r.ts for r in await store.history(DETECTOR.id)] == [NOW - 29 * DAY]


async def test_retention_runs_by_itself_periodically(tmp_path: Path) -> None:
    clock = Clock(NOW)
    store = HistorySink(
        tmp_path / "h.sqlite",
        Metrics(),
        30,
        flush_interval_s=0.01,
        retention_check_s=DAY,
        clock=clock,
    )
    async with store:
        store.write(smoke(NOW - 10 * DAY), DETECTOR)
        await store.flush()
        clock.now = NOW + 21 * DAY
        deadline = time.monotonic() + 5
        while await store.history(DETECTOR.id):
            assert time.monotonic() < deadline, "the old reading was never deleted"
            await asyncio.sleep(0.02)


async def test_the_store_survives_a_restart_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    async with HistorySink(path, Metrics(), flush_interval_s=60) as store:
        store.write(smoke(NOW, alarm=True), DETECTOR)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    async with HistorySink(path, Metrics()) as store:
        assert [r.fields["smoke"] for r in await store.history(DETECTOR.id)] == [True]


async def test_health_reports_the_store(tmp_path: Path) -> None:
    store = HistorySink(tmp_path / "h.sqlite", Metrics())
    assert not store.health().ok
    async with store:
        store.write(smoke(NOW), DETECTOR)
        health = store.health()
        assert health.ok and health.buffered == 1
    assert not store.health().ok


def test_the_demo_store_lives_in_the_data_dir(tmp_path: Path) -> None:
    store = build_history_sink(Settings(data_dir=tmp_path), Metrics())
    assert store.path == tmp_path / "history.sqlite"


async def test_a_history_file_from_before_schema_versions_keeps_its_rows(tmp_path: Path) -> None:
    """The sink opens its file as every store does (gateway.sqlite): a file written before
    it carried a version is taken as version 1, rows and all."""
    path = tmp_path / "history.sqlite"
    async with HistorySink(path, Metrics()) as store:
        store.write(smoke(NOW - 60), DETECTOR)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 0")  # as the sink left it before
    conn.commit()
    conn.close()
    async with HistorySink(path, Metrics()) as store:
        store.write(smoke(NOW), DETECTOR)
        rows = await store.history(DETECTOR.id)
    assert [r.ts for r in rows] == [NOW, NOW - 60]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()
