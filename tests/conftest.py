"""Shared fixtures: real servers on free loopback ports, and a publisher.

Real-component tests never skip: when a server binary is missing the fixture fails with the
package to install (``scripts/test.sh`` installs them).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.mosquitto import MOSQUITTO, MosquittoServer, start_mosquitto


def _require(binary: str, package: str) -> None:
    if not (shutil.which(binary) or Path(binary).exists() or Path("/usr/sbin", binary).exists()):
        pytest.fail(f"{binary} not found: install the Debian package {package!r} (scripts/test.sh does)")


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoServer]:
    _require(MOSQUITTO, "mosquitto")
    server = start_mosquitto(tmp_path / "mosquitto")
    yield server
    server.stop()
