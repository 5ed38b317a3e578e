"""Delivery health on ``/metrics`` and the dead-letter API (``/outbox``), over the real store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridge.health import DeliveryHealth
from bridge.mqtt_dispatch import DeliveryError, OutboxDelivery
from gateway.api.outbox import outbox_router
from gateway.incidents.outbox import OutboxRow
from gateway.metrics import Metrics
from tests.fixtures.registry import TOKEN
from tests.unit.test_bridge_support import BridgeApi, bridge_api


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[BridgeApi]:
    async with bridge_api(tmp_path, lambda store, clock: [outbox_router(store)]) as harness:
        yield harness


def metrics_of(api: BridgeApi) -> Metrics:
    metrics: Metrics = api.incidents.api.app.state.firegrid.metrics
    return metrics


async def refuse_workers(row: OutboxRow) -> None:
    if row.recipient is not None and row.recipient.role == "worker":
        raise DeliveryError("phone switched off")


async def sample(api: BridgeApi, name: str, channel: str) -> float | None:
    text = (await api.client(TOKEN).get("/metrics")).text
    for line in text.splitlines():
        if line.startswith(f'{name}{{channel="{channel}"}} '):
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_metrics_show_depth_age_dead_letters_attempts_and_failures_per_channel(
    api: BridgeApi,
) -> None:
    await api.incidents.alarm("sd-0101")  # 3 rows: the event, the worker, the event
    mqtt = OutboxDelivery(
        api.store, refuse_workers, channel="mqtt", clock=api.incidents.clock, max_attempts=1
    )
    health = DeliveryHealth(api.store, [mqtt], api.incidents.clock, asyncio.get_running_loop())
    metrics_of(api).registry.register(health)
    assert await sample(api, "firegrid_outbox_depth", "mqtt") == 3
    api.incidents.clock.now += 40
    assert await sample(api, "firegrid_outbox_oldest_age_seconds", "mqtt") == 40

    await mqtt.run_once()  # the worker's dispatch fails once: dead at max_attempts=1

    assert await sample(api, "firegrid_outbox_depth", "mqtt") == 1  # its incident's last event
    assert await sample(api, "firegrid_outbox_dead", "mqtt") == 1
    assert await sample(api, "firegrid_outbox_attempts_total", "mqtt") == 2
    assert await sample(api, "firegrid_outbox_failures_total", "mqtt") == 1
    assert await sample(api, "firegrid_outbox_delivered_total", "mqtt") == 1
    await mqtt.run_once()
    assert await sample(api, "firegrid_outbox_depth", "mqtt") == 0
    assert await sample(api, "firegrid_outbox_oldest_age_seconds", "mqtt") == 0


async def test_dead_letters_are_listed_and_redriven_by_an_admin_only(api: BridgeApi) -> None:
    fire = await api.incidents.alarm("sd-0101")
    mqtt = OutboxDelivery(api.store, refuse_workers, channel="mqtt", max_attempts=1)
    await mqtt.run_once()
    admin = api.client(TOKEN)

    [dead] = (await admin.get("/outbox/dead")).json()

    assert dead["channel"] == "mqtt" and dead["incident_id"] == fire
    assert dead["recipient"] == {"role": "worker", "id": "w-001"}
    assert (dead["attempts"], dead["last_error"]) == (1, "phone switched off")
    assert dead["payload"]["event_id"] == dead["event_id"] and dead["type"] == "dispatch"
    assert (await admin.get("/outbox/dead", params={"channel": "platform"})).json() == []
    officer = api.client(await api.incidents.api.issue("officer"))
    assert (await officer.get("/outbox/dead")).status_code == 403
    assert (await officer.post(f"/outbox/{dead['id']}/redrive")).status_code == 403
    assert (await api.client().get("/outbox/dead")).status_code == 401

    redriven = await admin.post(f"/outbox/{dead['id']}/redrive", params={"channel": "mqtt"})
    assert (redriven.status_code, redriven.json()) == (200, {"redriven": 1})
    assert (await admin.get("/outbox/dead")).json() == []
    again = await admin.post(f"/outbox/{dead['id']}/redrive")
    assert (again.status_code, again.json()) == (404, {"detail": f"no dead letter {dead['id']}"})

    await mqtt.run_once()  # fails again: dead again; the whole channel comes back at once
    everything = await admin.post("/outbox/dead/redrive", params={"channel": "mqtt"})
    assert everything.json() == {"redriven": 1}
    delivered = OutboxDelivery(api.store, lambda row: asyncio.sleep(0), channel="mqtt")
    assert await delivered.run_once() == 2  # the re-driven dispatch and the event behind it
