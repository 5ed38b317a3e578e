"""The audit log (审计日志): every registry change and incident action — who, what, when, and
the subject before and after.

Every change comes in through the REST API (the CLI talks to it too), so the log is an ASGI
middleware there: it names the caller from the bearer token (or the signed platform callback),
reads the subject before the request runs — the device about to be removed, the incident
about to move, the grids about to be redrawn — and again after it. Refused attempts by a known
caller are kept too (status 4xx, nothing changed). Append only, in its own SQLite file.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import aiosqlite
import orjson
from fastapi import APIRouter, Query
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.incidents.views import incident_view
from gateway.model import as_json
from gateway.sqlite import open_database

if TYPE_CHECKING:  # gateway.api mounts this module: importing it back at load time would loop
    from gateway.api.context import ApiContext

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    status INTEGER NOT NULL,
    before TEXT,
    after TEXT
);
CREATE INDEX audit_subject ON audit (subject, seq);
"""
_CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# An acknowledgement link's path is its secret: the log names the kind of door, not the key.
ACK_LINK = "ack-link"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: float
    actor: str  # the token's worker id or name, "platform", or "anonymous"
    role: str
    action: str  # "DELETE /api/v1/devices/sd-1"
    subject: str  # "device:sd-1", "incident:INC-…", "grids:G-0101,G-0102"
    status: int
    before: Any = None
    after: Any = None


class AuditLog:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    @classmethod
    async def open(cls, path: Path) -> AuditLog:
        return cls(await open_database(path, _SCHEMA, SCHEMA_VERSION))

    async def close(self) -> None:
        await self._db.close()

    async def record(self, entry: AuditEntry) -> None:
        row = asdict(entry)
        row["before"], row["after"] = (_json(row["before"]), _json(row["after"]))
        names = ", ".join(row)
        await self._db.execute(
            f"INSERT INTO audit ({names}) VALUES ({', '.join('?' * len(row))})", tuple(row.values())
        )
        await self._db.commit()

    async def entries(
        self, subject: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[AuditEntry]:
        """Newest first; ``subject`` is exact (``device:sd-1``)."""
        where, args = ("WHERE subject = ?", [subject]) if subject else ("", [])
        rows = await self._db.execute_fetchall(
            "SELECT at, actor, role, action, subject, status, before, after FROM audit "
            f"{where} ORDER BY seq DESC LIMIT ? OFFSET ?",
            (*args, limit, offset),
        )
        return [
            AuditEntry(*row[:6], *(None if v is None else orjson.loads(v) for v in row[6:]))
            for row in rows
        ]


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, default=as_json).decode()


# -- what a request is about, and how to read it before and after ------------------------

Reader = Callable[[], Awaitable[Any]]


def _subject(ctx: ApiContext, method: str, path: str, body: bytes) -> tuple[str, Reader | None]:
    """``(subject, reader)``; a reader of None means the answer itself is the after."""
    registry, fields = ctx.registry, _body(body)
    removed = re.search(r"/(devices|tokens)/([^/]+)$", path) if method == "DELETE" else None
    if removed and removed[1] == "devices":
        return f"device:{removed[2]}", _now(registry.by_id, removed[2])
    if removed:
        return f"token:{removed[2]}", _now(lambda key: _token(ctx, key), removed[2])
    replaced = re.search(r"/devices/([^/]+)$", path) if method == "PUT" else None
    if replaced:
        return f"device:{replaced[1]}", _now(registry.by_id, replaced[1])
    if match := re.search(r"/incidents/([^/]+)/actions$", path):
        return f"incident:{match[1]}", lambda: _incident(ctx, match[1])
    if path.endswith("/platform/callback"):
        incident_id = str(fields.get("incident_id", ""))
        return f"incident:{incident_id}", lambda: _incident(ctx, incident_id)
    if path.endswith("/grids"):
        features = fields.get("features")
        codes = sorted(
            str(f["properties"].get("code"))
            for f in (features if isinstance(features, list) else [])
            if isinstance(f, dict) and isinstance(f.get("properties"), dict)
        )
        named = ",".join(codes) if len(codes) <= 10 else f"{codes[0]}..{codes[-1]} ({len(codes)})"
        return f"grids:{named}", _now(lambda _: {c: registry.grid(c) for c in codes})
    key = str(fields.get("id", ""))
    for kind, read in (
        ("/workers", registry.worker),
        ("/stations", registry.station),
        ("/devices", registry.by_id),
    ):
        if method == "POST" and path.endswith(kind):
            return f"{kind[1:-1]}:{key}", _now(read, key)
    return ACK_LINK if "/ack/" in path else path.rsplit("/api/v1/", 1)[-1], None


