"""The gateway's own MQTT client against a real Mosquitto: a message not yet held is redelivered,
the keepalive keeps an idle session up and notices a silent broker, TLS and logins work, a
refused login says why, and an outbound publish can wait for its PUBACK."""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from gateway.config import parse_mqtt_url
from gateway.ingest.mqtt import MqttIngest
from gateway.metrics import Metrics
from tests.integration.harness import eventually, publish
from tests.servers.mosquitto import MosquittoServer, start_mosquitto
from tests.servers.ports import free_port

pytestmark = pytest.mark.integration


class Recorder:
    """A handler that keeps what it was given; the first ``hold`` messages never finish."""

    def __init__(self, hold: int = 0) -> None:
        self.seen: list[tuple[str, bytes]] = []
        self._hold = hold

    def __call__(self, topic: str, payload: bytes, at: float) -> Awaitable[object] | None:
        self.seen.append((topic, payload))
        if len(self.seen) <= self._hold:
            return asyncio.get_running_loop().create_future()  # an incident never committed
        return None


@asynccontextmanager
async def ingest(url: str, handler: Recorder, **kwargs: int) -> AsyncIterator[MqttIngest]:
    metrics = Metrics()
    client = MqttIngest(
        parse_mqtt_url(url), "gw-test", ["devices/+/up"], handler, metrics, **kwargs
    )
    async with client:
        yield client


def connects(client: MqttIngest) -> float:
    [total] = [
        s.value for m in client._connects.collect() for s in m.samples if s.name.endswith("_total")
    ]
    return total


async def test_a_message_whose_incident_was_never_committed_comes_back_to_the_next_run(
    mosquitto: MosquittoServer,
) -> None:
    """The gateway stops (or dies) while an alarm's incident is being committed: no PUBACK went
    out, so the broker hands the alarm to the next run of the same session."""
    first = Recorder(hold=1)
    async with ingest(mosquitto.url, first) as client:
        await asyncio.wait_for(client.wait_connected(), 10)
        await asyncio.to_thread(publish, mosquitto.port, [("devices/sd-1/up", b'{"smoke": true}')])
        await eventually(lambda: len(first.seen) == 1, "the alarm handed over")
    second = Recorder()
    async with ingest(mosquitto.url, second) as client:
        await eventually(lambda: len(second.seen) == 1, "redelivered from the session")
        assert second.seen == [("devices/sd-1/up", b'{"smoke": true}')]
    # Acknowledged this time: the session holds nothing more.
    assert await asyncio.to_thread(_queued_for, mosquitto.port, "gw-test") == 0


async def test_an_alarm_being_committed_across_a_broker_restart_is_handled_once(
    mosquitto: MosquittoServer,
) -> None:
    """The broker restarts while an alarm's incident is being committed. It redelivers the alarm
    (DUP) on the new connection; that copy is not handled again, and the PUBACK that follows the
    commit goes out on the new connection, so the session holds nothing afterwards."""
    handler = Recorder(hold=1)
    async with ingest(mosquitto.url, handler) as client:
        await asyncio.wait_for(client.wait_connected(), 10)
        await asyncio.to_thread(publish, mosquitto.port, [("devices/sd-1/up", b'{"smoke": true}')])
        await eventually(lambda: len(handler.seen) == 1, "the alarm handed over")
        [committing] = client.pending.values()
        await asyncio.to_thread(mosquitto.restart)  # its PUBACK was never sent
        # The broker resends its in-flight messages right after CONNACK, before the SUBACK that
        # completes our reconnect: once reconnected, the DUP copy has been read.
        await eventually(lambda: client.connected and connects(client) == 2, "reconnected")
        assert len(handler.seen) == 1  # the copy was recognised, not handled twice
        committing.set_result(None)  # the incident is committed: PUBACK now
        await eventually(lambda: not client.pending, "acknowledged")
    assert await asyncio.to_thread(_queued_for, mosquitto.port, "gw-test") == 0


def _queued_for(port: int, client_id: str) -> int:
    got: list[bytes] = []
    probe = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    probe.on_message = lambda _c, _u, message: got.append(message.payload)
    probe.connect("127.0.0.1", port)
    probe.loop_start()
    try:
        time.sleep(1.0)
    finally:
        probe.loop_stop()
        probe.disconnect()
    return len(got)


async def test_an_idle_session_stays_up_and_a_silent_broker_is_noticed(
    mosquitto: MosquittoServer,
) -> None:
    async with ingest(mosquitto.url, Recorder(), keepalive_s=1) as client:
        await asyncio.wait_for(client.wait_connected(), 10)
        await asyncio.sleep(3.5)  # Mosquitto drops a client silent for 1.5 keepalives
        assert client.connected and connects(client) == 1
        assert mosquitto.proc is not None
        mosquitto.proc.send_signal(signal.SIGSTOP)
        try:
            await eventually(lambda: not client.connected, "the silent broker noticed", within=10)
        finally:
            mosquitto.proc.send_signal(signal.SIGCONT)
        await eventually(lambda: client.connected and connects(client) == 2, "reconnected")


