"""``open_database``'s upgrades of an older file, and ``in_one_hop``: a transaction of several
statements in one trip to aiosqlite's thread."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import aiosqlite
import pytest

from gateway.sqlite import CACHE_KIB, SchemaError, in_one_hop, open_database

SCHEMA = "CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL);"


async def test_several_statements_run_as_one_job_on_the_connections_thread(
    tmp_path: Path,
) -> None:
    db = await open_database(tmp_path / "x.sqlite", SCHEMA, 1)
    threads: list[int] = []
    try:

        def write(conn: sqlite3.Connection) -> int:
            threads.append(threading.get_ident())
            conn.executemany("INSERT INTO t VALUES (?, ?)", [("a", 1), ("b", 2)])
            conn.execute("UPDATE t SET v = v + 10 WHERE k = 'a'")
            conn.commit()
            return conn.total_changes

        assert await in_one_hop(db, write) == 3
        assert threads[0] != threading.get_ident()  # not the event loop's thread
        rows = await db.execute_fetchall("SELECT k, v FROM t ORDER BY k")
        assert [tuple(r) for r in rows] == [("a", 11), ("b", 2)]

        def fail(conn: sqlite3.Connection) -> None:
            try:
                conn.execute("INSERT INTO t VALUES ('c', 3)")
                conn.execute("INSERT INTO t VALUES ('a', 0)")  # primary key taken
            except BaseException:
                conn.rollback()
                raise

        with pytest.raises(sqlite3.IntegrityError):
            await in_one_hop(db, fail)
        rows = await db.execute_fetchall("SELECT count(*) FROM t")
        assert next(iter(rows))[0] == 2  # the failed transaction left nothing
    finally:
        await db.close()


async def _version(db: aiosqlite.Connection) -> int:
    rows = await db.execute_fetchall("PRAGMA user_version")
    return int(next(iter(rows))[0])


async def _version_1_file(path: Path) -> Path:
    """A file at schema version 1 holding one row."""
    db = await open_database(path, SCHEMA, 1)
    await db.execute("INSERT INTO t VALUES ('a', 1)")
    await db.commit()
    await db.close()
    return path


async def test_an_older_file_is_upgraded_step_by_step_and_keeps_its_rows(tmp_path: Path) -> None:
    path = await _version_1_file(tmp_path / "x.sqlite")
    upgrades = {
        1: "ALTER TABLE t ADD COLUMN w TEXT NOT NULL DEFAULT 'x';",
        2: "UPDATE t SET w = w || '!';",
    }
    db = await open_database(path, SCHEMA, 3, upgrades=upgrades)
    try:
        assert await _version(db) == 3
        rows = await db.execute_fetchall("SELECT k, v, w FROM t")
        assert [tuple(r) for r in rows] == [("a", 1, "x!")]
    finally:
        await db.close()


async def test_a_failed_upgrade_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = await _version_1_file(tmp_path / "x.sqlite")
    upgrades = {1: "ALTER TABLE t ADD COLUMN w TEXT;", 2: "INSERT INTO nowhere VALUES (1);"}
    with pytest.raises(SchemaError, match=r"upgrading schema version 1 to 3 failed: .*nowhere"):
        await open_database(path, SCHEMA, 3, upgrades=upgrades)
    with pytest.raises(SchemaError, match="no upgrade from schema version 1 to 2"):
        await open_database(path, SCHEMA, 2)
    db = await open_database(path, SCHEMA, 1)
    try:
        assert await _version(db) == 1
        rows = await db.execute_fetchall("SELECT * FROM t")
        assert [tuple(r) for r in rows] == [("a", 1)]  # no column w: the first step rolled back
    finally:
        await db.close()


async def test_each_connection_keeps_a_small_page_cache(tmp_path: Path) -> None:
    db = await open_database(tmp_path / "x.sqlite", SCHEMA, 1)
    try:
        rows = await db.execute_fetchall("PRAGMA cache_size")
        assert next(iter(rows))[0] == -CACHE_KIB  # KiB (negative), not SQLite's 2 MiB default
    finally:
        await db.close()
