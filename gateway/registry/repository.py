"""The registry's persistence, as a small interface: SQLite now, PostgreSQL when replicas share it.

A store only keeps and returns rows. Checking (profiles, grids, uniqueness), the in-memory
index and the derived ``community``/``street`` of a device live in
:class:`~gateway.registry.store.Registry`, so a new store repeats none of that.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from gateway.model import Device, FireStation, GridWorker
from gateway.registry.grids import GridRecord
from gateway.tracker import DeviceState


class RegistryStore(Protocol):
    async def load_grids(self) -> list[GridRecord]: ...

    async def upsert_grids(self, records: Sequence[GridRecord]) -> None:
        """Insert or replace by code, all in one transaction."""

    async def load_workers(self) -> list[GridWorker]: ...

    async def insert_worker(self, worker: GridWorker) -> None:
        """Raises ConflictError when the id is taken."""

    async def load_stations(self) -> list[FireStation]: ...

    async def insert_station(self, station: FireStation) -> None:
        """Raises ConflictError when the id is taken."""

    async def load_devices(
        self, ladder: Callable[[str], tuple[str, str]] | None = None
    ) -> list[Device]:
        """Devices as stored, with ``community``/``street`` from ``ladder(grid)`` (the registry
        derives them; empty without it)."""

    async def insert_devices(self, devices: Sequence[Device]) -> None:
        """All or nothing, in one transaction; ConflictError when an id or external id is taken."""

    async def replace_device(self, device: Device) -> bool:
        """Replace the registration of ``device.id`` in one transaction, its saved state kept;
        ConflictError when the external id is taken; False when there was no such device."""

    async def delete_device(self, device_id: str) -> bool:
        """Remove the device and its saved state; False when there was no such device."""

    async def save_states(self, states: Iterable[tuple[str, DeviceState]]) -> None:
        """Replace the saved liveness of the given devices."""

    async def load_states(self) -> dict[str, DeviceState]: ...

    async def close(self) -> None: ...
