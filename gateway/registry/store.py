"""The installer registry: grids, grid workers (网格员), micro fire stations (微型消防站), devices.

Everything is read from memory — ``by_id``/``by_external_id`` are dict lookups for the ingest
hot path — and every change is written to the store first, then applied to memory, under one
lock, so memory never holds what the store refused.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import (
    AsyncIterator,
    Callable,
    Collection,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager
from pathlib import Path

from gateway.model import Device, FireStation, Grid, GridLevel, GridWorker
from gateway.profiles import DeviceProfile
from gateway.registry.devices import DeviceDraft, Known, check_batch, entry_number
from gateway.registry.errors import (
    ConflictError,
    InvalidError,
    NotFoundError,
    Problem,
    raise_for,
)
from gateway.registry.geo import GridMap, polygon_from_geojson
from gateway.registry.grids import GridRecord, ancestors, check_import, community_and_street
from gateway.registry.repository import RegistryStore
from gateway.registry.sqlite import SqliteStore
from gateway.tracker import DeviceState

log = logging.getLogger(__name__)


class Registry:
    """Open with :meth:`open` (or :func:`open_registry`); close with :meth:`close`."""

    def __init__(self, store: RegistryStore, profiles: Mapping[str, DeviceProfile]) -> None:
        self._store = store
        self._profiles = profiles
        self._lock = asyncio.Lock()
        self._grids: dict[str, GridRecord] = {}
        self._map = GridMap([])
        self._workers: dict[str, GridWorker] = {}
        self._stations: dict[str, FireStation] = {}
        self._by_id: dict[str, Device] = {}
        self._fleet: tuple[Device, ...] | None = None  # see fleet(); None: made on next ask
        self._by_external_id: dict[str, Device] = {}

    @classmethod
    async def open(
        cls, source: Path | RegistryStore, profiles: Mapping[str, DeviceProfile]
    ) -> Registry:
        """Load everything into memory; ``source`` is a SQLite file path or any store."""
        store = await SqliteStore.open(source) if isinstance(source, Path) else source
        registry = cls(store, profiles)
        try:
            await registry._load()
        except BaseException:
            await store.close()
            raise
        return registry

    async def close(self) -> None:
        await self._store.close()

    async def _load(self) -> None:
        self._set_grids({r.grid.code: r for r in await self._store.load_grids()})
        self._workers = {w.id: w for w in await self._store.load_workers()}
        self._stations = {s.id: s for s in await self._store.load_stations()}
        above: dict[str, tuple[str, str]] = {}  # grid → (community, street), once per grid

        def ladder(grid: str) -> tuple[str, str]:
            found = above.get(grid)
            if found is None:
                found = above[grid] = community_and_street(grid, self._grids)
            return found

        for device in await self._store.load_devices(ladder):
            if device.profile not in self._profiles:
                # Kept in the store: it comes back when its profile file does.
                log.warning(
                    "device %s: profile %s is not loaded; ignoring it", device.id, device.profile
                )
                continue
            self._index(device)

    # -- the ingest hot path ---------------------------------------------------------------

    def by_id(self, device_id: str) -> Device | None:
        return self._by_id.get(device_id)

    def by_external_id(self, key: str) -> Device | None:
        return self._by_external_id.get(key)

    def index(self) -> tuple[dict[str, Device], dict[str, Device]]:
        """The live dicts by id and by external id, for the pipeline to read directly (a
        lookup from compiled code, no Python call). Kept current in place, never rebound:
        read them, never change them."""
        return self._by_id, self._by_external_id

    # -- reads -------------------------------------------------------------------------------

    def devices(self) -> list[Device]:
        """Sorted by id (listings); see :meth:`all_devices` for a sweep."""
        return sorted(self._by_id.values(), key=lambda d: d.id)

    def all_devices(self) -> Collection[Device]:
        """A live unordered view: copy it before awaiting anything while walking it."""
        return self._by_id.values()

    def fleet(self) -> tuple[Device, ...]:
        """Every registered device, unordered: the same tuple until the registry changes.

        For the passes over the whole fleet (liveness sweeps, rule ticks) that walk it in steps
        across awaits. A list copied per pass was 100k references the cycle collector walked
        again in each young collection while it lived (~100k cache misses each, 20-40 ms on a
        slow CPU, alarms waiting); a tuple kept until a device is added or deleted is frozen
        out of the collector's sight with the rest of what the gateway keeps (gateway.heap)."""
        if self._fleet is None:
            self._fleet = tuple(self._by_id.values())
        return self._fleet

    def grid(self, code: str) -> Grid | None:
        record = self._grids.get(code)
        return None if record is None else record.grid

    def grids(self) -> list[GridRecord]:
        return sorted(self._grids.values(), key=lambda r: r.grid.code)

    def ancestors(self, code: str) -> list[Grid]:
        """The unit and each one above it: the escalation ladder 网格 → 社区 → 街道 → 区."""
        return ancestors(code, self._grids)

    def locate(self, lat: float, lon: float) -> str | None:
        """The code of the base grid (网格) covering a point, if any."""
        return self._map.locate(lat, lon)

    def worker(self, worker_id: str) -> GridWorker | None:
        return self._workers.get(worker_id)

    def workers(self) -> list[GridWorker]:
        return sorted(self._workers.values(), key=lambda w: w.id)

    def station(self, station_id: str) -> FireStation | None:
        return self._stations.get(station_id)

    def stations(self) -> list[FireStation]:
        return sorted(self._stations.values(), key=lambda s: s.id)

    # -- changes -----------------------------------------------------------------------------

    async def import_grids(self, records: Sequence[GridRecord]) -> tuple[int, int]:
        """Add or update units of the hierarchy; returns (created, updated). InvalidError.

        Devices keep the grid they were registered in: a redrawn boundary moves none of them
        (a device is re-homed by deleting and adding it), but a unit moved under a new parent
        changes the community/street tags of the devices beneath at once.
        """
        async with self._lock:
            held = Counter(d.grid for d in self._by_id.values())
            problems = check_import(records, self._grids, held)
            if problems:
                raise InvalidError(problems)
            await self._store.upsert_grids(records)
            created = sum(r.grid.code not in self._grids for r in records)
            self._set_grids({**self._grids, **{r.grid.code: r for r in records}})
            for device in list(self._by_id.values()):
                self._index(self._derive(device))
        return created, len(records) - created

    async def add_worker(self, worker: GridWorker) -> None:
        async with self._lock:
            if worker.id in self._workers:
                raise ConflictError(f"worker {worker.id} already exists")
            await self._store.insert_worker(worker)
            self._workers[worker.id] = worker

    async def add_station(self, station: FireStation) -> None:
        async with self._lock:
            if station.id in self._stations:
                raise ConflictError(f"station {station.id} already exists")
            await self._store.insert_station(station)
            self._stations[station.id] = station

    async def add_device(self, draft: DeviceDraft) -> Device:
        """ConflictError when the id or external id is taken, InvalidError for anything else."""
        try:
            return (await self.add_devices([draft]))[0]
        except InvalidError as exc:
            raise_for(exc.problems)
            raise

    async def add_devices(
        self, drafts: Sequence[DeviceDraft], name_entry: Callable[[int], str] = entry_number
    ) -> list[Device]:
        """All or nothing: every draft is checked, then all are stored in one transaction.

        InvalidError lists every problem of every draft (``Problem.item`` is its index).
        """
        async with self._lock:
            devices, problems = check_batch(drafts, self._known(), name_entry)
            if problems:
                raise InvalidError(problems)
            await self._store.insert_devices(devices)
            for device in devices:
                self._index(device)
        return devices

    def check_devices(
        self, drafts: Sequence[DeviceDraft], name_entry: Callable[[int], str] = entry_number
    ) -> list[Problem]:
        """The problems :meth:`add_devices` would refuse ``drafts`` for; nothing is changed."""
        return check_batch(drafts, self._known(), name_entry)[1]

    async def replace_device(self, device_id: str, draft: DeviceDraft) -> Device:
        """A new registration for a device already registered: moved, renamed, re-thresholded.

        Checked as a registration is (the device clashes with every device but itself); its
        saved state stays, and so does everything keyed by its id (incidents, readings).
        NotFoundError, ConflictError (an external id taken; another profile: that is another
        physical device), InvalidError.
        """
        async with self._lock:
            old = self._by_id.get(device_id)
            if old is None:
                raise NotFoundError(f"no device {device_id}")
            if draft.id != device_id:
                raise InvalidError([Problem(("id",), f"the id is {device_id}, not {draft.id}")])
            if draft.profile != old.profile:
                raise ConflictError(
                    f"device {device_id} is a {old.profile}, not a {draft.profile}: another"
                    " model is another physical device; delete this one and register the"
                    " replacement"
                )
            devices, problems = check_batch([draft], self._known(without=old))
            raise_for(problems)
            [device] = devices
            if not await self._store.replace_device(device):
                raise NotFoundError(f"no device {device_id}")
            if old.external_id is not None:
                del self._by_external_id[old.external_id]
            self._index(device)
        return device

    async def delete_device(self, device_id: str) -> Device:
        async with self._lock:
            device = self._by_id.get(device_id)
            if device is None:
                raise NotFoundError(f"no device {device_id}")
            await self._store.delete_device(device_id)
            del self._by_id[device_id]
            self._fleet = None
            if device.external_id is not None:
                self._by_external_id.pop(device.external_id, None)
        return device

    # -- liveness across restarts ---------------------------------------------------------

    async def save_states(self, items: Iterable[tuple[str, DeviceState]]) -> None:
        """Persist :class:`DeviceState` (e.g. ``tracker.items()``) of registered devices."""
        known = [(device_id, state) for device_id, state in items if device_id in self._by_id]
        await self._store.save_states(known)

    async def load_states(self) -> dict[str, DeviceState]:
        """Keyed by the registry's own id strings where the device is registered: the ids read
        back with the states would otherwise be a second copy of every id (~60 bytes each)."""
        return {self.own_id(i): state for i, state in (await self._store.load_states()).items()}

    # -- internals -------------------------------------------------------------------------

    def _known(self, without: Device | None = None) -> Known:
        """What a draft is checked against; ``without``: a device being replaced, which may
        keep its own id and external id."""
        by_id: Mapping[str, Device] = self._by_id
        by_external_id: Mapping[str, Device] = self._by_external_id
        if without is not None:
            by_id = _Except(by_id, without.id)
            by_external_id = _Except(by_external_id, without.external_id)
        return Known(self._profiles, self._grids, by_id, by_external_id, self.locate)

    def _set_grids(self, grids: dict[str, GridRecord]) -> None:
        self._grids = grids
        self._map = GridMap(
            (code, polygon_from_geojson(r.geometry))
            for code, r in grids.items()
            if r.grid.level is GridLevel.GRID and r.geometry is not None
        )

    def _derive(self, device: Device) -> Device:
        community, street = community_and_street(device.grid, self._grids)
        return device.replace(community=community, street=street)

    def own_id(self, device_id: str) -> str:
        """The registry's own string for a registered device's id (else ``device_id``): state
        read back from disk keyed by it holds no second copy of every id."""
        device = self._by_id.get(device_id)
        return device_id if device is None else device.id

    def _index(self, device: Device) -> None:
        self._by_id[device.id] = device
        self._fleet = None
        if device.external_id is not None:
            self._by_external_id[device.external_id] = device


class _Except(Mapping[str, Device]):
    """A mapping without one key, with no copy of 100k devices made for it."""

    def __init__(self, mapping: Mapping[str, Device], key: str | None) -> None:
        self._mapping = mapping
        self._key = key

    def __getitem__(self, key: str) -> Device:
        if key == self._key:
            raise KeyError(key)
        return self._mapping[key]

    def __iter__(self) -> Iterator[str]:
        return (key for key in self._mapping if key != self._key)

    def __len__(self) -> int:
        return len(self._mapping) - (self._key in self._mapping)


@asynccontextmanager
async def open_registry(
    path: Path, profiles: Mapping[str, DeviceProfile]
) -> AsyncIterator[Registry]:
    """``async with open_registry(data_dir / "registry.sqlite3", profiles) as registry:``"""
    registry = await Registry.open(path, profiles)
    try:
        yield registry
    finally:
        await registry.close()
