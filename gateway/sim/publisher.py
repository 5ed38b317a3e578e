"""Publishes simulated traffic to a broker over MQTT 3.1.1, QoS 1, as field gateways do.

Devices reach a real broker through a few aggregating connections (an NB-IoT platform's
forwarder, a Zigbee2MQTT instance, a LoRa network server), not one socket each; ``connections``
spreads topics over several clients for a district-scale run, always the same topic on the same
connection so each device's messages stay in order.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from types import TracebackType
from typing import Self

from gmqtt import Client
from gmqtt.mqtt.constants import MQTTv311
from gmqtt.storage import PersistentStorage

from gateway.config import MqttUrl
from gateway.sim.plan import Message

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
DRAIN_TIMEOUT_S = 5.0


class MqttPublisher:
    """``async with MqttPublisher(url) as pub: pub.publish(message)``."""

    def __init__(self, url: MqttUrl, client_id: str = "firegrid-sim", connections: int = 1) -> None:
        self._url = url
        # Our own in-flight stores, so leaving the block can wait for the broker's PUBACKs.
        self._inflight = [PersistentStorage() for _ in range(connections)]
        self._clients = [
            Client(f"{client_id}-{i}", clean_session=True, persistent_storage=store)
            for i, store in enumerate(self._inflight)
        ]
        for client in self._clients:
            if url.username:
                client.set_auth_credentials(url.username, url.password)
        self.published = 0

    @property
    def pending(self) -> int:
        """Messages sent and not yet acknowledged by the broker."""
        return sum(len(store._messages) for store in self._inflight)

    def publish(self, message: Message) -> None:
        client = self._clients[zlib.crc32(message.topic.encode()) % len(self._clients)]
        client.publish(message.topic, message.payload, qos=1)
        self.published += 1

    async def __aenter__(self) -> Self:
        url = self._url
        connecting = (
            c.connect(url.host, url.port, ssl=url.tls, version=MQTTv311) for c in self._clients
        )
        try:
            await asyncio.wait_for(asyncio.gather(*connecting), CONNECT_TIMEOUT_S)
        except BaseException as exc:
            await self._disconnect()
            if isinstance(exc, TimeoutError):
                where = f"{url.host}:{url.port}"
                raise ConnectionError(f"simulator: no MQTT connection to {where}") from None
            raise
        return self

    async def _disconnect(self) -> None:
        await asyncio.gather(*(c.disconnect() for c in self._clients), return_exceptions=True)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await asyncio.wait_for(
                asyncio.gather(*(s.wait_empty() for s in self._inflight)), DRAIN_TIMEOUT_S
            )
        except TimeoutError:
            log.warning(
                "simulator: broker left messages unacknowledged after %s s", DRAIN_TIMEOUT_S
            )
        await self._disconnect()
