"""The MQTT ingest client: a persistent QoS 1 session whose PUBACK follows the pipeline.

Client choice (measured on the 2-core reference machine, receive + json.loads only):
QoS 0 from a loopback Mosquitto — aiomqtt 2.5 ≈ 10.7k msg/s, paho-mqtt 2.2 ≈ 19.8k,
gmqtt 0.8 ≈ 54k; QoS 1 — aiomqtt ≈ 6.4k, paho ≈ 15k, gmqtt ≈ 16k (see
``benchmarks/mqtt_clients.py``). gmqtt is asyncio-native, speaks MQTT 5 (falling back to
3.1.1 for brokers that refuse it), and with ``optimistic_acknowledgement=False`` sends the
PUBACK only when our async ``on_message`` returns — so a message is acknowledged only once the
pipeline holds it. aiomqtt, by contrast, acknowledges before its (unbounded, or lossy when
capped) queue hands the message over. The choice stays behind :class:`IngestClient`, so a
NATS JetStream consumer can stand here for the city-scale deployment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Protocol, Self

import orjson
from gmqtt import Client, Subscription

from gateway.config import MqttUrl
from gateway.metrics import Metrics

log = logging.getLogger(__name__)

# Returns None when the message is fully handled, or an awaitable that must finish before the
# PUBACK (an alarm's incident being written durably).
MessageHandler = Callable[[str, bytes, float], Awaitable[object] | None]

BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 30.0


class IngestClient(Protocol):
    """What the gateway needs from a message transport."""

    @property
    def connected(self) -> bool: ...

    async def wait_connected(self) -> None: ...

    def publish(self, topic: str, payload: object, qos: int = 1) -> None: ...


def backoff_delay(attempt: int) -> float:
    """Exponential backoff with full jitter, capped: 0.5 s, 1 s, 2 s, … 30 s."""
    ceiling = min(BACKOFF_MAX_S, BACKOFF_START_S * 2**attempt)
    return random.uniform(ceiling / 2, ceiling)


class MqttIngest:
    """``async with MqttIngest(...) as mqtt:`` connects, subscribes, and feeds ``handler``.

    ``handler(topic, payload, received_at)`` runs synchronously inside the on-message
    callback; when it returns, gmqtt sends the PUBACK. If the process dies before that, the
    broker redelivers the message from the persistent session.
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
    ) -> None:
        self._url = url
        self._topics = topics
        self._handler = handler
        self._metrics = metrics
        self._clock = clock
        self._connected = asyncio.Event()
        self._attempt = 0
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._client = Client(
            client_id,
            clean_session=False,
            optimistic_acknowledgement=False,
            session_expiry_interval=session_expiry_s,
            receive_maximum=65535,
        )
        if url.username:
            self._client.set_auth_credentials(url.username, url.password)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def _on_message(
        self, client: Client, topic: str, payload: bytes, qos: int, properties: Any
    ) -> int:
        try:
            pending = self._handler(topic, payload, self._clock())
            if pending is not None:
                await pending
        except Exception:
            # A bug in one message must not stop ingest, nor make the broker redeliver it
            # forever: log it with the topic and acknowledge.
            log.exception("pipeline failed on a message from %s", topic)
        return 0

    def _on_connect(self, client: Client, flags: int, rc: int, properties: Any) -> None:
        self._attempt = 0
        client.reconnect_delay = BACKOFF_START_S
        client.subscribe([Subscription(t, qos=1) for t in self._topics])
        self._connected.set()
        self._metrics.mqtt_connected.set(1)
        self._metrics.mqtt_connects.inc()
        log.info(
            "connected to MQTT %s:%s, subscribed to %s",
            self._url.host,
            self._url.port,
            self._topics,
        )

    def _on_disconnect(self, client: Client, packet: Any, exc: Exception | None = None) -> None:
        self._connected.clear()
        self._metrics.mqtt_connected.set(0)
        if self._closing:
            return
        # gmqtt reconnects on its own after ``reconnect_delay``: grow it between attempts.
        self._attempt += 1
        client.reconnect_delay = backoff_delay(self._attempt)
        log.warning(
            "MQTT connection lost (%s); reconnecting in %.1f s", exc, client.reconnect_delay
        )

    async def _connect_until_up(self) -> None:
        while True:
            try:
                await self._client.connect(self._url.host, self._url.port, ssl=self._url.tls)
                return
            except (TimeoutError, OSError) as exc:
                delay = backoff_delay(self._attempt)
                self._attempt += 1
                log.warning(
                    "MQTT broker %s:%s unreachable (%s); retrying in %.1f s",
                    self._url.host,
                    self._url.port,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)

    async def wait_connected(self) -> None:
        await self._connected.wait()

    def publish(self, topic: str, payload: object, qos: int = 1) -> None:
        """Publish outbound JSON (dispatches, lifecycle events); gmqtt retries QoS 1 itself."""
        body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        self._client.publish(topic, body, qos=qos)

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._connect_until_up(), name="mqtt-connect")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing = True
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._client.disconnect(), 5)
        self._metrics.mqtt_connected.set(0)
