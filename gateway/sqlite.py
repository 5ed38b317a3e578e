"""Opening the gateway's SQLite files: WAL, a schema version, refusal of a newer file.

Each store (registry, incidents and outbox, tokens, engine state) keeps its own file so it can
move to PostgreSQL, or to its own partition, on its own.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import aiosqlite

T = TypeVar("T")


class SchemaError(RuntimeError):
    """The file was written by a newer firegrid; refusing it beats corrupting it."""


async def open_database(
    path: Path, schema: str, version: int, *, foreign_keys: bool = False
) -> aiosqlite.Connection:
    """Connect, set WAL, and create ``schema`` at ``version`` in a new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = await aiosqlite.connect(path)
    try:
        await db.execute("PRAGMA journal_mode = WAL")
        # WAL + NORMAL survives a process crash; only an OS crash may lose the last commits.
        await db.execute("PRAGMA synchronous = NORMAL")
        if foreign_keys:
            await db.execute("PRAGMA foreign_keys = ON")
        async with db.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        found = int(row[0]) if row else 0
        if found > version:
            raise SchemaError(f"{path}: schema version {found} is newer than this firegrid's")
        if found == 0:
            await db.executescript(schema + f"PRAGMA user_version = {version};")
            await db.commit()
    except BaseException:
        await db.close()
        raise
    return db


async def in_one_hop(db: aiosqlite.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``work`` on the connection's own thread as one job.

    Each aiosqlite call is a trip to that thread and back through the event loop; a
    transaction of five statements is five trips, each waiting a turn of a busy loop. An
    alarm's commit takes one this way. aiosqlite has no public call for it: this uses its
    ``_execute`` and ``_conn`` (there since 0.17; ``tests/unit/test_sqlite.py`` fails if an
    upgrade drops them).
    """
    return await db._execute(lambda: work(db._conn))  # type: ignore[no-any-return,no-untyped-call]
