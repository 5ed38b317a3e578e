"""The embedded history store: readings in a local SQLite file when no InfluxDB is configured.

What ``firegrid demo`` (and a gateway without ``FIREGRID_INFLUX_URL``) keeps: one row per
reading (device, measurement, time, fields as JSON) in ``{data_dir}/history.sqlite``, written
in batches from one task in WAL mode, kept for ``retention_days``, and read back newest first
for the REST API. It is a short local memory for a small site, not a time-series database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import aiosqlite
import orjson

from gateway.config import Settings
from gateway.metrics import Metrics
from gateway.model import Device, FieldValue, Reading
from gateway.ratelog import RateLimitedLogger
from gateway.sinks.base import Sink, SinkHealth
from gateway.sqlite import open_database

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    device TEXT NOT NULL,
    measurement TEXT NOT NULL,
    ts REAL NOT NULL,
    fields TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS readings_by_device ON readings (device, ts);
CREATE INDEX IF NOT EXISTS readings_by_time ON readings (ts);
"""
_Row = tuple[str, str, float, str]


@dataclass(frozen=True, slots=True)
class HistoryRow:
    device_id: str
    measurement: str
    ts: float
    fields: Mapping[str, FieldValue]


class HistorySink(Sink):
    """Batches readings into SQLite; ``history()`` reads them back."""

    name = "history"

    def __init__(
        self,
        path: Path,
        metrics: Metrics,
        retention_days: int = 30,
        *,
        batch_size: int = 1000,
        flush_interval_s: float = 1.0,
        max_buffer_points: int = 100_000,
        retention_check_s: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self._retention_s = retention_days * 86400.0
        self._batch_size = batch_size
        self._flush_interval = flush_interval_s
        self._max_buffer = max_buffer_points
        self._retention_check_s = retention_check_s
        self._clock = clock
        self._buffer: deque[_Row] = deque()
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._failure: str | None = None
        self._next_retention = 0.0
        self._ratelog = RateLimitedLogger(log)
        self._m_points = metrics.sink_points.labels(self.name)
        self._m_buffer = metrics.sink_buffer.labels(self.name)
        self._m_batch = metrics.sink_batch_size.labels(self.name)
        self._m_seconds = metrics.sink_write_seconds.labels(self.name)
        self._m_errors = metrics.sink_errors.labels(self.name, "db_error")
        self._m_failed = metrics.sink_dropped.labels(self.name, "db_error")
        self._m_full = metrics.sink_dropped.labels(self.name, "buffer_full")

    def write(self, reading: Reading, device: Device) -> None:
        if len(self._buffer) >= self._max_buffer:
            # Only when SQLite stalls (a full disk): shed the oldest, as the InfluxDB sink does.
            self._buffer.popleft()
            self._m_full.inc()
            self._ratelog.warning("buffer_full", "history buffer full: dropping the oldest")
        # Text, not orjson's bytes: each of those is a shrunk 4 KiB buffer the C allocator
        # cannot reuse while it waits here (a backlog of 100k would hold ~390 MiB).
        fields = orjson.dumps(dict(reading.fields)).decode()
        self._buffer.append((device.id, reading.measurement, reading.ts, fields))
        if len(self._buffer) >= self._batch_size:
            self._wake.set()

    def health(self) -> SinkHealth:
        buffered = len(self._buffer)
        if self._task is None or self._task.done():
            return SinkHealth(False, "history store not running", buffered)
        if self._failure is not None:
            return SinkHealth(False, self._failure, buffered)
        return SinkHealth(True, f"SQLite history at {self.path}", buffered)

    async def start(self) -> None:
        # As every store's file: WAL (the REST API reads while the writer appends), NORMAL
        # (durable enough for a local history that InfluxDB replaces in production), a small
        # page cache, a schema version. A file from before versions (0) gets the version; its
        # tables are kept (IF NOT EXISTS).
        self._db = await open_database(self.path, _SCHEMA, SCHEMA_VERSION)
        self._task = asyncio.create_task(self._run(), name="history-writer")

    async def stop(self) -> None:
        if self._task is not None:
            # Let the writer finish its batch rather than cancel it mid-insert.
            self._closing = True
            self._wake.set()
            await self._task
            self._task = None
        if self._db is not None:
            await self.flush()
            await self._db.close()
            self._db = None

    async def flush(self) -> None:
        """Write everything buffered now."""
        async with self._lock:
            while self._buffer:
                n = min(self._batch_size, len(self._buffer))
                await self._insert([self._buffer.popleft() for _ in range(n)])
            self._m_buffer.set(0)

    async def history(
        self,
        device_id: str,
        since: float | None = None,
        until: float | None = None,
        limit: int = 1000,
    ) -> list[HistoryRow]:
        """A device's readings in ``[since, until]`` (epoch seconds), newest first."""
        await self.flush()
        db = self._connection()
        query = "SELECT device, measurement, ts, fields FROM readings WHERE device = ?"
        args: list[object] = [device_id]
        if since is not None:
            query += " AND ts >= ?"
            args.append(since)
        if until is not None:
            query += " AND ts <= ?"
            args.append(until)
        query += " ORDER BY ts DESC LIMIT ?"
        args.append(limit)
        async with db.execute(query, args) as cursor:
            rows = await cursor.fetchall()
        return [HistoryRow(r[0], r[1], r[2], orjson.loads(r[3])) for r in rows]

    async def apply_retention(self) -> int:
        """Delete readings older than the retention; returns how many went."""
        db = self._connection()
        cutoff = self._clock() - self._retention_s
        async with self._lock:
            cursor = await db.execute("DELETE FROM readings WHERE ts < ?", (cutoff,))
            await db.commit()
        deleted = cursor.rowcount
        if deleted:
            log.info("history: deleted %d readings older than %s", deleted, time.ctime(cutoff))
        return deleted

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._flush_interval)
            self._wake.clear()
            await self.flush()
            if self._closing:
                return
            if self._clock() >= self._next_retention:
                await self._retention_quietly()
                self._next_retention = self._clock() + self._retention_check_s

    async def _insert(self, batch: list[_Row]) -> None:
        db = self._connection()
        started = time.monotonic()
        try:
            await db.executemany("INSERT INTO readings VALUES (?, ?, ?, ?)", batch)
            await db.commit()
        except sqlite3.Error as exc:
            # A local database error (disk full, corruption) will not heal by retrying the
            # same rows in a tight loop: count them, say why, and keep going.
            self._m_errors.inc()
            self._m_failed.inc(len(batch))
            self._failure = f"SQLite history write failed: {exc}"
            self._ratelog.warning("db_error", "%s; dropped %d readings", self._failure, len(batch))
            return
        self._m_seconds.observe(time.monotonic() - started)
        self._m_batch.observe(len(batch))
        self._m_points.inc(len(batch))
        self._failure = None

    async def _retention_quietly(self) -> None:
        try:
            await self.apply_retention()
        except sqlite3.Error as exc:
            self._ratelog.warning("retention", "history retention failed: %s", exc)

    def _connection(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("history store is not started")
        return self._db


def build_history_sink(settings: Settings, metrics: Metrics) -> HistorySink:
    """The store ``firegrid demo`` uses: ``{data_dir}/history.sqlite``."""
    return HistorySink(
        settings.data_dir / "history.sqlite", metrics, settings.history_retention_days
    )
