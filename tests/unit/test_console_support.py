"""Helpers for the web console's API tests (no tests of its own).

The API with the console's routers over the real incident service (the sample district,
``sd-0101`` in G-0101 and ``sd-0102`` in G-0102, as in ``test_api_support``), and — for the
event stream, which never ends by itself — the same app served by uvicorn on a free port.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvicorn
from fastapi import FastAPI

from gateway.api import create_app
from gateway.config import Settings
from gateway.console import Console
from gateway.incidents.service import IncidentService
from gateway.incidents.store import SqliteIncidentStore
from gateway.metrics import Metrics
from gateway.model import Location
from gateway.registry import DeviceDraft
from gateway.tokens import open_token_store
from gateway.tracker import DeviceTracker
from gateway.unregistered import UnregisteredLog
from tests.fixtures.registry import IN_G0101, IN_G0102, PROFILES, TOKEN, registry_with_district
from tests.unit.test_api_support import Access, FakeClock, Incidents

DEVICES = {"sd-0101": ("G-0101", IN_G0101), "sd-0102": ("G-0102", IN_G0102)}


@dataclass
class World(Incidents):
    console: Console
    settings: Settings

    @property
    def app(self) -> FastAPI:
        return self.api.app


@asynccontextmanager
async def console_world(tmp_path: Path, **settings: Any) -> AsyncIterator[World]:
    clock = FakeClock()
    config = Settings(data_dir=tmp_path / "data", **settings)
    async with (
        registry_with_district(tmp_path / "registry.sqlite") as registry,
        open_token_store(tmp_path / "tokens.sqlite") as tokens,
    ):
        for device_id, (grid, (lat, lon)) in DEVICES.items():
            location = Location(address="贵州路", building="3号楼", floor="3", lat=lat, lon=lon)
            draft = DeviceDraft(
                id=device_id,
                profile="smoke-detector",
                name=f"{device_id} smoke",
                grid=grid,
                location=location,
                installer="inst-01",
            )
            await registry.add_device(draft)
        store = await SqliteIncidentStore.open(tmp_path / "incidents.sqlite")
        metrics = Metrics()
        console = await Console.open(config, metrics, clock)
        try:
            service = await IncidentService.open(store, registry, clock=clock)
            service.subscribe(console.events.publish)
            app = create_app(
                registry=registry,
                profiles=PROFILES,
                tracker=DeviceTracker(),
                unregistered=UnregisteredLog(),
                metrics=metrics,
                admin_token=TOKEN,
                tokens=tokens,
                incidents=service,
                routers=console.api_routers(),
            )
            console.mount(app)
            access = Access(app, registry, tokens)
            try:
                yield World(access, service, clock, console, config)
            finally:
                for client in access.clients:
                    await client.aclose()
        finally:
            await console.close()
            await store.close()


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the test runner keeps its own signal handlers


@asynccontextmanager
async def served(world: World) -> AsyncIterator[str]:
    """The app on a free loopback port: its ``/api/v1`` base URL."""
    config = uvicorn.Config(
        world.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/api/v1"
    finally:
        world.console.events.close()  # as the gateway does: open streams end first
        server.should_exit = True
        await asyncio.wait_for(task, 10)


class Stream:
    """``GET /events`` read in the background: every ``(event, data)`` in order."""

    def __init__(self, base: str, token: str) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.status: int | None = None
        self._changed = asyncio.Condition()
        self._task = asyncio.create_task(self._read(base, token))

    async def _read(self, base: str, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            httpx.AsyncClient(timeout=None) as client,
            client.stream("GET", base + "/events", headers=headers) as response,
        ):
            self.status = response.status_code
            event = "message"
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    async with self._changed:
                        self.events.append((event, orjson.loads(line[5:])))
                        self._changed.notify_all()
        async with self._changed:
            self.events.append(("<end>", {}))
            self._changed.notify_all()

    async def wait(self, what: str, condition: Any, within: float = 5.0) -> None:
        """Until ``condition(events)`` holds; fails naming ``what`` and the events seen."""
        try:
            async with asyncio.timeout(within), self._changed:
                await self._changed.wait_for(lambda: condition(self.events))
        except TimeoutError:
            raise AssertionError(f"{what}: not after {within} s; got {self.events}") from None

    async def ready(self) -> None:
        await self.wait("ready", lambda events: any(e == "ready" for e, _ in events))

    def incidents(self) -> list[dict[str, Any]]:
        return [data for event, data in self.events if event == "incident"]

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def png() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def jpeg() -> bytes:
    return b"\xff\xd8\xff\xe0" + b"\x00" * 64


def webp() -> bytes:
    return b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 64
