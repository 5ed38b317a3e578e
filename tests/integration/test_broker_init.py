"""deploy/mosquitto/init.sh, the compose stack's `mosquitto-init`, run for real: POSIX ``dash``,
this machine's ``openssl`` and ``firegrid``. The shipped Mosquitto config then starts on what
it made, the gateway logs in over TLS trusting the CA it made, and hears the simulator.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.broker_config import DeviceEntry, RegistryView, parse_passwd, password_matches
from gateway.cli_broker import write_config
from tests.integration.harness import REPO, eventually
from tests.integration.test_broker_acl import ALARM, TOPICS, Client, ShippedBroker
from tests.servers.ports import free_port

pytestmark = pytest.mark.integration

INIT = REPO / "deploy" / "mosquitto" / "init.sh"
GATEWAY_URL = "mqtt://firegrid:gw-secret@mosquitto:1883"
SIMULATOR_URL = "mqtt://simulator:sim-secret@mosquitto:1883"


def run_init(folder: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """As the container runs it: ``sh`` is dash there too; ``firegrid`` is the one installed."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FIREGRID_", "MQTT_"))}
    clean["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{clean['PATH']}"
    clean["FIREGRID_PROFILES_DIR"] = str(REPO / "device_profiles")
    dash = shutil.which("dash")
    assert dash is not None, "dash (POSIX sh, as in the image) is needed: apt-get install dash"
    return subprocess.run(
        [dash, str(INIT), str(folder)],
        env=clean | env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def first_start(tmp_path: Path) -> Path:
    folder = tmp_path / "mosquitto"
    folder.mkdir()
    urls = {"FIREGRID_MQTT_URL": GATEWAY_URL, "FIREGRID_SIMULATOR_MQTT_URL": SIMULATOR_URL}
    done = run_init(folder, **urls, MQTT_TLS_HOSTNAME="mqtt.example.org")
    assert done.returncode == 0, done.stderr
    return folder


@pytest.fixture
def broker(first_start: Path) -> Iterator[ShippedBroker]:
    server = ShippedBroker(first_start, free_port(), tls_port=free_port())
    server.start()
    yield server
    server.stop()


def test_the_first_start_makes_a_ca_a_certificate_and_the_two_accounts(first_start: Path) -> None:
    certs = first_start / "certs"
    assert {p.name for p in certs.iterdir()} == {
        "ca.crt", "ca.key", "ca.srl", "server.crt", "server.key",
    }  # fmt: skip
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in certs.iterdir()}
    assert modes == {"ca.crt": 0o644, "server.crt": 0o644} | {
        name: 0o600 for name in ("ca.key", "ca.srl", "server.key")
    }
    text = subprocess.run(
        ["openssl", "x509", "-in", str(certs / "server.crt"), "-noout", "-ext", "subjectAltName"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    for name in ("DNS:mqtt.example.org", "DNS:mosquitto", "DNS:localhost", "IP Address:127.0.0.1"):
        assert name in text
    hashes = parse_passwd((first_start / "passwd").read_text())
    assert set(hashes) == {"firegrid", "simulator"}
    assert password_matches("gw-secret", hashes["firegrid"])
    assert password_matches("sim-secret", hashes["simulator"])
    assert "user simulator\n" in (first_start / "acl").read_text()


def test_a_later_start_keeps_everything_even_the_registrys_accounts(first_start: Path) -> None:
    view = RegistryView(TOPICS, devices=[DeviceEntry("sd-1", "smoke-detector")])
    known = {"firegrid": "gw-secret", "simulator": "sim-secret"}
    write_config(first_start, view, "firegrid", known, "simulator")  # broker-config, later on
    before = snapshot(first_start)
    # Even with other passwords in the environment: what is there stays.
    again = run_init(first_start, FIREGRID_MQTT_URL="mqtt://firegrid:other@mosquitto:1883")
    assert again.returncode == 0, again.stderr
    assert "keeping the certificate" in again.stdout and "keeping passwd and acl" in again.stdout
    assert snapshot(first_start) == before
    assert "sd-1" in parse_passwd((first_start / "passwd").read_text())


def test_without_the_gateways_url_it_says_so_and_makes_nothing(tmp_path: Path) -> None:
    done = run_init(tmp_path / "m")
    assert done.returncode != 0
    assert "FIREGRID_MQTT_URL" in done.stderr and "gateway" in done.stderr
    assert not (tmp_path / "m").exists()


async def test_the_gateway_trusts_the_made_ca_over_tls_and_hears_the_simulator(
    broker: ShippedBroker,
) -> None:
    clients: list[Client] = []

    def connect(user: str, password: str) -> Client:
        clients.append(Client(broker, user, password))  # TLS, verified against certs/ca.crt
        return clients[-1]

    try:
        gateway = await asyncio.to_thread(connect, "firegrid", "gw-secret")
        assert gateway.admitted
        gateway.subscribe("devices/+/up")
        simulator = await asyncio.to_thread(connect, "simulator", "sim-secret")
        await asyncio.to_thread(simulator.publish, "devices/sd-1/up", ALARM)
        [heard] = await eventually(lambda: gateway.on("devices/sd-1/up"), "the gateway hears it")
        assert heard == {"smoke": True, "battery_pct": 80}
    finally:
        for client in clients:
            client.close()
