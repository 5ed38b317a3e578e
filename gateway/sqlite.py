"""Opening the gateway's SQLite files: WAL, a schema version, upgrades of an older file,
refusal of a newer one.

Each store (registry, incidents and outbox, tokens, engine state) keeps its own file so it can
move to PostgreSQL, or to its own partition, on its own.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import aiosqlite

T = TypeVar("T")

# Each connection's page cache (SQLite's default: 2 MiB each). The gateway's files are read
# from the OS's page cache just as well; with 100k devices the default caches held ~6 MiB of
# the process (measured settled: 197.5 → 191.7 MiB at 512 KiB).
CACHE_KIB = 512


class SchemaError(RuntimeError):
    """The file was written by a newer firegrid; refusing it beats corrupting it."""


async def open_database(
    path: Path,
    schema: str,
    version: int,
    *,
    foreign_keys: bool = False,
    upgrades: Mapping[int, str] | None = None,
) -> aiosqlite.Connection:
    """Connect, set WAL, and create ``schema`` at ``version`` in a new file.

    A file at an older version is brought to ``version`` by ``upgrades``: the script keyed
    ``n`` takes a file from version ``n`` to ``n + 1``. All of them run in one transaction
    with the new version number, so a failed upgrade leaves the file as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = await aiosqlite.connect(path)
    try:
        await db.execute("PRAGMA journal_mode = WAL")
        # WAL + NORMAL survives a process crash; only an OS crash may lose the last commits.
        await db.execute("PRAGMA synchronous = NORMAL")
        await db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
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
        elif found < version:
            await _upgrade(db, path, found, version, upgrades or {})
    except BaseException:
        await db.close()
        raise
    return db


def rebuilt(table: str, create: Callable[[str], str]) -> str:
    """An upgrade step that rebuilds ``table`` with its rows as ``create(name)`` makes a
    table (same columns, in the same order): how SQLite changes what ALTER TABLE cannot,
    such as a table's rowid."""
    new = f"{table}_rebuilt"
    return (
        create(new) + f" INSERT INTO {new} SELECT * FROM {table}; DROP TABLE {table};"
        f" ALTER TABLE {new} RENAME TO {table};"
    )


async def _upgrade(
    db: aiosqlite.Connection, path: Path, found: int, version: int, upgrades: Mapping[int, str]
) -> None:
    missing = [n for n in range(found, version) if n not in upgrades]
    if missing:
        raise SchemaError(
            f"{path}: no upgrade from schema version {missing[0]} to {missing[0] + 1}"
        )
    steps = "".join(upgrades[n] for n in range(found, version))
    # executescript commits what is open first; BEGIN ... COMMIT makes the steps one change.
    try:
        await db.executescript(f"BEGIN; {steps} PRAGMA user_version = {version}; COMMIT;")
    except sqlite3.Error as exc:
        await db.rollback()
        raise SchemaError(
            f"{path}: upgrading schema version {found} to {version} failed: {exc}"
        ) from exc


async def in_one_hop(db: aiosqlite.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``work`` on the connection's own thread as one job.

    Each aiosqlite call is a trip to that thread and back through the event loop; a
    transaction of five statements is five trips, each waiting a turn of a busy loop. An
    alarm's commit takes one this way. aiosqlite has no public call for it: this uses its
    ``_execute`` and ``_conn`` (there since 0.17; ``tests/unit/test_sqlite.py`` fails if an
    upgrade drops them).
    """
    return await db._execute(lambda: work(db._conn))  # type: ignore[no-any-return,no-untyped-call]
