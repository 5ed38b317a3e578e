"""The registry kept in one SQLite file (WAL), through aiosqlite.

Geometry is stored as GeoJSON text, not in a spatial extension: the grid map is rebuilt in
memory at open, and GeoJSON moves to PostGIS unchanged when the registry moves to PostgreSQL.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite
import orjson

from gateway.model import NO_THRESHOLDS, Device, FireStation, Grid, GridLevel, GridWorker, Location
from gateway.registry.errors import ConflictError
from gateway.registry.grids import GridRecord
from gateway.sqlite import open_database, rebuilt
from gateway.tracker import DeviceState

SCHEMA_VERSION = 2

# Rows per fetch when loading devices and their states: all 100k at once would hold every row
# (and every string in it) at the same time, a peak the process keeps as RSS after start-up.
# Each fetch is a hop to aiosqlite's thread, so not much smaller either.
LOAD_CHUNK = 5000


def _device_states(table: str) -> str:
    """A device's liveness and latest values, one row per device heard, kept by device id."""
    return f"""
CREATE TABLE {table} (
    device_id TEXT PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    last_seen REAL,
    online INTEGER NOT NULL,
    latest TEXT NOT NULL,
    latest_ts REAL
) WITHOUT ROWID;
"""


_SCHEMA = """
CREATE TABLE grids (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    level TEXT NOT NULL,
    parent TEXT,
    worker_id TEXT,
    leader_id TEXT,
    geometry TEXT
);
CREATE TABLE workers (id TEXT PRIMARY KEY, name TEXT NOT NULL, phone TEXT NOT NULL);
CREATE TABLE stations (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, phone TEXT NOT NULL, lat REAL NOT NULL,
    lon REAL NOT NULL
);
CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    profile TEXT NOT NULL,
    name TEXT NOT NULL,
    external_id TEXT UNIQUE,
    address TEXT NOT NULL,
    building TEXT NOT NULL,
    floor TEXT NOT NULL,
    lat REAL,
    lon REAL,
    grid TEXT NOT NULL REFERENCES grids (code),
    thresholds TEXT NOT NULL,
    installer TEXT,
    commissioning_until REAL
);
CREATE INDEX devices_by_grid ON devices (grid);
""" + _device_states("device_states")

# Version 1 kept device_states with a rowid beside its key: two B-trees to find and write for
# every saved device, in the order the rows were first written. Without it a save's upserts,
# made in key order, walk one B-tree front to back (1.4 against 4.4 µs a row, 100k rows).
_UPGRADES = {1: rebuilt("device_states", _device_states)}

_UPSERT_GRID = """
INSERT INTO grids (code, name, level, parent, worker_id, leader_id, geometry)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (code) DO UPDATE SET
    name = excluded.name, level = excluded.level, parent = excluded.parent,
    worker_id = excluded.worker_id, leader_id = excluded.leader_id, geometry = excluded.geometry
"""

_REPLACE_DEVICE = """
UPDATE devices SET
    profile = ?, name = ?, external_id = ?, address = ?, building = ?, floor = ?, lat = ?,
    lon = ?, grid = ?, thresholds = ?, installer = ?, commissioning_until = ?
WHERE id = ?
"""

# The WHERE EXISTS drops the state of a device deleted while the tracker still held it,
# instead of failing the whole batch on the foreign key.
_SAVE_STATE = """
INSERT INTO device_states (device_id, last_seen, online, latest, latest_ts)
SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM devices WHERE id = ?)
ON CONFLICT (device_id) DO UPDATE SET
    last_seen = excluded.last_seen, online = excluded.online, latest = excluded.latest,
    latest_ts = excluded.latest_ts
"""


