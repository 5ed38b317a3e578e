"""The peer: the same workload through a Node-RED 4 flow writing with node-red-contrib-influxdb.

MQTT in (QoS 1, one node per firegrid topic) → a function node doing firegrid's decode from the
same device profiles and registry (``node_red/decode.js``) and batching 5000 points or 1 s →
the ``influxdb batch`` node (InfluxDB 1.x, its own database). A probe path
(``bench/probe`` → ``bench/probe/ack``) tells the benchmark the flow is subscribed.

Node-RED is installed with ``npm ci`` from the pinned ``node_red/package*.json`` into
``benchmarks/.node-red/`` (gitignored), once; later runs reuse it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from benchmarks.pipeline.procs import REPO, CpuMeter, spawn, stop
from benchmarks.pipeline.workload import Fleet, registry_json

HERE = Path(__file__).resolve().parent / "node_red"
INSTALL_DIR = REPO / "benchmarks" / ".node-red"
TOPICS = ("devices/+/up", "zigbee2mqtt/+", "patrol/+/scan", "nbiot/+/up")


def _installed_versions() -> dict[str, str]:
    found = {}
    for name in json.loads((HERE / "package.json").read_text())["dependencies"]:
        manifest = INSTALL_DIR / "node_modules" / name / "package.json"
        if manifest.exists():
            found[name] = json.loads(manifest.read_text())["version"]
    return found


def is_installed() -> bool:
    wanted = json.loads((HERE / "package.json").read_text())["dependencies"]
    return bool(_installed_versions() == wanted)


def ensure_installed(timeout: float = 300.0) -> float:
    """``npm ci`` the pinned Node-RED unless it is there; returns the seconds it took (0)."""
    if is_installed():
        return 0.0
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm not found: Node.js 20+ with npm is needed for the Node-RED peer")
    INSTALL_DIR.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy(HERE / name, INSTALL_DIR / name)
    started = time.perf_counter()
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=INSTALL_DIR,
        check=True,
        timeout=timeout,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def versions() -> dict[str, str]:
    return _installed_versions()


def _function_code() -> dict[str, str]:
    """``decode.js`` split into the function node's On Start / On Message / On Stop parts."""
    text = (HERE / "decode.js").read_text()
    parts: dict[str, list[str]] = {"header": [], "initialize": [], "func": [], "finalize": []}
    current = "header"
    for line in text.splitlines():
        if line.startswith("// ---- "):
            current = line.split()[2]
            continue
        parts[current].append(line)
    return {k: "\n".join(v).strip() + "\n" for k, v in parts.items() if k != "header"}


def flow(mqtt_port: int, influx_host: str, influx_port: int, db: str) -> list[dict[str, Any]]:
    code = _function_code()
    tab, broker, influx, fn, out = "bench-tab", "bench-broker", "bench-influx", "decode", "write"
    nodes: list[dict[str, Any]] = [
        {"id": tab, "type": "tab", "label": "firegrid benchmark peer"},
        {
            "id": broker,
            "type": "mqtt-broker",
            "name": "mosquitto",
            "broker": "127.0.0.1",
            "port": str(mqtt_port),
            "clientid": f"node-red-bench-{uuid.uuid4().hex[:6]}",
            "autoConnect": True,
            "usetls": False,
            "protocolVersion": "4",
            "keepalive": "60",
            "cleansession": False,
            "autoUnsubscribe": True,
        },
        {
            "id": influx,
            "type": "influxdb",
            "hostname": influx_host,
            "port": str(influx_port),
            "protocol": "http",
            "database": db,
            "name": "influxdb 1.x",
            "usetls": False,
            "influxdbVersion": "1.x",
        },
        {
            "id": fn,
            "type": "function",
            "z": tab,
            "name": "decode + batch",
            "func": code["func"],
            "initialize": code["initialize"],
            "finalize": code["finalize"],
            "outputs": 1,
            "wires": [[out]],
        },
        {
            "id": out,
            "type": "influxdb batch",
            "z": tab,
            "influxdb": influx,
            "precision": "u",
            "retentionPolicy": "",
            "name": "write",
            "wires": [],
        },
        {
            "id": "probe-in",
            "type": "mqtt in",
            "z": tab,
            "topic": "bench/probe",
            "qos": "1",
            "datatype": "buffer",
            "broker": broker,
            "wires": [["probe-out"]],
        },
        {
            "id": "probe-out",
            "type": "mqtt out",
            "z": tab,
            "topic": "bench/probe/ack",
            "qos": "1",
            "retain": "false",
            "broker": broker,
            "wires": [],
        },
    ]
    for i, topic in enumerate(TOPICS):
        nodes.append(
            {
                "id": f"in-{i}",
                "type": "mqtt in",
                "z": tab,
                "topic": topic,
                "qos": "1",
                "datatype": "buffer",
                "broker": broker,
                "wires": [[fn]],
            }
        )
    # Node-RED takes a node without a position for a configuration node.
    for i, node in enumerate(nodes):
        if "z" in node:
            node |= {"x": 200 + 200 * (i % 3), "y": 60 + 60 * i}
    return nodes


_SETTINGS = """\
module.exports = {{
    uiHost: "127.0.0.1",
    uiPort: {ui_port},
    userDir: {user_dir},
    flowFile: {flow_file},
    credentialSecret: false,
    httpAdminRoot: false,
    httpNodeRoot: false,
    diagnostics: {{ enabled: false }},
    runtimeState: {{ enabled: false }},
    telemetry: {{ enabled: false }},
    externalModules: {{ autoInstall: false }},
    logging: {{ console: {{ level: "info", metrics: false, audit: false }} }},
    functionGlobalContext: {{
        profiles: require({profiles}),
        registry: require({registry}),
    }},
}};
"""


class NodeRed:
    """``node red.js`` with a generated settings file and flow; ``start()`` … ``stop()``."""

    def __init__(
        self, workdir: Path, fleet: Fleet, mqtt_port: int, influx_url: str, db: str, ui_port: int
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.log = workdir / "node-red.log"
        host, port = influx_url.removeprefix("http://").rsplit(":", 1)
        (workdir / "flows.json").write_text(json.dumps(flow(mqtt_port, host, int(port), db)))
        profiles = {n: p.model_dump(mode="json") for n, p in fleet.profiles.items()}
        (workdir / "profiles.json").write_bytes(orjson.dumps(profiles))
        (workdir / "registry.json").write_bytes(registry_json(fleet))
        settings = _SETTINGS.format(
            ui_port=ui_port,
            user_dir=json.dumps(str(INSTALL_DIR)),
            flow_file=json.dumps(str(workdir / "flows.json")),
            profiles=json.dumps(str(workdir / "profiles.json")),
            registry=json.dumps(str(workdir / "registry.json")),
        )
        self.settings = workdir / "settings.js"
        self.settings.write_text(settings)
        self.proc: subprocess.Popen[str] | None = None
        self.meter: CpuMeter | None = None

    def start(self) -> None:
        node = shutil.which("node") or "node"
        red = INSTALL_DIR / "node_modules" / "node-red" / "red.js"
        cmd = [node, str(red), "--settings", str(self.settings), "--userDir", str(INSTALL_DIR)]
        self.proc = spawn(cmd, log=self.log, cwd=INSTALL_DIR)
        self.meter = CpuMeter(self.proc.pid)

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"Node-RED exited with {self.proc.returncode}:\n{tail}")

    def errors(self) -> list[str]:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return [line for line in text.splitlines() if "[error]" in line][:20]

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None
