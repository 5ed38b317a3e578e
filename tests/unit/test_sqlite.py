"""``in_one_hop``: a transaction of several statements in one trip to aiosqlite's thread."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from gateway.sqlite import in_one_hop, open_database

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
