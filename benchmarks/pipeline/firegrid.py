"""``firegrid run`` as the benchmark runs it: a real process, configured by environment.

Configuration is the shipped default apart from what a test site must set (broker, InfluxDB
v1, data dir, API port, admin token): batch 5000 points, flush every second.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.pipeline.procs import CpuMeter, http_get, http_status, spawn, stop, wait_until
from benchmarks.pipeline.workload import Fleet

TOKEN = "bench-admin-token"


class Firegrid:
    def __init__(
        self,
        source: Path,
        mqtt_url: str,
        influx_url: str,
        db: str,
        data_dir: Path,
        port: int,
        log: Path,
        nice: int = 0,
    ) -> None:
        """``source``: the firegrid tree to run (its ``gateway``, profiles and rules);
        ``nice``: its scheduling priority (``nice -n``), e.g. -10 for the weight the shipped
        systemd unit gives it (``CPUWeight=1000``, ten times the default)."""
        self.source = source
        self.nice = nice
        self.port = port
        self.log = log
        self.env = os.environ | {
            "PYTHONPATH": str(source),
            "FIREGRID_MQTT_URL": mqtt_url,
            "FIREGRID_MQTT_CLIENT_ID": "firegrid-bench",
            "FIREGRID_INFLUX_URL": influx_url,
            "FIREGRID_INFLUX_API": "v1",
            "FIREGRID_INFLUX_DB": db,
            "FIREGRID_DATA_DIR": str(data_dir),
            "FIREGRID_API_PORT": str(port),
            "FIREGRID_ADMIN_TOKEN": TOKEN,
            "FIREGRID_PROFILES_DIR": str(source / "device_profiles"),
            "FIREGRID_RULES_DIR": str(source / "rules"),
        }
        self.proc: subprocess.Popen[str] | None = None
        self.meter: CpuMeter | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 120.0) -> float:
        """Start and wait for ``/healthz`` 200 (API up, MQTT connected, sink running);
        returns the seconds from process start to ready."""
        started = time.perf_counter()
        cmd = [sys.executable, "-c", "from gateway.cli import main; main()", "run"]
        if self.nice:
            cmd = ["nice", "-n", str(self.nice), *cmd]  # nice execs it: the same pid
        self.proc = spawn(cmd, log=self.log, env=self.env, cwd=self.source)
        self.meter = CpuMeter(self.proc.pid)

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                tail = self.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"firegrid run exited with {self.proc.returncode}:\n{tail}")
            return http_status(f"{self.base}/healthz") == 200

        wait_until(ready, timeout, "firegrid run answering /healthz", interval=0.02)
        return time.perf_counter() - started

    def imports(self) -> dict[str, str]:
        """What ``firegrid run`` will import (checked, not assumed): where ``gateway`` comes
        from, and whether its hot path is compiled (``gateway.compiled``; "unknown" before
        that module existed)."""
        probe = (
            "import gateway; print(gateway.__file__)\n"
            "try:\n    import gateway.compiled as c; print(c.hot_path())\n"
            "except ImportError:\n    print('unknown')"
        )
        cmd = [sys.executable, "-c", probe]
        out = subprocess.run(cmd, env=self.env, cwd=self.source, capture_output=True, text=True)
        lines = out.stdout.split()
        return {"imported_from": lines[0] if lines else "", "hot_path": lines[-1] if lines else ""}

    def stop(self) -> int | None:
        code = stop(self.proc, grace=60) if self.proc is not None else None
        self.proc = None
        return code

    def metrics_text(self) -> str:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        return http_get(f"{self.base}/metrics", headers, timeout=60)

    def buckets(self, name: str) -> dict[float, float]:
        """A histogram's cumulative bucket counts by upper bound, summed over labels."""
        counts: dict[float, float] = {}
        for line in self.metrics_text().splitlines():
            if line.startswith(name + "_bucket{"):
                le = line.split('le="', 1)[1].split('"', 1)[0]
                bound = float("inf") if le == "+Inf" else float(le)
                counts[bound] = counts.get(bound, 0.0) + float(line.rsplit(" ", 1)[1])
        return counts

    def metric(self, name: str) -> float:
        """A sample from ``/metrics`` (summed over labels), 0 when absent."""
        text = self.metrics_text()
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def received(self) -> int:
        return int(self.metric("firegrid_messages_received_total"))

    def register(self, fleet: Fleet) -> int:
        """People, stations, the grid map (GeoJSON) and every device (CSV import), over REST
        the way ``firegrid simulate`` installs a district; returns devices created."""
        from gateway.sim.bulk import install_bulk
        from gateway.sim.installer import api_client

        async def go() -> int:
            async with api_client(f"http://127.0.0.1:{self.port}", TOKEN, 120.0) as client:
                tally = await install_bulk(client, fleet.district, fleet.devices)
            return tally.created

        return asyncio.run(go())
