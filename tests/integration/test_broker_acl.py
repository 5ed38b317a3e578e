"""The shipped Mosquitto config (deploy/mosquitto) with the accounts and ACL `firegrid
broker-config` writes from the registry: a detector cannot raise an alarm as its neighbour, a
grid worker's phone hears only its own alarms, nobody gets in without a password, and on the
TLS listener no account can knock the gateway off by taking its client id.

Mosquitto drops an unauthorised publish silently and grants any subscription, filtering what
it delivers; so every refusal is asserted by what arrives, behind a later message that did.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import signal
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as paho
import pytest
import typer
from typer.testing import CliRunner

from gateway.broker_config import DeviceEntry, RegistryView
from gateway.cli_broker import broker_config, write_config
from tests.fixtures.registry import IN_G0101, IN_G0102, PROFILES
from tests.integration.harness import (
    REPO,
    TOKEN,
    eventually,
    metric,
    register,
    running,
    settings_for,
)
from tests.servers.mosquitto import MosquittoServer
from tests.servers.ports import free_port

pytestmark = pytest.mark.integration

SHIPPED = REPO / "deploy" / "mosquitto" / "mosquitto.conf"
GATEWAY_PASSWORD = "gateway-secret"
TOPICS = {name: p.topics for name, p in PROFILES.items()}
ALARM = orjson.dumps({"smoke": True, "battery_pct": 80})


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certs(folder: Path) -> None:
    """A CA and a server certificate for 127.0.0.1, made as the README says."""
    folder.mkdir(parents=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-days", "2", "-subj", "/CN=test CA", "-keyout", "ca.key",
             "-out", "ca.crt", cwd=folder)  # fmt: skip
    _openssl("req", *ec, "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr",
             cwd=folder)  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.crt",
             cwd=folder)  # fmt: skip


@dataclass
class ShippedBroker(MosquittoServer):
    """deploy/mosquitto/mosquitto.conf as shipped; only paths, ports and the log moved here."""

    tls_port: int = 0

    def _write_conf(self) -> Path:
        text = SHIPPED.read_text()
        moves = {
            "listener 1883\n": f"listener {self.port} 127.0.0.1\n",
            "listener 8883\n": f"listener {self.tls_port} 127.0.0.1\n",
            "/mosquitto/config/": f"{self.workdir}/",
            "/mosquitto/data/": f"{self.workdir}/data/",
            "log_dest stdout\n": f"log_dest file {self.log_path}\n",
        }
        for shipped, here in moves.items():
            assert shipped in text, f"{SHIPPED} no longer has {shipped!r}"
            text = text.replace(shipped, here)
        # As root, Mosquitto would drop to the `mosquitto` user, who cannot read our 0600 files.
        text += f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
        (self.workdir / "data").mkdir(exist_ok=True)
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(text)
        return conf


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[ShippedBroker]:
    """The broker's first start: certificates, and the gateway's account only."""
    workdir = tmp_path / "mosquitto"
    make_certs(workdir / "certs")
    write_config(workdir, RegistryView(TOPICS), "firegrid", {"firegrid": GATEWAY_PASSWORD})
    server = ShippedBroker(workdir, free_port(), tls_port=free_port())
    server.start()
    yield server
    server.stop()


class Client:
    """A device, a phone or a station: logs in over TLS unless told otherwise."""

    def __init__(
        self,
        broker: ShippedBroker,
        user: str | None,
        password: str | None = None,
        client_id: str | None = None,
        tls: bool = True,
    ) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self._client = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id=client_id or f"c-{uuid.uuid4().hex[:8]}"
        )
        if user is not None:
            self._client.username_pw_set(user, password)
        if tls:
            self._client.tls_set(ca_certs=str(broker.workdir / "certs" / "ca.crt"))
        self._connack: list[paho.ReasonCode] = []
        self._connected = threading.Event()
        self.disconnects = 0
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = lambda _c, _u, m: self.messages.append(
            (m.topic, orjson.loads(m.payload))
        )
        self._client.connect("127.0.0.1", broker.tls_port if tls else broker.port)
        self._client.loop_start()
        if not self._connected.wait(10):
            raise TimeoutError(f"no CONNACK for {user}")

    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        self._connack.append(rc)
        self._connected.set()

    def _on_disconnect(self, *args: Any) -> None:
        self.disconnects += 1

    @property
    def admitted(self) -> bool:
        return not self._connack[0].is_failure

    def subscribe(self, *filters: str) -> None:
        done = threading.Event()
        self._client.on_subscribe = lambda *_: done.set()
        self._client.subscribe([(f, 1) for f in filters])
        assert done.wait(10), f"no SUBACK for {filters}"

    def publish(self, topic: str, payload: bytes) -> None:
        """QoS 1 and wait for the PUBACK, which Mosquitto sends even for what it drops."""
        info = self._client.publish(topic, payload, qos=1)
        info.wait_for_publish(10)
        assert info.is_published()

    def on(self, topic: str) -> list[dict[str, Any]]:
        return [payload for t, payload in list(self.messages) if t == topic]

    def close(self) -> None:
        self._client.disconnect()  # wakes the network loop, so stopping it takes no second
        self._client.loop_stop()


def admitted(broker: ShippedBroker, user: str | None, password: str | None = None) -> bool:
    client = Client(broker, user, password)
    client.close()
    return client.admitted


def detector(device_id: str, at: tuple[float, float]) -> dict[str, Any]:
    location = {"address": "贵州路 101 号", "lat": at[0], "lon": at[1]}
    return {"id": device_id, "profile": "smoke-detector", "name": device_id, "location": location}


def run_broker_config(*args: str) -> dict[str, str]:
    """`firegrid broker-config`, as the operator runs it; the new accounts' passwords."""
    app = typer.Typer()
    app.command()(broker_config)
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.stderr
    return dict(line.split(",", 1) for line in result.stdout.splitlines())


