"""Registers a simulated district through the REST API, the way an installer would.

Order matters only as the field does it: the people and stations first, then the grid map that
names the workers and leaders, then the devices placed in those grids. Registering again is
harmless: what already exists (409) is counted and left alone, and the map is an upsert.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from gateway.sim.district import District
from gateway.sim.fleet import SimDevice


class RegistrationError(RuntimeError):
    """The gateway refused something the simulator tried to register."""


@dataclass(slots=True)
class Installed:
    created: int = 0
    existing: int = 0


def api_client(base_url: str, token: str, timeout_s: float = 10.0) -> httpx.AsyncClient:
    """A client for ``{base_url}/api/v1`` carrying the bearer token."""
    return httpx.AsyncClient(
        base_url=base_url.rstrip("/") + "/api/v1",
        headers={"Authorization": f"Bearer {token}"},
        timeout=timeout_s,
    )


async def _post(client: httpx.AsyncClient, path: str, body: Any, tally: Installed) -> None:
    response = await client.post(path, json=body)
    if response.status_code == httpx.codes.CONFLICT:
        tally.existing += 1
        return
    if not response.is_success:
        raise RegistrationError(
            f"POST {path} answered {response.status_code}: {response.text[:500]}"
        )
    if path == "/grids":  # an upsert: it says how many units were new
        answer = response.json()
        tally.created += int(answer["created"])
        tally.existing += int(answer["updated"])
    else:
        tally.created += 1


async def _post_all(
    client: httpx.AsyncClient, path: str, bodies: Iterable[Any], tally: Installed, limit: int
) -> None:
    # Bounded concurrency: a district of thousands of devices must not open thousands of requests.
    gate = asyncio.Semaphore(limit)

    async def one(body: Any) -> None:
        async with gate:
            await _post(client, path, body, tally)

    await asyncio.gather(*(one(body) for body in bodies))


async def install(
    client: httpx.AsyncClient, district: District, fleet: list[SimDevice], concurrency: int = 8
) -> Installed:
    """Register people, stations, the grid map and every device; return what was new."""
    tally = Installed()
    people = [{"id": p.id, "name": p.name, "phone": p.phone} for p in district.people]
    stations = [
        {"id": s.id, "name": s.name, "phone": s.phone, "lat": s.lat, "lon": s.lon}
        for s in district.stations
    ]
    await _post_all(client, "/workers", people, tally, concurrency)
    await _post_all(client, "/stations", stations, tally, concurrency)
    await _post(client, "/grids", district.feature_collection(), tally)
    await _post_all(client, "/devices", (d.registration() for d in fleet), tally, concurrency)
    return tally
