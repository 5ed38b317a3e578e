"""A real VictoriaMetrics (Debian package ``victoria-metrics``) on a free loopback port.

It accepts InfluxDB line protocol on both ``/write`` (v1) and ``/api/v2/write`` (v2; org and
bucket are ignored), so the influxdb-client v2 path is tested against it. Each field becomes a
series ``{measurement}_{field}`` whose labels are the tags; ``/write?db=`` adds a ``db`` label.

Reading back: ingested rows sit in memory buffers for up to a second before they are
searchable; ``/internal/force_flush`` makes them searchable now, and ``export`` calls it first.
``/api/v1/export`` reads raw samples, so ``-search.latencyOffset`` (which hides the last 30 s
from ``/api/v1/query``) does not apply to it; it is set to 0 anyway, and the response cache
off, for tests that query. Samples outside ``-retentionPeriod`` are silently dropped at
ingestion, so the retention is a century: tests may use fixed timestamps.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.servers.ports import free_port, start_process, stop_process, wait_until

VICTORIA = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"


@dataclass
class VictoriaServer:
    url: str
    workdir: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def log_path(self) -> Path:
        return self.workdir / "victoria-metrics.log"

    def force_flush(self) -> None:
        with urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=10):
            pass

    def export(self, match: str) -> list[dict[str, Any]]:
        """Every series matching the selector, e.g. ``{__name__=~"smoke_.*"}``, as exported.

        Each item: ``{"metric": {"__name__": ..., label: value}, "values": [...],
        "timestamps": [ms, ...]}``.
        """
        self.force_flush()
        query = urllib.parse.urlencode({"match[]": match, "start": "0"})
        with urllib.request.urlopen(f"{self.url}/api/v1/export?{query}", timeout=10) as resp:
            return [json.loads(line) for line in resp.read().splitlines() if line.strip()]

    def export_until(self, match: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """``export(match)`` once it holds at least ``count`` series (points arrive async)."""

        def enough() -> list[dict[str, Any]]:
            series = self.export(match)
            return series if len(series) >= count else []

        return wait_until(enough, timeout, f"{count} series matching {match}", interval=0.1)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None


def start_victoria(workdir: Path, attempts: int = 3) -> VictoriaServer:
    """Start VictoriaMetrics in ``workdir``; retried on a fresh port if the free one was taken."""
    workdir.mkdir(parents=True, exist_ok=True)
    for _ in range(attempts - 1):
        with contextlib.suppress(RuntimeError):
            return _start_once(workdir)
    return _start_once(workdir)


def _start_once(workdir: Path) -> VictoriaServer:
    port = free_port()
    server = VictoriaServer(f"http://127.0.0.1:{port}", workdir)
    cmd = [
        VICTORIA,
        f"-storageDataPath={workdir / 'data'}",
        f"-httpListenAddr=127.0.0.1:{port}",
        "-retentionPeriod=100y",
        "-search.latencyOffset=0s",
        "-search.disableCache",
    ]
    server.proc = start_process(cmd, server.log_path, f"{server.url}/health")
    return server