async def test_a_detector_cannot_alarm_as_its_neighbour_and_a_worker_hears_only_its_own(
    broker: ShippedBroker, tmp_path: Path
) -> None:
    gateway_url = f"mqtt://firegrid:{GATEWAY_PASSWORD}@127.0.0.1:{broker.port}"
    phones: list[Client] = []
    async with running(settings_for(tmp_path, gateway_url)) as (gateway, api):
        await register(api, [detector("sd-1", IN_G0101), detector("sd-2", IN_G0102)])
        for worker in ("w-001", "w-002"):
            body = {"id": worker, "name": worker}
            assert (await api.post("/workers", json=body)).status_code == 201
        api_url = f"http://127.0.0.1:{gateway.api_port}"
        passwords = await asyncio.to_thread(
            run_broker_config, "--out", str(broker.workdir), "--api", api_url,
            "--token", TOKEN, "--gateway-url", gateway_url,
        )  # fmt: skip
        assert not await asyncio.to_thread(admitted, broker, "sd-1", passwords["sd-1"])
        assert broker.proc is not None
        broker.proc.send_signal(signal.SIGHUP)  # reload passwd and acl
        await eventually(
            lambda: admitted(broker, "sd-1", passwords["sd-1"]), "sd-1 admitted after SIGHUP"
        )
        try:

            def login(user: str) -> Client:
                phones.append(Client(broker, user, passwords[user]))
                return phones[-1]

            w1, w2 = await asyncio.gather(
                asyncio.to_thread(login, "worker/w-001"), asyncio.to_thread(login, "worker/w-002")
            )
            # w-001 tries to listen in on w-002's alarms, by name and by wildcard.
            w1.subscribe(
                "grid/workers/w-001/alarms", "grid/workers/w-002/alarms", "grid/workers/+/alarms"
            )
            w2.subscribe("grid/workers/w-002/alarms")
            sd1 = await asyncio.to_thread(login, "sd-1")
            # A forged alarm in sd-2's name, then sd-1's own, on one connection, in order.
            await asyncio.to_thread(sd1.publish, "devices/sd-2/up", ALARM)
            await asyncio.to_thread(sd1.publish, "devices/sd-1/up", ALARM)
            [own] = await eventually(
                lambda: w1.on("grid/workers/w-001/alarms"), "sd-1's fire reaches w-001"
            )
            assert own["device_id"] == "sd-1"
            # Had the broker passed the forgery, the gateway would have taken it first.
            assert await metric(api, "firegrid_messages_received_total") == 1
            assert (await api.get("/devices/sd-2")).json()["status"] == "never_seen"

            sd2 = await asyncio.to_thread(login, "sd-2")
            await asyncio.to_thread(sd2.publish, "devices/sd-2/up", ALARM)
            await eventually(lambda: w2.on("grid/workers/w-002/alarms"), "w-002's phone rings")
            # Anything meant for w-001 after that arrives after w-002's alarm would have.
            gw = await asyncio.to_thread(Client, broker, "firegrid", GATEWAY_PASSWORD, None, False)
            phones.append(gw)
            await asyncio.to_thread(gw.publish, "grid/workers/w-001/alarms", b'{"marker": 1}')
            await eventually(lambda: {"marker": 1} in w1.on("grid/workers/w-001/alarms"), "marker")
            assert w1.on("grid/workers/w-002/alarms") == []
            assert {topic for topic, _ in w1.messages} == {"grid/workers/w-001/alarms"}
        finally:
            for phone in phones:
                phone.close()


