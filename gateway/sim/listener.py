"""An MQTT subscriber for the simulated phones and consoles: QoS 1, MQTT 3.1.1, subscribed
before ``async with`` lets the caller go on, so nothing published afterwards is missed.

Every (re)connection subscribes again: with a clean session the broker forgets subscriptions
when the connection drops, and gmqtt reconnects on its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Self

from gmqtt import Client, Subscription
from gmqtt.mqtt.constants import MQTTv311

from gateway.config import MqttUrl

log = logging.getLogger(__name__)

SUBSCRIBE_TIMEOUT_S = 10.0

Handler = Callable[[str, bytes], None]


class MqttListener:
    """``async with MqttListener(url, client_id, topics, handler):`` calls ``handler(topic,
    payload)`` for each message, in arrival order; a handler that raises is logged and skipped."""

    def __init__(
        self, url: MqttUrl, client_id: str, topics: Sequence[str], handler: Handler
    ) -> None:
        self._url = url
        self._topics = list(topics)
        self._handler = handler
        self._subscribed = asyncio.Event()
        self._client = Client(client_id, clean_session=True)
        if url.username:
            self._client.set_auth_credentials(url.username, url.password)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    def _on_connect(self, client: Client, flags: int, rc: int, properties: Any) -> None:
        client.subscribe([Subscription(t, qos=1) for t in self._topics])

    def _on_subscribe(self, client: Client, mid: int, qos: Any, properties: Any) -> None:
        self._subscribed.set()

    def _on_message(
        self, client: Client, topic: str, payload: bytes, qos: int, properties: Any
    ) -> int:
        try:
            self._handler(topic, payload)
        except Exception:
            log.exception("listener: handling a message on %s failed", topic)
        return 0  # PUBACK: a phone that cannot read a message would not want it again

    async def __aenter__(self) -> Self:
        url = self._url
        try:
            await asyncio.wait_for(
                self._client.connect(url.host, url.port, ssl=url.tls, version=MQTTv311),
                SUBSCRIBE_TIMEOUT_S,
            )
            await asyncio.wait_for(self._subscribed.wait(), SUBSCRIBE_TIMEOUT_S)
        except BaseException as exc:
            await self._disconnect()
            if isinstance(exc, TimeoutError):
                where = f"{url.host}:{url.port}"
                raise ConnectionError(f"simulator: no MQTT subscription at {where}") from None
            raise
        return self

    async def _disconnect(self) -> None:
        try:
            await asyncio.wait_for(self._client.disconnect(), SUBSCRIBE_TIMEOUT_S)
        except Exception:
            log.debug("listener: disconnect failed", exc_info=True)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._disconnect()
