"""Helpers for the access, token, incident and stats API tests (no tests of its own).

An app over a temp registry (the sample district) and a temp token store; ``as_`` gives a
client that sends any secret, ``issue`` issues a token through the API as the admin.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from gateway.api import create_app
from gateway.incidents.service import IncidentService
from gateway.incidents.store import SqliteIncidentStore
from gateway.metrics import Metrics
from gateway.model import Location
from gateway.registry import DeviceDraft, Registry
from gateway.rules.outcomes import Alarm, IncidentKind, Severity
from gateway.tokens import TokenStore, open_token_store
from gateway.tracker import DeviceTracker
from gateway.unregistered import UnregisteredLog
from tests.fixtures.registry import PROFILES, TOKEN, registry_with_district

BASE = "http://gateway.test/api/v1"
T0 = 1_763_870_400.0  # 2025-11-23T04:00:00Z, a Sunday noon in Shanghai


@dataclass
class Access:
    app: FastAPI
    registry: Registry
    tokens: TokenStore
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    @cached_property
    def admin(self) -> httpx.AsyncClient:
        """The bootstrap admin token (``FIREGRID_ADMIN_TOKEN``)."""
        return self.as_(TOKEN)

    def as_(self, secret: str | None) -> httpx.AsyncClient:
        headers = {} if secret is None else {"Authorization": f"Bearer {secret}"}
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url=BASE, headers=headers
        )
        self.clients.append(client)
        return client

    async def issue(
        self,
        role: str,
        name: str = "someone",
        worker_id: str | None = None,
        grids: Sequence[str] | None = None,
    ) -> str:
        body: dict[str, Any] = {"role": role, "name": name}
        if worker_id is not None:
            body["worker_id"] = worker_id
        if grids is not None:
            body["grids"] = list(grids)
        response = await self.admin.post("/tokens", json=body)
        assert response.status_code == 201, response.text
        secret: str = response.json()["secret"]
        return secret


@asynccontextmanager
async def access(tmp_path: Path, **app_args: Any) -> AsyncIterator[Access]:
    """``app_args`` go to ``create_app`` (e.g. ``routers=``)."""
    async with (
        registry_with_district(tmp_path / "registry.sqlite") as registry,
        served(tmp_path, registry, **app_args) as harness,
    ):
        yield harness


@asynccontextmanager
async def served(tmp_path: Path, registry: Registry, **app_args: Any) -> AsyncIterator[Access]:
    async with open_token_store(tmp_path / "tokens.sqlite") as tokens:
        app = create_app(
            registry=registry,
            profiles=PROFILES,
            tracker=DeviceTracker(),
            unregistered=UnregisteredLog(),
            metrics=Metrics(),
            admin_token=TOKEN,
            tokens=tokens,
            **app_args,
        )
        harness = Access(app, registry, tokens)
        try:
            yield harness
        finally:
            for client in harness.clients:
                await client.aclose()


class FakeClock:
    """The incident service's clock, moved by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Incidents:
    """:class:`Access` with the real incident service over a temp SQLite store, and devices
    in two grids: ``sd-0101`` (G-0101, worker w-001) and ``sd-0102`` (G-0102, worker w-002)."""

    api: Access
    service: IncidentService
    clock: FakeClock

    async def alarm(self, device_id: str, rule_id: str = "smoke", test: bool = False) -> str:
        kind = IncidentKind.FIRE if rule_id == "smoke" else IncidentKind.DEVICE_FAULT
        alarm = Alarm(
            rule_id=rule_id,
            subject=device_id,
            device_id=device_id,
            kind=kind,
            severity=Severity.CRITICAL if kind is IncidentKind.FIRE else Severity.MINOR,
            title=f"{kind} at {device_id}",
            at=self.clock.now,
            test=test,
        )
        transitions = await self.service.apply([alarm])
        return transitions[0].incident.id


DEVICES = {"sd-0101": ("G-0101", "3号楼"), "sd-0102": ("G-0102", "7号楼")}


@asynccontextmanager
async def with_incidents(tmp_path: Path) -> AsyncIterator[Incidents]:
    clock = FakeClock()
    async with registry_with_district(tmp_path / "registry.sqlite") as registry:
        for device_id, (grid, building) in DEVICES.items():
            draft = DeviceDraft(
                id=device_id,
                profile="smoke-detector",
                name=f"{building} smoke",
                grid=grid,
                location=Location(address="贵州路", building=building, floor="3"),
            )
            await registry.add_device(draft)
        store = await SqliteIncidentStore.open(tmp_path / "incidents.sqlite")
        try:
            service = await IncidentService.open(store, registry, clock=clock)
            async with served(tmp_path, registry, incidents=service) as api:
                yield Incidents(api, service, clock)
        finally:
            await store.close()
