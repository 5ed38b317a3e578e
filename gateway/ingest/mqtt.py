"""The MQTT ingest client: a persistent QoS 1 session whose PUBACK follows the pipeline.

Our own lean MQTT 3.1.1 client on an :class:`asyncio.Protocol` (``connection.py``; packets in
``packets.py``), chosen on measured numbers. Receive + ``json.loads``, CPU µs per message
(``benchmarks/mqtt_clients.py``, receiver pinned to its own core, medians of 5 runs, see
``benchmarks/RESULTS-mqtt-clients.md``): QoS 0 — this client 4.0, gmqtt 0.8 (the fastest
library, and the previous client) 12.2, paho-mqtt 22.5, aiomqtt 43.0; QoS 1 with the PUBACK
sent after the handler — this client 13.9, the raw-socket reference 14.5, gmqtt 27.5, paho
36.7, aiomqtt 63.6. gmqtt pays an asyncio task per message for its deferred PUBACK, MQTT 5
property parsing and one socket write per acknowledgement. Here every PUBLISH
of a socket read is parsed in one pass and the PUBACKs of what the pipeline holds go out in
one ``transport.write``. No faster maintained client could be installed (the one Rust-backed
client found, ``stem-mqtt-client`` over UniFFI, is not on this project's package index, and a
per-message FFI callback would cost about what gmqtt does).

Semantics kept from the gmqtt client: ``clean_session=False`` (the broker keeps the session and
queues while we are away; MQTT 3.1.1 sessions have no expiry interval, the broker's
``persistent_client_expiration`` bounds them), PUBACK only once the handler returned or its
awaitable finished, reconnect with exponential backoff and full jitter, re-subscribe on every
connect. Outbound QoS 1 publishes keep their packet id until the PUBACK and are resent with DUP
after a reconnect; :meth:`MqttIngest.publish_acked` waits for that PUBACK. PUBACKs may leave in
a different order than their PUBLISHes arrived (an alarm's waits for its commit); brokers match
them by packet id. The choice stays behind :class:`IngestClient`, so a NATS JetStream consumer
can stand here at city scale.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self

import orjson

from gateway.config import MqttUrl
from gateway.ingest import packets as p
from gateway.ingest.connection import MessageHandler, MqttConnection
from gateway.metrics import Metrics

__all__ = ["BACKOFF_MAX_S", "BACKOFF_START_S", "IngestClient", "MessageHandler", "MqttIngest"]

log = logging.getLogger(__name__)

BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 30.0
KEEPALIVE_S = 60
HANDSHAKE_TIMEOUT_S = 10.0
SUBSCRIBE_ID = 1  # outbound publishes use 2..65535


class IngestClient(Protocol):
    """What the gateway needs from a message transport."""

    @property
    def connected(self) -> bool: ...

    async def wait_connected(self) -> None: ...

    def publish(self, topic: str, payload: object, qos: int = 1) -> None: ...

    async def publish_acked(self, topic: str, payload: object, qos: int = 1) -> None: ...


def backoff_delay(attempt: int) -> float:
    """Exponential backoff with full jitter, capped: 0.5 s, 1 s, 2 s, … 30 s."""
    ceiling = min(BACKOFF_MAX_S, BACKOFF_START_S * 2**attempt)
    return random.uniform(ceiling / 2, ceiling)


class ConnectRefusedError(ConnectionError):
    """The broker answered CONNACK with a refusal (bad credentials, not authorised, …)."""


class _Outgoing:
    """A QoS 1 publish waiting for its PUBACK."""

    __slots__ = ("done", "packet")

    def __init__(self, packet: bytes, done: asyncio.Future[None]) -> None:
        self.packet = packet
        self.done = done


class MqttIngest:
    """``async with MqttIngest(...) as mqtt:`` connects, subscribes, and feeds ``handler``.

    ``handler(topic, payload, received_at)`` runs synchronously when its PUBLISH is read;
    returning None means the message is held (PUBACK now), returning an awaitable means
    acknowledge when it completes. If the process dies before that, the broker redelivers
    the message from the persistent session.
    """

    def __init__(
        self,
        url: MqttUrl,
        client_id: str,
        topics: list[str],
        handler: MessageHandler,
        metrics: Metrics,
        session_expiry_s: int = 7 * 24 * 3600,
        clock: Callable[[], float] = time.time,
        keepalive_s: int = KEEPALIVE_S,
        max_packet: int = 16 * 1024 * 1024,
        alarm_session: bool = False,
        alarm_in_flight: Callable[[], bool] | None = None,
    ) -> None:
        # session_expiry_s is an MQTT 5 notion: kept for the callers, bounded by the broker.
        self._url = url
        self._client_id = client_id
        self._topics = topics
        self._handler = handler
        # Telemetry yields to alarms on their way (gateway.ingest.connection.YIELD_BUDGET).
        self._alarm_in_flight = alarm_in_flight or (lambda: False)
        # The alarm session (gateway.ingest.topics.alarm_lane) reports on its own gauges.
        self._up_gauge = metrics.mqtt_alarm_connected if alarm_session else metrics.mqtt_connected
        self._connects = metrics.mqtt_alarm_connects if alarm_session else metrics.mqtt_connects
        self._clock = clock
        self._keepalive_s = keepalive_s
        self._max_packet = max_packet
        self._connected = asyncio.Event()
        self._connection: MqttConnection | None = None
        self._handshake: dict[int, asyncio.Future[bytes]] = {}  # CONNACK / SUBACK by type
        self._outgoing: dict[int, _Outgoing] = {}
        self.pending: dict[int, asyncio.Future[object]] = {}  # see connection.Session
        self._next_id = SUBSCRIBE_ID
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    # -- publishing ---------------------------------------------------------------------------

    def publish(self, topic: str, payload: object, qos: int = 1) -> None:
        """Publish outbound JSON (dispatches, lifecycle events); QoS 1 is resent until acked."""
        self._send(topic, payload, qos)

    async def publish_acked(self, topic: str, payload: object, qos: int = 1) -> None:
        """Publish and return once the broker has acknowledged it (QoS 1: its PUBACK)."""
        await self._send(topic, payload, qos)

    def _send(self, topic: str, payload: object, qos: int) -> asyncio.Future[None]:
        body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if qos == 0:
            if self._connection is None or not self._connection.write(p.publish(topic, body, 0)):
                raise ConnectionError("not connected to the MQTT broker")
            done.set_result(None)
            return done
        packet_id = self._packet_id()
        outgoing = _Outgoing(p.publish(topic, body, 1, packet_id), done)
        self._outgoing[packet_id] = outgoing
        if self._connection is not None and self.connected:
            self._connection.write(outgoing.packet)
        return done

    def _packet_id(self) -> int:
        if len(self._outgoing) >= 0xFFFF - SUBSCRIBE_ID:
            raise ConnectionError("65534 publishes await their PUBACK: the broker is not acking")
        while True:
            self._next_id = self._next_id + 1 if self._next_id < 0xFFFF else SUBSCRIBE_ID + 1
            if self._next_id not in self._outgoing:
                return self._next_id

    # -- the connection's reports -------------------------------------------------------------

    def on_control(self, first: int, body: bytes) -> None:
        kind = first & 0xF0
        if kind == p.PUBACK:
            outgoing = self._outgoing.pop(p.packet_id(body), None)
            if outgoing is not None and not outgoing.done.done():
                outgoing.done.set_result(None)
        elif kind in (p.CONNACK, p.SUBACK & 0xF0):
            waiter = self._handshake.pop(kind, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(body)
        elif kind == p.PUBREL and self._connection is not None:
            self._connection.write(p.ack(p.PUBCOMP, p.packet_id(body)))
        # PINGRESP needs nothing: any packet refreshes the connection's last_received.

    def acknowledge_later(self, packet: bytes) -> None:
        connection = self._connection
        if connection is not None:
            if packet:
                connection.write(packet)
            connection.flow()  # one alarm fewer in flight: reading may resume

    def on_lost(self, exc: Exception | None) -> None:
        was_up = self.connected
        self._connected.clear()
        self._up_gauge.set(0)
        for waiter in self._handshake.values():
            if not waiter.done():
                waiter.set_exception(ConnectionError("connection lost during the handshake"))
        self._handshake.clear()
        if was_up and not self._closing:
            log.warning("MQTT connection lost (%s); reconnecting", exc or "closed by the broker")

    # -- the session --------------------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                connection = await self._connect()
            except (TimeoutError, OSError, ConnectRefusedError) as exc:
                delay = backoff_delay(attempt)
                attempt += 1
                self._describe_failure(exc, delay)
                await asyncio.sleep(delay)
                continue
            attempt = 0
            keepalive = asyncio.create_task(self._keepalive(connection), name="mqtt-keepalive")
            try:
                await asyncio.shield(connection.closed)  # cancelling us must not cancel it
            finally:
                keepalive.cancel()
            await asyncio.sleep(backoff_delay(0))

    def _describe_failure(self, exc: BaseException, delay: float) -> None:
        where = f"{self._url.host}:{self._url.port}"
        if isinstance(exc, ConnectRefusedError):
            log.error(
                "MQTT broker %s refused the connection: %s; retrying in %.1f s", where, exc, delay
            )
        else:
            log.warning("MQTT broker %s unreachable (%s); retrying in %.1f s", where, exc, delay)

    async def _connect(self) -> MqttConnection:
        loop = asyncio.get_running_loop()
        tls = ssl.create_default_context() if self._url.tls else None
        _, connection = await asyncio.wait_for(
            loop.create_connection(
                lambda: MqttConnection(
                    self, self._handler, self._clock, self._max_packet, self._alarm_in_flight
                ),
                self._url.host,
                self._url.port,
                ssl=tls,
            ),
            HANDSHAKE_TIMEOUT_S,
        )
        self._connection = connection
        try:
            await self._handshake_with(connection)
        except BaseException:
            connection.close()
            raise
        return connection

    async def _handshake_with(self, connection: MqttConnection) -> None:
        connack = self._expect(p.CONNACK)
        connection.write(
            p.connect(
                self._client_id,
                clean_session=False,
                keepalive_s=self._keepalive_s,
                username=self._url.username,
                password=self._url.password,
            )
        )
        body = await asyncio.wait_for(connack, HANDSHAKE_TIMEOUT_S)
        code = body[1] if len(body) >= 2 else -1
        if code != 0:
            raise ConnectRefusedError(p.CONNACK_REFUSALS.get(code, f"CONNACK code {code}"))
        suback = self._expect(p.SUBACK & 0xF0)
        connection.write(p.subscribe(SUBSCRIBE_ID, self._topics, 1))
        granted = (await asyncio.wait_for(suback, HANDSHAKE_TIMEOUT_S))[2:]
        refused = [t for t, code in zip(self._topics, granted, strict=False) if code == 0x80]
        if refused:
            log.error("MQTT broker refused the subscription to %s", refused)
        for outgoing in self._outgoing.values():
            connection.write(_as_duplicate(outgoing.packet))
        self._connected.set()
        self._up_gauge.set(1)
        self._connects.inc()
        log.info(
            "connected to MQTT %s:%s (session %s), subscribed to %s",
            self._url.host,
            self._url.port,
            "resumed" if body[0] & 0x01 else "new",
            self._topics,
        )

    def _expect(self, kind: int) -> asyncio.Future[bytes]:
        waiter: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._handshake[kind] = waiter
        return waiter

    async def _keepalive(self, connection: MqttConnection) -> None:
        """PINGREQ every half keepalive; a broker silent for 1.5 keepalives is gone."""
        interval = self._keepalive_s / 2
        while True:
            await asyncio.sleep(interval)
            if time.monotonic() - connection.last_received > self._keepalive_s * 1.5:
                log.warning("MQTT broker silent for %.0f s: reconnecting", self._keepalive_s * 1.5)
                connection.close()
                return
            connection.write(p.PINGREQ_PACKET)

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._run(), name="mqtt-session")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing = True
        task = self._task
        if task is not None:
            # Cancelled again until it ends: on Python 3.11 a cancel that races the end of an
            # inner wait (asyncio.wait_for in the handshake, e.g. while reconnecting after a
            # broker restart) can be swallowed, and the session would run on, connected, with
            # the gateway's shutdown waiting for it for ever.
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=1.0)
            with contextlib.suppress(asyncio.CancelledError):
                await task
        connection = self._connection
        if connection is not None:
            connection.flush_acks()  # what was handled is acknowledged: not redelivered
        if connection is not None and connection.write(p.DISCONNECT_PACKET):
            assert connection.transport is not None
            connection.transport.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(connection.closed), 5)
        for outgoing in self._outgoing.values():
            outgoing.done.cancel()
        self._up_gauge.set(0)


def _as_duplicate(packet: bytes) -> bytes:
    """The same PUBLISH with its DUP flag set, as a resend after a reconnect must carry (set on
    one queued while disconnected too: a receiver treats DUP as a hint, never as a refusal)."""
    return bytes([packet[0] | 0x08]) + packet[1:]
