"""Registers a district-scale fleet the way an installer rolls one out: people, stations and
the grid map one by one (hundreds), devices as CSV files through ``POST /devices/import``
(thousands), in batches. Devices already registered (a second run) are left out of the files.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

import httpx

from gateway.sim.district import District
from gateway.sim.fleet import SimDevice
from gateway.sim.installer import Installed, RegistrationError, _post, _post_all

BATCH = 2000  # rows per CSV file
PAGE = 10_000  # GET /devices limit
COLUMNS = ("id", "profile", "name", "external_id", "address", "building", "floor", "lat", "lon")


def devices_csv(devices: Iterable[SimDevice]) -> bytes:
    """The import file for ``devices``, with their grids (``csv_import`` columns)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow((*COLUMNS, "grid"))
    for d in devices:
        loc = d.location
        cells = [d.id, d.profile, d.name, d.external_id, loc.address, loc.building, loc.floor]
        writer.writerow(["" if c is None else c for c in [*cells, loc.lat, loc.lon, d.grid]])
    return out.getvalue().encode()


async def registered_ids(client: httpx.AsyncClient) -> set[str]:
    found: set[str] = set()
    offset = 0
    while True:
        response = await client.get("/devices", params={"limit": PAGE, "offset": offset})
        if not response.is_success:
            raise RegistrationError(f"GET /devices answered {response.status_code}")
        page = response.json()
        found |= {str(d["id"]) for d in page}
        if len(page) < PAGE:
            return found
        offset += PAGE


async def import_devices(
    client: httpx.AsyncClient, fleet: list[SimDevice], tally: Installed
) -> None:
    known = await registered_ids(client)
    fresh = [d for d in fleet if d.id not in known]
    tally.existing += len(fleet) - len(fresh)
    for start in range(0, len(fresh), BATCH):
        body = devices_csv(fresh[start : start + BATCH])
        response = await client.post(
            "/devices/import", content=body, headers={"Content-Type": "text/csv"}
        )
        if not response.is_success:
            raise RegistrationError(
                f"POST /devices/import answered {response.status_code}: {response.text[:500]}"
            )
        tally.created += int(response.json()["imported"])


async def install_bulk(
    client: httpx.AsyncClient, district: District, fleet: list[SimDevice], concurrency: int = 16
) -> Installed:
    """People and stations, then the grid map, then every device by CSV; what was new."""
    tally = Installed()
    people = [{"id": p.id, "name": p.name, "phone": p.phone} for p in district.people]
    stations = [
        {"id": s.id, "name": s.name, "phone": s.phone, "lat": s.lat, "lon": s.lon}
        for s in district.stations
    ]
    await _post_all(client, "/workers", people, tally, concurrency)
    await _post_all(client, "/stations", stations, tally, concurrency)
    await _post(client, "/grids", district.feature_collection(), tally)
    await import_devices(client, fleet, tally)
    return tally
