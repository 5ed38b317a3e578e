"""Helpers for the bridge tests (no tests of its own): real local servers on loopback.

:class:`Receiver` is an aiohttp web server standing in for the grid platform, a WeCom bot, a
DingTalk robot or an SMS gateway; :class:`MailServer` an SMTP server (aiosmtpd). Signatures
are checked here from the contract's words, not with the gateway's own signing code.
:func:`bridge_api` is the REST API over the real incident service with the bridge's routers.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import APIRouter

from gateway.incidents.service import IncidentService
from gateway.incidents.store import SqliteIncidentStore
from gateway.model import Location
from gateway.registry import DeviceDraft
from tests.fixtures.registry import registry_with_district
from tests.unit.test_api_support import DEVICES, FakeClock, Incidents, served

SECRET = "platform-shared-secret"


@dataclass(frozen=True)
class Received:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def event_id(self) -> str:
        return str(self.json()["event_id"])


Answer = Callable[[Received], "int | tuple[int, Any]"]


def ok(_: Received) -> tuple[int, Any]:
    return 200, {"errcode": 0, "errmsg": "ok"}


@dataclass
class Receiver:
    """Records every request; ``answer`` decides the reply (status, JSON); ``hold`` (while
    set) keeps requests waiting, as a server that stopped answering mid-request."""

    answer: Answer = ok
    requests: list[Received] = field(default_factory=list)  # every attempt that came in
    accepted: list[Received] = field(default_factory=list)  # those answered 2xx
    hold: asyncio.Event | None = None
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        got = Received(
            request.path,
            dict(request.query),
            dict(request.headers),
            await request.read(),
            time.time(),
        )
        self.requests.append(got)
        if self.hold is not None:
            await self.hold.wait()
        result = self.answer(got)
        status, body = (result, {}) if isinstance(result, int) else result
        if 200 <= status < 300:
            self.accepted.append(got)
        return web.json_response(body, status=status)


def contract_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of "{timestamp}.{body}">``, written out from the contract."""
    return (
        "sha256="
        + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    )


def signed_by(secret: str, request: Received, within_s: float = 300) -> bool:
    timestamp = request.headers["X-Firegrid-Timestamp"]
    fresh = abs(time.time() - int(timestamp)) <= within_s
    return fresh and hmac.compare_digest(
        request.headers["X-Firegrid-Signature"], contract_signature(secret, timestamp, request.body)
    )


def sign(secret: str, body: bytes, at: float | None = None) -> dict[str, str]:
    """Headers for a callback, as the platform would send them."""
    timestamp = str(int(time.time() if at is None else at))
    return {
        "X-Firegrid-Timestamp": timestamp,
        "X-Firegrid-Signature": contract_signature(secret, timestamp, body),
        "Content-Type": "application/json",
    }


class MailServer:
    """A local SMTP server that keeps what it is given."""

    def __init__(self) -> None:
        self.mails: list[Envelope] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 (aiosmtpd's hook name)
        self.mails.append(envelope)
        return "250 OK"

    async def start(self) -> MailServer:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self, hostname="mail.test"), "127.0.0.1", 0
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def wait_for(probe: Callable[[], Any], what: str, within: float = 10.0) -> Any:
    """Poll ``probe`` until truthy; fail naming ``what`` and the last value."""
    deadline = time.monotonic() + within
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not true after {within} s (last: {result!r:.300})")
        await asyncio.sleep(0.02)


@dataclass
class BridgeApi:
    """The REST API over the real incident service (the sample district of test_api_support:
    ``sd-0101`` in G-0101, worker w-001), with the bridge's routers mounted."""

    incidents: Incidents
    store: SqliteIncidentStore

    @property
    def service(self) -> IncidentService:
        return self.incidents.service

    def client(self, secret: str | None = None) -> httpx.AsyncClient:
        """A client of the API; no bearer token unless ``secret`` is given."""
        return self.incidents.api.as_(secret)


@asynccontextmanager
async def bridge_api(
    tmp_path: Path, routers: Callable[[SqliteIncidentStore, FakeClock], list[APIRouter]]
) -> AsyncIterator[BridgeApi]:
    clock = FakeClock()
    async with registry_with_district(tmp_path / "registry.sqlite") as registry:
        for device_id, (grid, building) in DEVICES.items():
            location = Location(address="贵州路", building=building, floor="3")
            draft = DeviceDraft(
                id=device_id,
                profile="smoke-detector",
                name=f"{building} smoke",
                grid=grid,
                location=location,
            )
            await registry.add_device(draft)
        store = await SqliteIncidentStore.open(tmp_path / "incidents.sqlite")
        try:
            service = await IncidentService.open(store, registry, clock=clock)
            mounted = routers(store, clock)
            async with served(tmp_path, registry, incidents=service, routers=mounted) as api:
                yield BridgeApi(Incidents(api, service, clock), store)
        finally:
            await store.close()