def _now(read: Callable[[str], Any], key: str = "") -> Reader:
    async def reader() -> Any:
        return read(key)

    return reader


def _body(body: bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _token(ctx: ApiContext, token_id: str) -> Any:
    record = None if ctx.tokens is None else ctx.tokens.get(token_id)
    return None if record is None else {**asdict(record), "secret_hash": "(redacted)"}


async def _incident(ctx: ApiContext, incident_id: str) -> Any:
    if ctx.incidents is None:
        return None
    try:
        return incident_view(await ctx.incidents.get(incident_id))
    except Exception:  # unknown or malformed id: there was nothing before (or after)
        return None


def _redacted(answer: bytes) -> Any:
    """The answer as the after, minus any secret (an issued token's is shown once, only)."""
    try:
        value = orjson.loads(answer)
    except orjson.JSONDecodeError:
        return None
    if isinstance(value, dict) and "secret" in value:
        value["secret"] = "(redacted)"
    return value


# -- the middleware ---------------------------------------------------------------------------


class AuditTrail:
    """``app.add_middleware(AuditTrail, log=..., clock=...)``: mount it inside the body limits,
    so what it reads of a body has been bounded already."""

    def __init__(self, app: ASGIApp, log: AuditLog, clock: Callable[[], float] = time.time):
        self._app = app
        self._log = log
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _CHANGES:
            await self._app(scope, receive, send)
            return
        ctx: ApiContext = scope["app"].state.firegrid
        body = bytearray()
        answer = bytearray()
        status = 0

        async def reading() -> Message:
            message = await receive()
            body.extend(message.get("body", b""))
            return message

        async def answering(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            else:
                answer.extend(message.get("body", b""))
            await send(message)

        # The body is read before the route runs, to know the subject; then replayed.
        message = await reading()
        while message.get("more_body"):
            message = await reading()
        method, path = scope["method"], scope["path"]
        subject, read = _subject(ctx, method, path, bytes(body))
        before = await read() if read else None
        await self._app(scope, _replayed(bytes(body), receive), answering)
        actor, role = _caller(ctx, scope)
        if role == "anonymous" and status >= 300:
            return  # a request with no credentials changed nothing: not worth a line
        after = None
        if status < 300:
            after = await read() if read else _redacted(bytes(answer))
        action = f"{method} {'(ack link)' if subject == ACK_LINK else path}"
        entry = AuditEntry(self._clock(), actor, role, action, subject, status, before, after)
        await self._log.record(entry)


def _replayed(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _caller(ctx: ApiContext, scope: Scope) -> tuple[str, str]:
    scheme, _, token = Headers(scope=scope).get("authorization", "").partition(" ")
    principal = ctx.auth.authenticate(token) if scheme.lower() == "bearer" and token else None
    if principal is not None:
        return principal.actor, principal.role.value
    if scope["path"].endswith("/platform/callback"):
        return "platform", "platform"  # signed by the platform's key, checked by the route
    return "anonymous", "anonymous"


def audit_router(log: AuditLog) -> APIRouter:
    """``GET /audit``: the log, newest first (admin only)."""
    from gateway.api.auth import ADMIN  # at call time: see the TYPE_CHECKING import above

    router = APIRouter(prefix="/audit", tags=["audit"], dependencies=[ADMIN])

    @router.get("")
    async def audit_entries(
        subject: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> list[dict[str, Any]]:
        return [asdict(e) for e in await log.entries(subject, limit, offset)]

    return router
