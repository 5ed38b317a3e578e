"""Opening the gateway's SQLite files: WAL, a schema version, refusal of a newer file.

Each store (registry, incidents and outbox, tokens, engine state) keeps its own file so it can
move to PostgreSQL, or to its own partition, on its own.
"""

from __future__ import annotations

from pathlib import Path

import aiosqlite


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
