"""Issued API tokens in one SQLite file (``<data dir>/tokens.sqlite``), through aiosqlite.

Active tokens are also held in memory, keyed by hash, so authenticating a request is a dict
lookup and never waits on the database; every change is written to the file first, then to
memory, under one lock (the registry's rule). A revoked token stays in the file with its
``revoked_at``: who could call the API, and until when, is an audit question.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiosqlite
import orjson

from gateway.sqlite import open_database
from gateway.tokens.hashing import hash_secret, new_secret, new_token_id
from gateway.tokens.model import Role, TokenRecord

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    worker_id TEXT,
    grids TEXT,
    revoked_at REAL
);
"""
_COLUMNS = "id, name, role, secret_hash, created_at, worker_id, grids, revoked_at"


class TokenStore:
    """Open with :meth:`open` (or :func:`open_token_store`); close with :meth:`close`."""

    def __init__(self, db: aiosqlite.Connection, clock: Callable[[], float]) -> None:
        self._db = db
        self._clock = clock
        self._lock = asyncio.Lock()
        self._all: dict[str, TokenRecord] = {}
        self._active: dict[str, TokenRecord] = {}  # by secret hash

    @classmethod
    async def open(cls, path: Path, clock: Callable[[], float] = time.time) -> TokenStore:
        db = await open_database(path, _SCHEMA, SCHEMA_VERSION)
        try:
            store = cls(db, clock)
            for row in await db.execute_fetchall(f"SELECT {_COLUMNS} FROM tokens"):
                store._remember(_from_row(row))
        except BaseException:
            await db.close()
            raise
        return store

    async def close(self) -> None:
        await self._db.close()

    def authenticate(self, secret: str) -> TokenRecord | None:
        """The active token with this secret, if any: one hash and one dict lookup.

        A dict lookup is not constant-time, but what it could leak is the *hash*, which
        reveals nothing usable about a secret (SHA-256 is preimage-resistant).
        """
        return self._active.get(hash_secret(secret))

    def tokens(self, include_revoked: bool = False) -> list[TokenRecord]:
        """Oldest first."""
        found = (t for t in self._all.values() if include_revoked or t.active)
        return sorted(found, key=lambda t: (t.created_at, t.id))

    def get(self, token_id: str) -> TokenRecord | None:
        return self._all.get(token_id)

    async def issue(
        self,
        role: Role,
        name: str,
        worker_id: str | None = None,
        grids: Sequence[str] | None = None,
    ) -> tuple[TokenRecord, str]:
        """A new token and its secret — the only time the secret exists outside the caller."""
        secret = new_secret()
        record = TokenRecord(
            id=new_token_id(),
            name=name,
            role=role,
            secret_hash=hash_secret(secret),
            created_at=self._clock(),
            worker_id=worker_id,
            grids=None if grids is None else tuple(dict.fromkeys(grids)),
        )
        async with self._lock:
            await self._db.execute(
                f"INSERT INTO tokens ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                _to_row(record),
            )
            await self._db.commit()
            self._remember(record)
        return record, secret

    async def revoke(self, token_id: str) -> TokenRecord | None:
        """Revoke at once (the next request with it gets 401); None when unknown.

        Revoking an already revoked token changes nothing and returns it as it was.
        """
        async with self._lock:
            record = self._all.get(token_id)
            if record is None or not record.active:
                return record
            revoked_at = self._clock()
            await self._db.execute(
                "UPDATE tokens SET revoked_at = ? WHERE id = ?", (revoked_at, token_id)
            )
            await self._db.commit()
            record = replace(record, revoked_at=revoked_at)
            self._remember(record)
        return record

    def _remember(self, record: TokenRecord) -> None:
        self._all[record.id] = record
        if record.active:
            self._active[record.secret_hash] = record
        else:
            self._active.pop(record.secret_hash, None)


@asynccontextmanager
async def open_token_store(
    path: Path, clock: Callable[[], float] = time.time
) -> AsyncIterator[TokenStore]:
    """``async with open_token_store(data_dir / "tokens.sqlite") as tokens:``"""
    store = await TokenStore.open(path, clock)
    try:
        yield store
    finally:
        await store.close()


def _to_row(t: TokenRecord) -> tuple[Any, ...]:
    grids = None if t.grids is None else orjson.dumps(list(t.grids)).decode()
    return (
        t.id,
        t.name,
        t.role.value,
        t.secret_hash,
        t.created_at,
        t.worker_id,
        grids,
        t.revoked_at,
    )


def _from_row(row: Any) -> TokenRecord:
    token_id, name, role, secret_hash, created_at, worker_id, grids, revoked_at = row
    return TokenRecord(
        id=token_id,
        name=name,
        role=Role(role),
        secret_hash=secret_hash,
        created_at=created_at,
        worker_id=worker_id,
        grids=None if grids is None else tuple(orjson.loads(grids)),
        revoked_at=revoked_at,
    )
