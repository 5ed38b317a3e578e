"""MQTT dispatch against a real Mosquitto that crashes between our PUBLISH and its PUBACK."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest

from bridge.mqtt_dispatch import MqttDispatcher
from tests.integration.harness import Subscriber, eventually
from tests.servers.mosquitto import MosquittoServer
from tests.unit.test_incident_world import open_world, smoke

pytestmark = pytest.mark.integration


class AckedPublisher:
    """A QoS 1 publisher (paho, its own thread) whose ``publish`` returns a future that is
    done when the broker's PUBACK arrives: the contract of ``MqttIngest.publish_acked``."""

    def __init__(self, port: int) -> None:
        self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()
        self._waiting: dict[int, asyncio.Future[None]] = {}
        self._acked_early: set[int] = set()
        self._client = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id=f"dispatch-{uuid.uuid4().hex[:6]}"
        )
        self._client.on_publish = self._on_publish
        self._client.reconnect_delay_set(0.05, 0.5)
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()

    def connected(self) -> bool:
        return self._client.is_connected()

    def publish(self, topic: str, payload: bytes, qos: int) -> asyncio.Future[None]:
        puback: asyncio.Future[None] = self._loop.create_future()
        mid = self._client.publish(topic, payload, qos).mid
        with self._lock:  # the PUBACK may have come before we got here
            if mid in self._acked_early:
                self._acked_early.discard(mid)
                puback.set_result(None)
            else:
                self._waiting[mid] = puback
        return puback

    def _on_publish(self, client: paho.Client, userdata: object, mid: int, *_: Any) -> None:
        with self._lock:
            puback = self._waiting.pop(mid, None)
            if puback is None:
                self._acked_early.add(mid)
                return
        self._loop.call_soon_threadsafe(_done, puback)

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


def _done(puback: asyncio.Future[None]) -> None:
    if not puback.done():
        puback.set_result(None)


async def test_a_broker_crash_between_publish_and_puback_loses_no_dispatch(
    mosquitto: MosquittoServer, tmp_path: Path
) -> None:
    """The broker freezes with our PUBLISH in its socket and dies without a PUBACK: the
    dispatch stays in the outbox, and once the broker is back the worker's phone gets it."""
    async with open_world(tmp_path / "world") as w:
        await w.service.apply([smoke("smoke-1")])
        queued = {row.event_id for row in await w.pending()}
        publisher = AckedPublisher(mosquitto.port)
        try:
            await eventually(publisher.connected, "the dispatcher's client connected")
            dispatcher = MqttDispatcher(
                w.store,
                publisher.publish,
                ready=publisher.connected,
                clock=w.clock,
                backoff=lambda n: 1.0,
                ack_timeout_s=0.5,
            )
            assert mosquitto.proc is not None
            os.kill(mosquitto.proc.pid, signal.SIGSTOP)  # takes the PUBLISH, answers nothing
            assert await dispatcher.run_once() == 0
            assert {row.event_id for row in await w.pending()} == queued  # nothing delivered

            mosquitto.proc.kill()  # the crash: what it held in memory is gone
            mosquitto.proc.wait()
            mosquitto.start()
            phone = Subscriber(mosquitto.port, "grid/#")
            try:
                await eventually(publisher.connected, "the dispatcher's client reconnected")
                w.clock.advance(1)
                assert await dispatcher.run_once() == len(queued)
                assert await w.pending() == []

                def received() -> set[str]:
                    return {str(m["event_id"]) for _, m in list(phone.messages)}

                await eventually(lambda: received() == queued, "every dispatch received")
                assert "grid/workers/w-0301/alarms" in phone.topics()
            finally:
                phone.close()
        finally:
            publisher.close()
