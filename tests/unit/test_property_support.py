"""The whole REST API in a thread of its own, for hypothesis and schemathesis (no tests here).

Hypothesis runs plain functions, while the app's registry, token and incident stores belong
to the event loop that opened them. So the app lives on an anyio portal's loop and each
generated request is carried over to it: one app, one registry, for a whole test module.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastapi import FastAPI

from gateway.api.ack import AckSigner, ack_router
from gateway.api.outbox import outbox_router
from gateway.api.platform import platform_router
from gateway.api.rules import rules_router
from gateway.audit import AuditLog
from gateway.incidents.service import IncidentService
from gateway.incidents.store import SqliteIncidentStore
from gateway.model import Location
from gateway.registry import DeviceDraft
from tests.fixtures.registry import registry_with_district
from tests.unit.test_api_support import BASE, TOKEN, FakeClock, Incidents, served

ADMIN = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class ServedApi:
    portal: BlockingPortal
    app: FastAPI
    client: httpx.AsyncClient  # no credentials of its own: each request says who it is
    incident_id: str  # an open fire incident on sd-0101, for the action routes

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        call = functools.partial(self.client.request, method, url, **kwargs)
        response: httpx.Response = self.portal.call(call)
        return response


@asynccontextmanager
async def _world(tmp_path: Path) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, str]]:
    """The sample district, a device with an open incident, tokens, the audit log: every route."""
    async with registry_with_district(tmp_path / "registry.sqlite") as registry:
        location = Location(address="贵州路", building="3号楼", floor="3")
        await registry.add_device(
            DeviceDraft("sd-0101", "smoke-detector", "3F", grid="G-0101", location=location)
        )
        store = await SqliteIncidentStore.open(tmp_path / "incidents.sqlite")
        audit = await AuditLog.open(tmp_path / "audit.sqlite")
        try:
            clock = FakeClock()
            service = await IncidentService.open(store, registry, clock=clock)
            # The routers the gateway mounts (gateway.app), so the spec is the whole API.
            routers = [
                rules_router(lambda: "rules-fingerprint"),
                platform_router("platform-secret", clock=clock),
                ack_router(AckSigner("ack-secret", clock)),
                outbox_router(store),
            ]
            async with served(
                tmp_path, registry, incidents=service, routers=routers, audit=audit
            ) as api:
                incident_id = await Incidents(api, service, clock).alarm("sd-0101")
                transport = httpx.ASGITransport(app=api.app)
                async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
                    yield api.app, client, incident_id
        finally:
            await audit.close()
            await store.close()


@contextmanager
def served_api(tmp_path: Path) -> Iterator[ServedApi]:
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(_world(tmp_path)) as (app, client, incident_id),
    ):
        yield ServedApi(portal, app, client, incident_id)
