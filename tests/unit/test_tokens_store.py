"""The token store: secrets only as hashes, revocation at once, and both across a restart."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

from gateway.tokens import Role, TokenStore, hash_secret, open_token_store


def every_byte_of(folder: Path) -> bytes:
    """The database and whatever SQLite keeps beside it (WAL, shared memory)."""
    return b"".join(p.read_bytes() for p in sorted(folder.iterdir()))


async def test_the_database_never_holds_the_secret(tmp_path: Path) -> None:
    path = tmp_path / "tokens.sqlite"
    async with open_token_store(path, clock=lambda: 1_700_000_000.0) as store:
        record, secret = await store.issue(Role.WORKER, "张伟's phone", "w-001", ["G-0101"])
    assert secret.startswith("fgt_") and len(secret) > 40
    assert record.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    raw = every_byte_of(tmp_path)
    assert secret.encode() not in raw
    assert secret.split("_", 1)[1].encode() not in raw
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT secret_hash FROM tokens").fetchall() == [(hash_secret(secret),)]


async def test_tokens_and_revocations_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "tokens.sqlite"
    times = iter([100.0, 200.0, 300.0])
    async with open_token_store(path, clock=lambda: next(times)) as store:
        officer, officer_secret = await store.issue(Role.OFFICER, "officer Li")
        worker, worker_secret = await store.issue(Role.WORKER, "w-002", "w-002")
        assert store.authenticate(officer_secret) == officer
        revoked = await store.revoke(worker.id)
        assert revoked is not None and revoked.revoked_at == 300.0
        assert store.authenticate(worker_secret) is None
        assert await store.revoke(worker.id) == revoked  # twice: harmless, unchanged
        assert await store.revoke("tok-nope") is None
    reopened = await TokenStore.open(path)
    try:
        assert reopened.authenticate(officer_secret) == officer
        assert reopened.authenticate(worker_secret) is None
        assert [t.id for t in reopened.tokens()] == [officer.id]
        assert [t.id for t in reopened.tokens(include_revoked=True)] == [officer.id, worker.id]
        assert reopened.get(worker.id) == revoked
    finally:
        await reopened.close()


async def test_a_wrong_or_empty_secret_gets_nothing(tmp_path: Path) -> None:
    async with open_token_store(tmp_path / "t.sqlite") as store:
        _, secret = await store.issue(Role.VIEWER, "grafana")
        assert store.authenticate(secret[:-1]) is None
        assert store.authenticate("") is None
        assert store.authenticate(hash_secret(secret)) is None  # the hash is not a key
