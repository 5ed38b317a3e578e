"""A real InfluxDB 1.x (Debian package ``influxdb``) on free loopback ports, in its own dirs.

influxd also binds an RPC port (8088 by default) for backups: each instance gets its own
top-level ``bind-address`` so two test runs (or a system influxd) never collide.
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

from tests.servers.ports import free_port, start_process, stop_process

INFLUXD = shutil.which("influxd") or "/usr/bin/influxd"

_CONFIG = """\
reporting-enabled = false
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{dir}/meta"

[data]
  dir = "{dir}/data"
  wal-dir = "{dir}/wal"
  query-log-enabled = false

[monitor]
  store-enabled = false

[http]
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = false

[logging]
  suppress-logo = true
"""


@dataclass
class InfluxServer:
    url: str
    workdir: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def log_path(self) -> Path:
        return self.workdir / "influxd.log"

    def query(self, q: str, db: str | None = None) -> list[dict[str, Any]]:
        """Run InfluxQL; one dict per row: the columns, the series' tags and ``_measurement``.

        Raises on an error in the answer, so a typo in a test query fails loudly.
        """
        params = {"q": q, "epoch": "u"} | ({"db": db} if db else {})
        body = urllib.parse.urlencode(params).encode()
        with urllib.request.urlopen(f"{self.url}/query", data=body, timeout=10) as resp:
            answer = json.load(resp)
        rows: list[dict[str, Any]] = []
        for result in answer.get("results", []):
            if "error" in result:
                raise RuntimeError(f"InfluxQL {q!r}: {result['error']}")
            for series in result.get("series", []):
                base = {"_measurement": series.get("name"), **series.get("tags", {})}
                columns = series["columns"]
                rows += [base | dict(zip(columns, v, strict=True)) for v in series["values"]]
        return rows

    def create_database(self, name: str) -> None:
        self.query(f'CREATE DATABASE "{name}"')

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    def restart(self) -> None:
        """Start again on the same ports and data (after :meth:`stop`, for outage drills)."""
        self.stop()
        conf = self.workdir / "influxdb.conf"
        self.proc = start_process(
            [INFLUXD, "run", "-config", str(conf)], self.log_path, f"{self.url}/ping"
        )


def start_influxdb(workdir: Path, attempts: int = 3) -> InfluxServer:
    """Start influxd in ``workdir``; retried on fresh ports if a free one was taken meanwhile."""
    workdir.mkdir(parents=True, exist_ok=True)
    for _ in range(attempts - 1):
        with contextlib.suppress(RuntimeError):
            return _start_once(workdir)
    return _start_once(workdir)


def _start_once(workdir: Path) -> InfluxServer:
    http_port, rpc_port = free_port(), free_port()
    conf = workdir / "influxdb.conf"
    conf.write_text(_CONFIG.format(dir=workdir, http_port=http_port, rpc_port=rpc_port))
    server = InfluxServer(f"http://127.0.0.1:{http_port}", workdir)
    server.proc = start_process(
        [INFLUXD, "run", "-config", str(conf)], server.log_path, f"{server.url}/ping"
    )
    return server