async def test_no_login_no_entry_and_no_device_takes_over_the_gateways_client_id(
    broker: ShippedBroker,
) -> None:
    view = RegistryView(TOPICS, devices=[DeviceEntry("sd-1", "smoke-detector")])
    _, issued, _ = write_config(broker.workdir, view, "firegrid", {"firegrid": GATEWAY_PASSWORD})
    assert broker.proc is not None
    broker.proc.send_signal(signal.SIGHUP)
    await eventually(lambda: admitted(broker, "sd-1", issued["sd-1"]), "sd-1 admitted")
    assert not await asyncio.to_thread(admitted, broker, None)
    assert not await asyncio.to_thread(admitted, broker, "sd-1", "guessed")
    assert not await asyncio.to_thread(admitted, broker, "firegrid", None)

    clients: list[Client] = []

    def connect(*args: Any, **kwargs: Any) -> Client:
        clients.append(Client(broker, *args, **kwargs))
        return clients[-1]

    try:
        gw = await asyncio.to_thread(
            connect, "firegrid", GATEWAY_PASSWORD, client_id="firegrid-gateway", tls=False
        )
        gw.subscribe("devices/+/up")
        # Over TLS the device's client id is its user name, whatever it asks for.
        sd1 = await asyncio.to_thread(connect, "sd-1", issued["sd-1"], client_id="firegrid-gateway")
        await asyncio.to_thread(sd1.publish, "devices/sd-1/up", ALARM)
        await eventually(lambda: gw.on("devices/sd-1/up"), "the gateway still hears sd-1")
        assert gw.disconnects == 0
        # On the internal listener ids are free, and the same trick works: that is why only
        # 8883 is published outside the compose network.
        await asyncio.to_thread(
            connect, "sd-1", issued["sd-1"], client_id="firegrid-gateway", tls=False
        )
        await eventually(lambda: gw.disconnects > 0, "the internal listener allows a takeover")
    finally:
        for client in clients:
            client.close()


async def test_the_simulator_plays_the_fleet_and_the_phones_and_nothing_more(
    broker: ShippedBroker,
) -> None:
    """The demo stack's `simulator` account: its uplinks reach the gateway on every device
    topic; it hears workers' and stations' dispatches (its responders answer them), but cannot
    forge one, nor overhear devices, installers or incident events."""
    known = {"firegrid": GATEWAY_PASSWORD, "simulator": "sim-secret"}
    write_config(broker.workdir, RegistryView(TOPICS), "firegrid", known, "simulator")
    assert broker.proc is not None
    broker.proc.send_signal(signal.SIGHUP)
    await eventually(lambda: admitted(broker, "simulator", "sim-secret"), "simulator admitted")

    clients: list[Client] = []

    def connect(*args: Any, **kwargs: Any) -> Client:
        clients.append(Client(broker, *args, **kwargs))
        return clients[-1]

    uplinks = {
        "devices/sd-9/up": ALARM,
        "nbiot/868120301234567/up": b'{"frame": "a5010203"}',  # the broker never parses
        "zigbee2mqtt/4号楼9层厨房": b'{"smoke": true}',
        "patrol/phone-w-001/scan": b'{"tag": "04:A2", "worker_id": "w-001"}',
    }
    try:
        gw = await asyncio.to_thread(connect, "firegrid", GATEWAY_PASSWORD, tls=False)
        gw.subscribe("devices/+/up", "nbiot/+/up", "zigbee2mqtt/+", "patrol/+/scan")
        sim = await asyncio.to_thread(connect, "simulator", "sim-secret")
        sim.subscribe(
            "grid/workers/+/alarms", "grid/stations/+/alarms", "grid/installers/+/alarms",
            "grid/incidents/+/events", "devices/+/up", "patrol/+/scan",
        )  # fmt: skip
        for topic, payload in uplinks.items():
            await asyncio.to_thread(sim.publish, topic, payload)
        await eventually(
            lambda: {t for t, _ in gw.messages} == set(uplinks), "the gateway hears every uplink"
        )
        # A dispatch forged in the gateway's name, then what only the gateway may send.
        await asyncio.to_thread(sim.publish, "grid/workers/w-002/alarms", b'{"forged": 1}')
        for topic in ("grid/installers/inst-7/alarms", "grid/incidents/i-1/events"):
            await asyncio.to_thread(gw.publish, topic, b'{"overheard": 1}')
        await asyncio.to_thread(gw.publish, "grid/stations/ms-1/alarms", b'{"station": 1}')
        await asyncio.to_thread(gw.publish, "grid/workers/w-001/alarms", b'{"marker": 1}')
        await eventually(lambda: sim.on("grid/workers/w-001/alarms"), "the phone rings")
        # Everything refused went to the broker before the marker; only the dispatches came.
        assert [t for t, _ in sim.messages] == [
            "grid/stations/ms-1/alarms",
            "grid/workers/w-001/alarms",
        ]
    finally:
        for client in clients:
            client.close()
