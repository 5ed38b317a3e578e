"""The fake world the incident tests share (no tests here): a grid ladder, devices, stations.

District D-01 → street S-01 → community C-01 → grid G-0301 (worker w-0301, leader l-0301);
building B1 at 31.2000 N, 121.5000 E, with micro fire stations about 0.5 km and 2 km away.
The clock is fake and starts on Monday 2026-03-02 10:00 in Shanghai.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from gateway.incidents import (
    DEFAULT_CHANNELS,
    IncidentConfig,
    IncidentService,
    MessageType,
    OutboxRow,
    SqliteIncidentStore,
)
from gateway.incidents.workdays import SHANGHAI
from gateway.model import Device, FireStation, Grid, GridLevel, Location
from gateway.rules.outcomes import Alarm, Clear, IncidentKind, Severity

BASE = datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI).timestamp()
FAR_FUTURE = 1e12


class FakeClock:
    def __init__(self, now: float = BASE) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def north_of(lat: float, metres: float) -> float:
    return lat + metres / 111_195.0  # one degree of latitude on the IUGG mean sphere


B1 = Location("1 Shiji Ave", "B1", "3", 31.2, 121.5)


class FakeTopology:
    def __init__(self) -> None:
        self.grids = {
            g.code: g
            for g in (
                Grid("D-01", "District", GridLevel.DISTRICT),
                Grid("S-01", "Street", GridLevel.STREET, "D-01", "s-duty", "s-lead"),
                Grid("C-01", "Community", GridLevel.COMMUNITY, "S-01", None, "c-lead"),
                Grid("G-0301", "Grid 0301", GridLevel.GRID, "C-01", "w-0301", "l-0301"),
                Grid("G-0302", "Grid 0302", GridLevel.GRID, "C-01", None, None),
            )
        }
        self.devices: dict[str, Device] = {}
        for device_id, profile, location in (
            ("smoke-1", "smoke-detector", B1),
            ("smoke-2", "smoke-detector", replace(B1, floor="5")),
            ("smoke-3", "smoke-detector", replace(B1, floor="7")),
            ("elec-1", "electrical-fire-monitor", replace(B1, floor="B1")),
            ("water-1", "water-pressure-sensor", replace(B1, building="B2")),
        ):
            self.add_device(device_id, profile, location)
        self.station_list = [
            FireStation("ST-NEAR", "Near", north_of(31.2, 500), 121.5),
            FireStation("ST-FAR", "Far", north_of(31.2, 2000), 121.5),
        ]

    def add_device(
        self, device_id: str, profile: str, location: Location, grid: str = "G-0301"
    ) -> None:
        self.devices[device_id] = Device(
            device_id, profile, device_id, grid, location, community="C-01", street="S-01"
        )

    def by_id(self, device_id: str) -> Device | None:
        return self.devices.get(device_id)

    def grid(self, code: str) -> Grid | None:
        return self.grids.get(code)

    def ancestors(self, code: str) -> list[Grid]:
        chain, grid = [], self.grids.get(code)
        while grid is not None:
            chain.append(grid)
            grid = self.grids.get(grid.parent) if grid.parent else None
        return chain

    def stations(self) -> list[FireStation]:
        return list(self.station_list)


def smoke(device: str = "smoke-1", at: float = BASE, **kw: Any) -> Alarm:
    return Alarm(
        rule_id=kw.pop("rule_id", "smoke"),
        subject=kw.pop("subject", device),
        device_id=device,
        kind=kw.pop("kind", IncidentKind.FIRE),
        severity=kw.pop("severity", Severity.CRITICAL),
        title=kw.pop("title", f"Smoke at {device}"),
        at=at,
        **kw,
    )


def low_battery(device: str = "smoke-1", at: float = BASE) -> Alarm:
    return Alarm(
        "low-battery", device, device, IncidentKind.LOW_BATTERY, Severity.MINOR, "Low battery", at
    )


def cleared(rule_id: str, subject: str = "smoke-1", at: float = BASE) -> Clear:
    return Clear(rule_id, subject, at)


@dataclass
class World:
    path: Path
    clock: FakeClock
    topology: FakeTopology
    store: SqliteIncidentStore
    service: IncidentService

    async def pending(self, channel: str = "mqtt") -> list[OutboxRow]:
        """Every undelivered row of ``channel``, in order (nothing is waiting for a retry)."""
        return await self.store.due(channel, FAR_FUTURE, 100_000)

    async def payloads(self, channel: str = "mqtt") -> list[dict[str, Any]]:
        return [orjson.loads(r.body) for r in await self.pending(channel)]


@asynccontextmanager
async def open_world(
    tmp_path: Path,
    *,
    config: IncidentConfig | None = None,
    topology: FakeTopology | None = None,
    clock: FakeClock | None = None,
    channels: Mapping[str, frozenset[MessageType]] = DEFAULT_CHANNELS,
) -> AsyncIterator[World]:
    path = tmp_path / "incidents.sqlite3"
    clock = clock or FakeClock()
    topology = topology or FakeTopology()
    store = await SqliteIncidentStore.open(path, channels)
    try:
        service = await IncidentService.open(store, topology, clock=clock, config=config)
        yield World(path, clock, topology, store, service)
    finally:
        await store.close()


def timeline_events(incident: Any) -> list[str]:
    return [e.event for e in incident.timeline]
