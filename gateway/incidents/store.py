"""Incidents, their timelines and the outbox in one SQLite file (WAL), through aiosqlite.

An incident row keeps the columns the filters and the safety net need, and the whole
incident (timers included) as JSON in ``body``: a restart reads back exactly what was
running. One connection, one lock: a transaction is never interleaved with another
statement on the same connection (aiosqlite would fold them together).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import aiosqlite
import orjson

from gateway.incidents.dispatch import Recipient, Role
from gateway.incidents.model import Incident, Outcome, Stage, Status, TimelineEntry
from gateway.incidents.outbox import (
    DEFAULT_CHANNELS,
    ChannelBacklog,
    DeadLetter,
    MessageType,
    OutboxMessage,
    OutboxRow,
)
from gateway.incidents.repository import Batch, IncidentQuery
from gateway.model import Location
from gateway.rules.outcomes import IncidentKind, Severity
from gateway.sqlite import in_one_hop, open_database

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE incidents (
    id TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    status TEXT NOT NULL,
    grid TEXT NOT NULL,
    community TEXT NOT NULL,
    street TEXT NOT NULL,
    test INTEGER NOT NULL,
    opened_at REAL NOT NULL,
    closed_at REAL,
    outcome TEXT,
    worker_id TEXT,
    wake_at REAL,
    body TEXT NOT NULL
);
-- The safety net under the service's in-memory dedupe: never two open incidents per key.
CREATE UNIQUE INDEX incidents_open_key ON incidents (subject, rule_id) WHERE status <> 'closed';
CREATE INDEX incidents_by_opened ON incidents (opened_at);
CREATE INDEX incidents_by_status ON incidents (status, opened_at);
CREATE INDEX incidents_by_grid ON incidents (grid, opened_at);
CREATE INDEX incidents_by_device ON incidents (device_id, opened_at);
CREATE INDEX incidents_by_kind ON incidents (kind, opened_at);
CREATE TABLE timeline (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    at REAL NOT NULL,
    event TEXT NOT NULL,
    actor TEXT NOT NULL,
    note TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX timeline_by_incident ON timeline (incident_id, id);
-- AUTOINCREMENT: ids are never reused after a purge, so id order stays append order.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    recipient_role TEXT,
    recipient_id TEXT,
    created_at REAL NOT NULL,
    payload TEXT NOT NULL,
    UNIQUE (incident_id, seq)
);
-- Which channels take which message types; a new channel is a row here, not a column.
CREATE TABLE outbox_subscriptions (
    channel TEXT NOT NULL,
    type TEXT NOT NULL,
    PRIMARY KEY (channel, type)
);
CREATE TABLE outbox_delivery (
    outbox_id INTEGER NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    channel TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    delivered_at REAL,
    last_error TEXT,
    dead_at REAL,
    PRIMARY KEY (outbox_id, channel)
);
CREATE INDEX outbox_delivery_pending ON outbox_delivery (channel, outbox_id)
    WHERE delivered_at IS NULL AND dead_at IS NULL;
"""

_UPSERT_INCIDENT = """
INSERT INTO incidents (id, subject, rule_id, device_id, kind, severity, status, grid, community,
    street, test, opened_at, closed_at, outcome, worker_id, wake_at, body)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    severity = excluded.severity, status = excluded.status, closed_at = excluded.closed_at,
    outcome = excluded.outcome, worker_id = excluded.worker_id, wake_at = excluded.wake_at,
    body = excluded.body
"""

_INSERT_ENTRY = (
    "INSERT INTO timeline (incident_id, at, event, actor, note, data) VALUES (?, ?, ?, ?, ?, ?)"
)

_FAN_OUT = (
    "INSERT INTO outbox_delivery (outbox_id, channel)"
    " SELECT o.id, s.channel FROM outbox o"
    " JOIN outbox_subscriptions s ON s.type = o.type WHERE o.event_id = ?"
)
_INSERT_MESSAGE = """
INSERT INTO outbox (event_id, incident_id, seq, type, recipient_role, recipient_id, created_at,
    payload)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
"""