def _make_certificate(workdir: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 (openssl, as mosquitto-init makes them)."""
    ca_key, ca, key, csr, cert = (
        workdir / n for n in ("ca.key", "ca.crt", "server.key", "server.csr", "server.crt")
    )
    ext = workdir / "san.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    new_key = ["-newkey", "rsa:2048", "-nodes", "-keyout"]
    signed_by_ca = ["-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-extfile", ext]
    for args in (
        ["req", "-x509", *new_key, ca_key, "-out", ca, "-days", "2", "-subj", "/CN=test CA"],
        ["req", *new_key, key, "-out", csr, "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", csr, *signed_by_ca, "-out", cert, "-days", "2"],
    ):
        subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)
    return ca, cert, key


def _password_file(workdir: Path) -> Path:
    passwd = workdir / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwd), "firegrid", "s3cret"], check=True)
    return passwd


async def test_over_tls_with_a_login_the_gateway_hears_its_devices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, cert, key = _make_certificate(tmp_path)
    passwd = _password_file(tmp_path)
    tls_port = free_port()
    broker = start_mosquitto(
        tmp_path / "broker",
        f"listener {tls_port} 127.0.0.1\ncafile {ca}\ncertfile {cert}\nkeyfile {key}\n"
        f"password_file {passwd}\nper_listener_settings false\n",
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # the default context trusts our CA
    handler = Recorder()
    try:
        async with ingest(f"mqtts://firegrid:s3cret@127.0.0.1:{tls_port}", handler) as client:
            await asyncio.wait_for(client.wait_connected(), 10)
            await asyncio.to_thread(
                _publish_with_login, broker.port, "firegrid", "s3cret", b'{"smoke": false}'
            )
            await eventually(lambda: handler.seen, "heard over TLS")
    finally:
        broker.stop()


def _publish_with_login(port: int, user: str, password: str, payload: bytes) -> None:
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="pub-login")
    client.username_pw_set(user, password)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.publish("devices/sd-1/up", payload, qos=1).wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()


async def test_a_refused_login_says_why_and_is_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    passwd = _password_file(tmp_path)
    broker = start_mosquitto(
        tmp_path / "broker", f"password_file {passwd}\nallow_anonymous false\n"
    )
    caplog.set_level(logging.WARNING, logger="gateway.ingest.mqtt")
    try:
        url = f"mqtt://firegrid:wrong@127.0.0.1:{broker.port}"
        async with ingest(url, Recorder()) as client:
            await eventually(lambda: "refused the connection" in caplog.text, "the refusal logged")
            assert not client.connected
        assert "not authorized" in caplog.text or "bad user name or password" in caplog.text
        assert "wrong" not in caplog.text  # never the password
    finally:
        broker.stop()


async def test_an_outbound_publish_can_wait_for_its_puback(mosquitto: MosquittoServer) -> None:
    got: list[bytes] = []
    listener = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="phone")
    listener.on_message = lambda _c, _u, message: got.append(message.payload)
    listener.connect("127.0.0.1", mosquitto.port)
    listener.subscribe("grid/workers/w1/alarms", qos=1)
    listener.loop_start()
    try:
        async with ingest(mosquitto.url, Recorder()) as client:
            await asyncio.wait_for(client.wait_connected(), 10)
            await asyncio.wait_for(
                client.publish_acked("grid/workers/w1/alarms", {"incident_id": "i-1"}), 10
            )
            await eventually(lambda: got == [b'{"incident_id":"i-1"}'], "the phone hears it")
    finally:
        listener.loop_stop()
        listener.disconnect()


async def test_the_session_stops_even_when_a_cancel_is_swallowed(
    mosquitto: MosquittoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Python 3.11's asyncio.wait_for can swallow a cancel that races the end of its wait (a
    handshake while reconnecting after a broker restart): the session then ran on, connected,
    and the gateway's shutdown waited for it for ever. A session that swallows the first
    cancel must still stop."""
    run = MqttIngest._run
    swallowed: list[bool] = []

    async def swallow_once(self: MqttIngest) -> None:
        while True:
            try:
                await run(self)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed.append(True)  # as wait_for does when its inner wait has just ended

    monkeypatch.setattr(MqttIngest, "_run", swallow_once)
    url = parse_mqtt_url(mosquitto.url)
    client = MqttIngest(url, "gw-test", ["devices/+/up"], Recorder(), Metrics())
    await client.__aenter__()
    await asyncio.wait_for(client.wait_connected(), 10)
    closing = asyncio.ensure_future(client.__aexit__(None, None, None))
    done, _ = await asyncio.wait({closing}, timeout=5)
    if not done:  # it hangs (as it did): end it for the next test, then fail
        closing.cancel()
        await asyncio.wait({closing}, timeout=5)
    assert done and swallowed == [True], "the session did not stop after a swallowed cancel"
    closing.result()
