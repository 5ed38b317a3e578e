"""Shared fixtures: real servers on free loopback ports, and a publisher.

Real-component tests never skip: when a server binary is missing the fixture fails with the
package to install (``scripts/test.sh`` installs them).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.influxdb import INFLUXD, InfluxServer, start_influxdb
from tests.servers.mosquitto import MOSQUITTO, MosquittoServer, start_mosquitto
from tests.servers.victoria import VICTORIA, VictoriaServer, start_victoria


def _require(binary: str, package: str) -> None:
    if not (shutil.which(binary) or Path(binary).exists() or Path("/usr/sbin", binary).exists()):
        pytest.fail(
            f"{binary} not found: install the Debian package {package!r} (scripts/test.sh does)"
        )


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoServer]:
    _require(MOSQUITTO, "mosquitto")
    server = start_mosquitto(tmp_path / "mosquitto")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    """One influxd 1.x for the session; each test writes to a database of its own."""
    _require(INFLUXD, "influxdb")
    server = start_influxdb(tmp_path_factory.mktemp("influxdb"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def victoria(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaServer]:
    """VictoriaMetrics, which accepts the InfluxDB v2 write API (read back via /api/v1/export)."""
    _require(VICTORIA, "victoria-metrics")
    server = start_victoria(tmp_path_factory.mktemp("victoria"))
    yield server
    server.stop()
