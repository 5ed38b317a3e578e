"""Helpers for the responder and demo-view tests (no tests of its own): the real incident
service and REST API over the sample district, with two detectors and a micro fire station,
and the outbox handed to whoever listens — the phones, the event log — as MQTT would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gateway.incidents.service import IncidentService
from gateway.incidents.store import SqliteIncidentStore
from gateway.model import FireStation, Location
from gateway.registry import DeviceDraft
from gateway.rules.outcomes import Alarm, IncidentKind, Severity
from gateway.sim.responders import Responders
from gateway.sim.response import ResponsePolicy
from tests.fixtures.registry import IN_G0101, IN_G0102, registry_with_district
from tests.unit.test_api_support import Access, FakeClock, served

Listener = Callable[[str, bytes], None]

PEOPLE = ["w-001", "w-002", "w-101"]  # G-0101's and G-0102's workers, and their leader
STATION = FireStation("ms-1", "贵州路微型消防站", IN_G0101[0] + 0.001, IN_G0101[1], "021-1")


@dataclass
class World:
    access: Access
    service: IncidentService
    store: SqliteIncidentStore
    clock: FakeClock
    said: list[str] = field(default_factory=list)

    async def alarm(
        self,
        device_id: str,
        rule_id: str = "smoke-fire",
        kind: IncidentKind = IncidentKind.FIRE,
        test: bool = False,
    ) -> str:
        severity = Severity.CRITICAL if kind is IncidentKind.FIRE else Severity.WARNING
        alarm = Alarm(rule_id, device_id, device_id, kind, severity, rule_id, self.clock.now)
        if test:  # a self-test (自检): the installer's only
            alarm = replace(alarm, title="自检", test=True)
        transitions = await self.service.apply([alarm])
        return transitions[0].incident.id

    async def deliver(self, *to: Listener) -> int:
        """The outbox's undelivered messages to each listener, as the broker would: how many."""
        rows = await self.store.due("mqtt", self.clock.now, 100)
        for row in rows:
            for listener in to:
                listener(row.topic, row.body)
        await self.store.mark_delivered("mqtt", [r.id for r in rows], self.clock.now)
        return len(rows)

    async def drop_outbox(self) -> None:
        """What an earlier run's phones received: gone, this run's phones never see it."""
        rows = await self.store.due("mqtt", self.clock.now, 100)
        await self.store.mark_delivered("mqtt", [r.id for r in rows], self.clock.now)

    def closed(self, incident_id: str) -> Callable[[], Awaitable[bool]]:
        async def probe() -> bool:
            return (await self.view(incident_id))["status"] == "closed"

        return probe

    async def view(self, incident_id: str) -> dict[str, Any]:
        view: dict[str, Any] = (await self.access.admin.get(f"/incidents/{incident_id}")).json()
        return view

    async def until(self, done: Callable[[], Awaitable[bool]], what: str, *to: Listener) -> None:
        """Deliver to ``to`` and let the walks run until ``done`` (bounded, not sleep-and-hope)."""
        for _ in range(500):
            await self.deliver(*to)
            if await done():
                return
            await asyncio.sleep(0.001)
        raise AssertionError(f"{what}: not reached")

    def crew(self, policy: ResponsePolicy | None = None, **args: Any) -> Responders:
        return Responders(
            self.access.admin,
            PEOPLE,
            policy or ResponsePolicy(pace=0),
            names={"sd-0101": "3号楼9层厨房", "sd-0102": "7号楼2层卧室"},
            narrate=self.said.append,
            clock=self.clock,
            **args,
        )


@asynccontextmanager
async def world(tmp_path: Path) -> AsyncIterator[World]:
    clock = FakeClock()
    async with registry_with_district(tmp_path / "registry.sqlite") as registry:
        for device_id, grid, (lat, lon) in (
            ("sd-0101", "G-0101", IN_G0101),
            ("sd-0102", "G-0102", IN_G0102),
        ):
            location = Location("贵州路", "3号楼", "9", lat, lon)
            draft = DeviceDraft(device_id, "smoke-detector", device_id, location, grid=grid)
            await registry.add_device(draft)
        await registry.add_station(STATION)
        store = await SqliteIncidentStore.open(tmp_path / "incidents.sqlite")
        try:
            service = await IncidentService.open(store, registry, clock=clock)
            async with served(tmp_path, registry, incidents=service) as access:
                yield World(access, service, store, clock)
        finally:
            await store.close()
