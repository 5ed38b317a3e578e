"""Helpers for integration tests: a running Gateway, its REST client, a publisher, waiting."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as paho

from gateway.app import Gateway
from gateway.config import Settings

REPO = Path(__file__).resolve().parents[2]
TOKEN = "test-admin-token"
DISTRICT = REPO / "tests" / "fixtures" / "district.geojson"


async def eventually(
    probe: Callable[[], Any], what: str, within: float = 20.0, interval: float = 0.05
) -> Any:
    """Poll ``probe`` until it returns something truthy and return it; fail with the last value.

    Coroutine functions are awaited; plain functions (blocking HTTP to a test server) run in a
    thread so the gateway sharing this event loop keeps working meanwhile.
    """
    deadline = time.monotonic() + within
    while True:
        result = (
            await probe() if asyncio.iscoroutinefunction(probe) else await asyncio.to_thread(probe)
        )
        if inspect.isawaitable(result):  # a lambda wrapping an async call
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not true after {within} s (last: {result!r:.500})")
        await asyncio.sleep(interval)


def settings_for(tmp_path: Path, mqtt_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "mqtt_url": mqtt_url,
        "mqtt_client_id": f"firegrid-test-{uuid.uuid4().hex[:8]}",
        "data_dir": tmp_path / "data",
        "api_port": 0,
        "admin_token": TOKEN,
        "influx_flush_interval_s": 0.1,
        "profiles_dir": REPO / "device_profiles",
        "rules_dir": REPO / "rules",
    }
    return Settings.model_validate(values | overrides)


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[Gateway, httpx.AsyncClient]]:
    """A started gateway, connected to its broker, and an authenticated REST client."""
    async with Gateway(settings) as gateway:
        assert gateway.mqtt is not None
        await asyncio.wait_for(gateway.mqtt.wait_connected(), 15)
        base = f"http://127.0.0.1:{gateway.api_port}/api/v1"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as api:
            yield gateway, api


async def register(api: httpx.AsyncClient, devices: list[dict[str, Any]]) -> None:
    """Import the test district's grids (idempotent) and register ``devices``."""
    response = await api.post(
        "/grids", content=DISTRICT.read_bytes(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code in (200, 201), response.text
    for device in devices:
        response = await api.post("/devices", json=device)
        assert response.status_code == 201, response.text


def publish(url_port: int, messages: list[tuple[str, bytes]], qos: int = 1) -> None:
    """Publish with a separate client (paho), waiting for every PUBACK."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:6]}")
    client.connect("127.0.0.1", url_port)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=qos) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(10)
            assert info.is_published()
    finally:
        # disconnect first: paho's network thread keeps looping while a QoS 1 message is unacked,
        # so loop_stop() alone would hang on a broker that never answered
        client.disconnect()
        client.loop_stop()


async def metric(api: httpx.AsyncClient, name: str, **labels: str) -> float:
    """A sample from the gateway's /metrics (Prometheus text), 0 when absent."""
    text = (await api.get("/metrics")).text
    want = name + (
        "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else ""
    )
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


class Subscriber:
    """Collects JSON messages on topic filters (the grid worker's phone, a station's screen)."""

    def __init__(self, port: int, *filters: str) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self._client = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id=f"sub-{uuid.uuid4().hex[:6]}"
        )
        self._client.on_message = self._on_message
        self._subscribed = threading.Event()
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.connect("127.0.0.1", port)
        self._client.subscribe([(f, 1) for f in filters])
        self._client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError(f"no SUBACK for {filters}")

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        self.messages.append((msg.topic, orjson.loads(msg.payload)))

    def on(self, topic: str) -> list[dict[str, Any]]:
        return [payload for t, payload in list(self.messages) if t == topic]

    def topics(self) -> set[str]:
        return {t for t, _ in list(self.messages)}

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


class FastClock:
    """Wall time running ``speed`` times faster from now on: 60 → a minute passes in a second."""

    def __init__(self, speed: float) -> None:
        self._speed = speed
        self._start_wall = time.time()
        self._start_mono = time.monotonic()

    def __call__(self) -> float:
        return self._start_wall + (time.monotonic() - self._start_mono) * self._speed
