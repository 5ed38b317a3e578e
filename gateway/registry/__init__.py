"""The installer registry: grids, grid workers (网格员), micro fire stations (微型消防站), devices.

Open it with :func:`open_registry` (SQLite) or :meth:`Registry.open` over any
:class:`RegistryStore`. The ingest hot path calls ``by_id`` / ``by_external_id``.
"""

from gateway.registry.csv_import import CsvImportError, LineProblem, import_devices_csv
from gateway.registry.devices import DeviceDraft
from gateway.registry.errors import (
    ConflictError,
    InvalidError,
    NotFoundError,
    Problem,
    RegistryError,
)
from gateway.registry.grids import GridRecord
from gateway.registry.repository import RegistryStore
from gateway.registry.sqlite import SqliteStore
from gateway.registry.store import Registry, open_registry

__all__ = [
    "ConflictError",
    "CsvImportError",
    "DeviceDraft",
    "GridRecord",
    "InvalidError",
    "LineProblem",
    "NotFoundError",
    "Problem",
    "Registry",
    "RegistryError",
    "RegistryStore",
    "SqliteStore",
    "import_devices_csv",
    "open_registry",
]
