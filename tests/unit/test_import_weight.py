"""What the gateway process loads: only what its configuration needs.

``firegrid run`` with the default configuration (no grid platform, no routing file) must not
load the HTTP client, apprise or the other commands' terminal UI, MQTT simulator and Grafana
SDK: every gateway process would carry them (~13 MiB of RSS) for nothing. Each check runs in
a fresh interpreter, since this test process has imported everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# httpx (which loads rich and pygments) for the platform connector and the people channels,
# apprise for the people channels; amqtt, gmqtt and the Grafana SDK for `firegrid demo`,
# `simulate` and `dashboards`; numpy and shapely never (the grid map is plain Python), nor
# websockets (no route speaks WebSocket); aiohttp only with an InfluxDB to write to.
LAZY = (
    "apprise",
    "httpx",
    "rich",
    "pygments",
    "amqtt",
    "gmqtt",
    "grafana_foundation_sdk",
    "numpy",
    "shapely",
    "websockets",
    "aiohttp",
)

REPORT = f"print(json.dumps(sorted(m for m in {LAZY!r} if m in sys.modules)))"


def _loaded(code: str, *args: str) -> list[str]:
    """Which of :data:`LAZY` a fresh interpreter has loaded after running ``code``."""
    script = f"import json, sys\n{code}\n{REPORT}\n"
    done = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout.splitlines()[-1])
    return loaded


def test_the_gateway_and_its_command_line_import_none_of_them() -> None:
    assert _loaded("import gateway.cli, gateway.app") == []


def test_a_gateway_started_with_the_default_configuration_loads_none_of_them(
    tmp_path: Path,
) -> None:
    code = """
import asyncio
from pathlib import Path

import gateway.cli  # the process `firegrid run` is
from gateway.app import Gateway
from gateway.config import Settings


async def start_and_stop() -> None:
    async with Gateway(Settings(data_dir=Path(sys.argv[1]), api_port=0)):
        pass


asyncio.run(start_and_stop())
"""
    assert _loaded(code, str(tmp_path)) == []


def test_a_configured_platform_and_routing_file_load_their_transports_at_start(
    tmp_path: Path,
) -> None:
    """At start (the outbox's channels), not at the first alarm: an import of ~100 ms would
    hold the event loop up just when a dispatch is due."""
    routing = tmp_path / "notify.yaml"
    routing.write_text(
        "workers: {w-001: {email: [w@example.org]}}\n"
        "transports: {email: {url: 'mailto://gw:pw@example.org'}}\n"
        "routes: [{to: [worker], channels: [email]}]\n",
        encoding="utf-8",
    )
    code = """
from bridge.wiring import Bridge
from gateway.api.ack import AckSigner
from gateway.config import Settings

settings = Settings(
    platform_url="http://platform.example/events", platform_secret="s", notify_file=sys.argv[1]
)
bridge = Bridge(settings, AckSigner("k"), lambda: "http://gw", lambda role, who: None)
assert {"platform", "email"} <= set(bridge.subscriptions())
"""
    loaded = _loaded(code, str(routing))
    assert {"httpx", "apprise"} <= set(loaded)