# Due now, and not behind an earlier row of the same incident that waits for a retry.
_DUE = """
SELECT o.id, o.event_id, o.incident_id, o.seq, o.type, o.recipient_role, o.recipient_id,
    o.created_at, o.payload, d.attempts
FROM outbox_delivery d JOIN outbox o ON o.id = d.outbox_id
WHERE d.channel = :channel AND d.delivered_at IS NULL AND d.dead_at IS NULL
    AND d.next_attempt_at <= :now
    AND NOT EXISTS (
        SELECT 1 FROM outbox o2 JOIN outbox_delivery d2
            ON d2.outbox_id = o2.id AND d2.channel = :channel
        WHERE o2.incident_id = o.incident_id AND o2.id < o.id
            AND d2.delivered_at IS NULL AND d2.dead_at IS NULL AND d2.next_attempt_at > :now
    )
ORDER BY d.outbox_id
LIMIT :limit
"""


_DEAD = """
SELECT o.id, o.event_id, o.incident_id, o.seq, o.type, o.recipient_role, o.recipient_id,
    o.created_at, o.payload, d.attempts, d.channel, d.last_error, d.dead_at
FROM outbox_delivery d JOIN outbox o ON o.id = d.outbox_id
WHERE d.dead_at IS NOT NULL AND (:channel IS NULL OR d.channel = :channel)
ORDER BY d.outbox_id, d.channel
LIMIT :limit OFFSET :offset
"""

_BACKLOGS = """
SELECT d.channel, sum(d.dead_at IS NULL), min(CASE WHEN d.dead_at IS NULL THEN o.created_at END),
    sum(d.dead_at IS NOT NULL)
FROM outbox_delivery d JOIN outbox o ON o.id = d.outbox_id
WHERE d.delivered_at IS NULL
GROUP BY d.channel
"""


