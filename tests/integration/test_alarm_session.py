"""An alarm on its own topic overtakes the telemetry the broker has queued for the gateway.

The alarm lane (test_alarm_lane.py) orders what the gateway has already read; it cannot reach
into the broker's queue. A device's event uplink (``devices/{id}/alarm``) is read on a second
session of the gateway, which the broker queues apart: with the gateway down while 20,000
telemetry messages pile up for it, the alarm sent after them is dispatched when the gateway
comes back while most of that telemetry is still to come.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.app import Gateway
from tests.integration.harness import (
    Subscriber,
    eventually,
    metric,
    publish,
    running,
    settings_for,
)
from tests.integration.test_alarm_lane import FLOOD, SENSORS, flood, register_district
from tests.integration.test_incidents_e2e import ALARM
from tests.servers.mosquitto import MosquittoServer

pytestmark = pytest.mark.integration


async def test_an_alarm_on_its_own_topic_overtakes_the_telemetry_queued_for_the_gateway(
    mosquitto: MosquittoServer, tmp_path: Path
) -> None:
    phones = Subscriber(mosquitto.port, "grid/workers/+/alarms")
    settings = settings_for(tmp_path, mosquitto.url)
    try:
        async with running(settings) as (gateway, api):  # both sessions subscribe, then stop
            await register_district(api)
            assert gateway.mqtt_alarm is not None and gateway.mqtt_alarm.connected
        # The broker queues all of it for the gateway's sessions, the alarm last.
        await asyncio.to_thread(
            publish, mosquitto.port, [*flood(), ("devices/sd-fire/alarm", ALARM)]
        )
        async with running(settings) as (gateway, api):
            [dispatch] = await eventually(
                lambda: phones.on("grid/workers/w-001/alarms"), "the worker's phone rings"
            )
            await eventually(
                lambda: _at_least(api, FLOOD + 1), "the queued telemetry, all of it", within=120
            )
            alarm_heard = _last_seen(gateway, "sd-fire")
            flood_heard = [_last_seen(gateway, f"sd-{i}") for i in range(SENSORS)]
            health = gateway.health()["mqtt"]
    finally:
        phones.close()
    assert dispatch["device_id"] == "sd-fire" and dispatch["kind"] == "fire"
    # Sent after the whole flood, yet taken while the flood was still coming in: it did not
    # wait behind it (on one session it would have come after the last of it).
    assert alarm_heard < max(flood_heard)
    assert health == {"ok": True, "detail": "connected"}


def _last_seen(gateway: Gateway, device_id: str) -> float:
    state = gateway.tracker.get(device_id)
    assert state is not None and state.last_seen is not None, device_id
    return state.last_seen


async def _at_least(api: object, count: int) -> bool:
    return await metric(api, "firegrid_messages_received_total") >= count  # type: ignore[arg-type]