class SqliteStore:
    """A :class:`~gateway.registry.repository.RegistryStore` in one SQLite file."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    @classmethod
    async def open(cls, path: Path) -> SqliteStore:
        return cls(
            await open_database(
                path, _SCHEMA, SCHEMA_VERSION, foreign_keys=True, upgrades=_UPGRADES
            )
        )

    async def close(self) -> None:
        await self._db.close()

    async def load_grids(self) -> list[GridRecord]:
        rows = await self._db.execute_fetchall(
            "SELECT code, name, level, parent, worker_id, leader_id, geometry FROM grids"
        )
        return [_grid_from_row(row) for row in rows]

    async def upsert_grids(self, records: Sequence[GridRecord]) -> None:
        rows = [_grid_to_row(record) for record in records]
        await self._write(_UPSERT_GRID, rows)

    async def load_workers(self) -> list[GridWorker]:
        rows = await self._db.execute_fetchall("SELECT id, name, phone FROM workers ORDER BY id")
        return [GridWorker(id=r[0], name=r[1], phone=r[2]) for r in rows]

    async def insert_worker(self, worker: GridWorker) -> None:
        sql = "INSERT INTO workers (id, name, phone) VALUES (?, ?, ?)"
        await self._write(sql, [(worker.id, worker.name, worker.phone)])

    async def load_stations(self) -> list[FireStation]:
        sql = "SELECT id, name, phone, lat, lon FROM stations ORDER BY id"
        rows = await self._db.execute_fetchall(sql)
        return [FireStation(id=r[0], name=r[1], phone=r[2], lat=r[3], lon=r[4]) for r in rows]

    async def insert_station(self, station: FireStation) -> None:
        sql = "INSERT INTO stations (id, name, phone, lat, lon) VALUES (?, ?, ?, ?, ?)"
        s = station
        await self._write(sql, [(s.id, s.name, s.phone, s.lat, s.lon)])

    async def load_devices(
        self, ladder: Callable[[str], tuple[str, str]] | None = None
    ) -> list[Device]:
        sql = (
            "SELECT id, profile, name, external_id, address, building, floor, lat, lon, grid,"
            " thresholds, installer, commissioning_until FROM devices ORDER BY id"
        )
        devices: list[Device] = []
        async for rows in self._chunks(sql):
            devices += [_device_from_row(row, ladder) for row in rows]
        return devices

    async def insert_devices(self, devices: Sequence[Device]) -> None:
        sql = "INSERT INTO devices VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        await self._write(sql, [_device_to_row(device) for device in devices])

    async def replace_device(self, device: Device) -> bool:
        # UPDATE, never INSERT OR REPLACE: that deletes the row first, and the delete would
        # cascade to the device's saved state.
        row = _device_to_row(device)
        return await self._write(_REPLACE_DEVICE, [(*row[1:], row[0])]) > 0

    async def delete_device(self, device_id: str) -> bool:
        cursor = await self._db.execute("DELETE FROM devices WHERE id = ?", (device_id,))
        await self._db.commit()
        return cursor.rowcount > 0

    async def save_states(self, states: Iterable[tuple[str, DeviceState]]) -> None:
        rows = [
            (
                device_id,
                s.last_seen,
                int(s.online),
                orjson.dumps(s.latest).decode(),
                s.latest_ts,
                device_id,
            )
            for device_id, s in states
        ]
        await self._write(_SAVE_STATE, rows)

    async def load_states(self) -> dict[str, DeviceState]:
        sql = "SELECT device_id, last_seen, online, latest, latest_ts FROM device_states"
        states: dict[str, DeviceState] = {}
        async for rows in self._chunks(sql):
            for r in rows:
                states[r[0]] = DeviceState(
                    last_seen=r[1], online=bool(r[2]), latest=orjson.loads(r[3]), latest_ts=r[4]
                )
        return states

    async def _chunks(self, sql: str) -> AsyncIterator[Iterable[sqlite3.Row]]:
        """The rows of ``sql``, :data:`LOAD_CHUNK` at a time."""
        async with self._db.execute(sql) as cursor:
            while rows := await cursor.fetchmany(LOAD_CHUNK):
                yield rows

    async def _write(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """Run ``sql`` for every row in one transaction: all rows land, or none do.

        Returns how many rows it changed."""
        try:
            cursor = await self._db.executemany(sql, rows)
            await self._db.commit()
            return cursor.rowcount
        except sqlite3.IntegrityError as exc:
            await self._db.rollback()
            if "UNIQUE" in str(exc):
                raise ConflictError(_describe_unique(str(exc))) from exc
            raise
        except BaseException:
            await self._db.rollback()
            raise


def _describe_unique(message: str) -> str:
    """``UNIQUE constraint failed: devices.external_id`` → ``external_id already taken``."""
    column = message.rsplit(".", 1)[-1]
    return f"{column} already taken"


def _grid_to_row(record: GridRecord) -> tuple[Any, ...]:
    g = record.grid
    geometry = None if record.geometry is None else orjson.dumps(record.geometry).decode()
    return (g.code, g.name, g.level.value, g.parent, g.worker_id, g.leader_id, geometry)


def _grid_from_row(row: Sequence[Any]) -> GridRecord:
    code, name, level, parent, worker_id, leader_id, geometry = row
    grid = Grid(code, name, GridLevel(level), parent, worker_id, leader_id)
    return GridRecord(grid, None if geometry is None else orjson.loads(geometry))


def _device_to_row(d: Device) -> tuple[Any, ...]:
    loc = d.location
    thresholds = orjson.dumps(dict(d.thresholds)).decode()
    return (
        d.id,
        d.profile,
        d.name,
        d.external_id,
        loc.address,
        loc.building,
        loc.floor,
        loc.lat,
        loc.lon,
        d.grid,
        thresholds,
        d.installer,
        d.commissioning_until,
    )


def _device_from_row(
    row: Sequence[Any], ladder: Callable[[str], tuple[str, str]] | None = None
) -> Device:
    (
        id_,
        profile,
        name,
        external_id,
        address,
        building,
        floor,
        lat,
        lon,
        grid,
        thresholds,
        installer,
        commissioning_until,
    ) = row
    community, street = ("", "") if ladder is None else ladder(grid)
    # Interned: the texts devices share (a profile, a grid, a building's address) are then
    # held once, not once per row read.
    intern = sys.intern
    return Device(
        id=id_,
        profile=intern(profile),
        name=intern(name),
        grid=intern(grid),
        location=Location(intern(address), intern(building), intern(floor), lat, lon),
        external_id=external_id,
        thresholds=NO_THRESHOLDS if thresholds == "{}" else orjson.loads(thresholds),
        installer=None if installer is None else intern(installer),
        commissioning_until=commissioning_until,
        community=community,
        street=street,
    )