class SqliteIncidentStore:
    """An :class:`~gateway.incidents.repository.IncidentStore` and outbox in one SQLite file.

    ``channels`` (name → message types) are the delivery channels every new outbox message
    is queued for; they replace the subscriptions saved by the previous run. Rows already
    queued for a channel that is gone stay where they are (re-drivable), none are added.
    """

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        self._lock = asyncio.Lock()
        self._watchers: list[asyncio.Event] = []

    @classmethod
    async def open(
        cls,
        path: Path,
        channels: Mapping[str, Iterable[MessageType]] = DEFAULT_CHANNELS,
    ) -> SqliteIncidentStore:
        db = await open_database(path, _SCHEMA, SCHEMA_VERSION, foreign_keys=True)
        try:
            await db.execute("DELETE FROM outbox_subscriptions")
            await db.executemany(
                "INSERT INTO outbox_subscriptions (channel, type) VALUES (?, ?)",
                [(name, MessageType(t).value) for name, types in channels.items() for t in types],
            )
            await db.commit()
        except BaseException:
            await db.close()
            raise
        return cls(db)

    async def close(self) -> None:
        await self._db.close()

    # -- incidents -----------------------------------------------------------------------

    async def load_open(self) -> list[Incident]:
        async with self._lock:
            rows = await self._db.execute_fetchall(
                "SELECT body FROM incidents WHERE status <> 'closed' ORDER BY opened_at, id"
            )
        return [incident_from_json(r[0]) for r in rows]

    async def get(self, incident_id: str) -> Incident | None:
        async with self._lock:
            rows = list(
                await self._db.execute_fetchall(
                    "SELECT body FROM incidents WHERE id = ?", (incident_id,)
                )
            )
            if not rows:
                return None
            entries = await self._db.execute_fetchall(
                "SELECT at, event, actor, note, data FROM timeline WHERE incident_id = ?"
                " ORDER BY id",
                (incident_id,),
            )
        incident = incident_from_json(rows[0][0])
        incident.timeline = [
            TimelineEntry(at=e[0], event=e[1], actor=e[2], note=e[3], data=orjson.loads(e[4]))
            for e in entries
        ]
        return incident

    async def query(self, query: IncidentQuery) -> list[Incident]:
        where, params = _where(query)
        sql = (
            f"SELECT body FROM incidents {where} ORDER BY opened_at DESC, id DESC LIMIT ? OFFSET ?"
        )
        async with self._lock:
            rows = await self._db.execute_fetchall(sql, [*params, query.limit, query.offset])
        return [incident_from_json(r[0]) for r in rows]

    async def commit(self, batch: Batch) -> None:
        incidents = [_incident_row(i) for i in batch.incidents]
        entries = [_entry_row(iid, e) for iid, e in batch.entries]
        messages = [_message_row(m) for m in batch.messages]
        event_ids = [(m.event_id,) for m in batch.messages]

        def write(conn: sqlite3.Connection) -> None:
            try:
                conn.executemany(_UPSERT_INCIDENT, incidents)
                conn.executemany(_INSERT_ENTRY, entries)
                conn.executemany(_INSERT_MESSAGE, messages)
                conn.executemany(_FAN_OUT, event_ids)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise

        async with self._lock:
            await in_one_hop(self._db, write)  # an alarm's commit: one trip to SQLite's thread
        if batch.messages:
            for event in self._watchers:
                event.set()

    # -- outbox (see gateway.incidents.outbox.OutboxReader) ---------------------------------

    def watch(self) -> asyncio.Event:
        event = asyncio.Event()
        self._watchers.append(event)
        return event

    async def due(self, channel: str, now: float, limit: int) -> list[OutboxRow]:
        params = {"channel": channel, "now": now, "limit": limit}
        async with self._lock:
            rows = await self._db.execute_fetchall(_DUE, params)
        return [_outbox_row(r) for r in rows]

    async def mark_delivered(self, channel: str, ids: Sequence[int], at: float) -> None:
        sql = "UPDATE outbox_delivery SET delivered_at = ? WHERE outbox_id = ? AND channel = ?"
        await self._write(sql, [(at, i, channel) for i in ids])

    async def mark_failed(
        self,
        channel: str,
        outbox_id: int,
        *,
        at: float,
        error: str,
        next_attempt_at: float,
        dead: bool = False,
    ) -> None:
        sql = (
            "UPDATE outbox_delivery SET attempts = attempts + 1, last_error = ?,"
            " next_attempt_at = ?, dead_at = ? WHERE outbox_id = ? AND channel = ?"
        )
        await self._write(sql, [(error, next_attempt_at, at if dead else None, outbox_id, channel)])

    async def redrive(self, channel: str, ids: Sequence[int] | None = None) -> int:
        """Put dead-lettered rows of ``channel`` (all, or ``ids``) back in the queue."""
        sql = (
            "UPDATE outbox_delivery SET dead_at = NULL, attempts = 0, next_attempt_at = 0"
            " WHERE channel = ? AND dead_at IS NOT NULL"
        )
        if ids is None:
            return await self._write(sql, [(channel,)])
        return await self._write(sql + " AND outbox_id = ?", [(channel, i) for i in ids])

    async def redrive_row(self, outbox_id: int, channel: str | None = None) -> int:
        """Put one dead-lettered message back in the queue of ``channel`` (None: every channel
        that gave up on it); returns how many channel rows came back."""
        sql = (
            "UPDATE outbox_delivery SET dead_at = NULL, attempts = 0, next_attempt_at = 0"
            " WHERE outbox_id = ? AND dead_at IS NOT NULL AND (? IS NULL OR channel = ?)"
        )
        return await self._write(sql, [(outbox_id, channel, channel)])

    async def dead_letters(
        self, channel: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[DeadLetter]:
        """The dead-letter list (of one channel, or all), oldest message first."""
        params = {"channel": channel, "limit": limit, "offset": offset}
        async with self._lock:
            rows = await self._db.execute_fetchall(_DEAD, params)
        return [DeadLetter(_outbox_row(r[:10]), r[10], r[11], r[12]) for r in rows]

    async def backlogs(self) -> list[ChannelBacklog]:
        """Every channel with something undelivered (live or dead); one query, for a scrape."""
        async with self._lock:
            rows = await self._db.execute_fetchall(_BACKLOGS)
        return [ChannelBacklog(r[0], int(r[1]), r[2], int(r[3])) for r in rows]

    async def backlog(self, channel: str) -> tuple[int, float | None]:
        """(undelivered live rows, creation time of the oldest) for ``/metrics``."""
        async with self._lock:
            rows = list(
                await self._db.execute_fetchall(
                    "SELECT count(*), min(o.created_at) FROM outbox_delivery d"
                    " JOIN outbox o ON o.id = d.outbox_id WHERE d.channel = ?"
                    " AND d.delivered_at IS NULL AND d.dead_at IS NULL",
                    (channel,),
                )
            )
        return int(rows[0][0]), rows[0][1]

    async def purge_delivered(self, before: float) -> int:
        """Drop messages older than ``before`` that every channel has delivered."""
        sql = (
            "DELETE FROM outbox WHERE created_at < ? AND NOT EXISTS (SELECT 1 FROM"
            " outbox_delivery d WHERE d.outbox_id = outbox.id AND d.delivered_at IS NULL)"
        )
        return await self._write(sql, [(before,)])

    async def _write(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        async with self._lock:
            try:
                cursor = await self._db.executemany(sql, rows)
                await self._db.commit()
            except BaseException:
                await self._db.rollback()
                raise
        return cursor.rowcount


def _where(query: IncidentQuery) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("status", query.status),
        ("grid", query.grid),
        ("device_id", query.device),
        ("kind", query.kind),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(str(value))
    if query.open_only:
        clauses.append("status <> 'closed'")
    if query.test is not None:
        clauses.append("test = ?")
        params.append(int(query.test))
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


# -- rows --------------------------------------------------------------------------------


def incident_to_json(incident: Incident) -> str:
    data = {f.name: getattr(incident, f.name) for f in fields(Incident) if f.name != "timeline"}
    data["location"] = asdict(incident.location)
    # ``detail`` comes from the rules engine: anything orjson cannot write becomes its str().
    return orjson.dumps(data, default=str).decode()


def incident_from_json(text: str | bytes) -> Incident:
    data: dict[str, Any] = orjson.loads(text)
    known = {f.name for f in fields(Incident)}
    data = {k: v for k, v in data.items() if k in known}
    data["kind"] = IncidentKind(data["kind"])
    data["severity"] = Severity(data["severity"])
    data["status"] = Status(data["status"])
    data["main_status"] = Status(data.get("main_status", data["status"]))
    data["location"] = Location(**data.get("location", {}))
    data["supersedes"] = tuple(data.get("supersedes", ()))
    for name, enum in (("outcome", Outcome), ("due_stage", Stage)):
        if data.get(name) is not None:
            data[name] = enum(data[name])
    return Incident(**data)


def _incident_row(i: Incident) -> tuple[Any, ...]:
    return (
        i.id,
        i.subject,
        i.rule_id,
        i.device_id,
        i.kind.value,
        i.severity.value,
        i.status.value,
        i.grid,
        i.community,
        i.street,
        int(i.test),
        i.opened_at,
        i.closed_at,
        None if i.outcome is None else i.outcome.value,
        i.worker_id,
        i.wake_at,
        incident_to_json(i),
    )


def _entry_row(incident_id: str, e: TimelineEntry) -> tuple[Any, ...]:
    data = orjson.dumps(dict(e.data), default=str).decode()
    return (incident_id, e.at, e.event, e.actor, e.note, data)


def _message_row(m: OutboxMessage) -> tuple[Any, ...]:
    r = m.recipient
    return (
        m.event_id,
        m.incident_id,
        m.seq,
        m.type.value,
        None if r is None else r.role.value,
        None if r is None else r.id,
        m.created_at,
        orjson.dumps(dict(m.payload), default=str).decode(),
    )


def _outbox_row(r: Sequence[Any]) -> OutboxRow:
    id_, event_id, incident_id, seq, type_, role, recipient_id, created_at, payload, attempts = r
    recipient = None if role is None else Recipient(Role(role), recipient_id or "")
    return OutboxRow(
        id=id_,
        event_id=event_id,
        incident_id=incident_id,
        seq=seq,
        type=MessageType(type_),
        recipient=recipient,
        created_at=created_at,
        body=payload.encode(),
        attempts=attempts,
    )
