"""Bulk work makes way for an alarm in flight (``Gateway._make_way``), and not for ever."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from gateway import app
from gateway.app import Gateway
from gateway.config import Settings


def _gateway(tmp_path: Path) -> Gateway:
    return Gateway(Settings(data_dir=tmp_path))  # not started: only its alarm bookkeeping


async def test_a_step_of_bulk_work_waits_while_an_incident_is_being_committed(
    tmp_path: Path,
) -> None:
    gw = _gateway(tmp_path)
    assert not gw._alarm_in_flight()
    await asyncio.wait_for(gw._make_way(), 0.1)  # nothing in flight: one turn of the loop

    committing: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    gw._applying.add(committing)
    assert gw._alarm_in_flight()
    step = asyncio.create_task(gw._make_way())
    await asyncio.sleep(0.05)
    assert not step.done()  # the sweep, pass or save waits for the alarm
    committing.set_result(None)
    gw._applying.discard(committing)
    await asyncio.wait_for(step, 0.5)


async def test_bulk_work_waits_at_most_its_limit(tmp_path: Path) -> None:
    gw = _gateway(tmp_path)
    gw._applying.add(asyncio.get_running_loop().create_future())  # never committed
    started = time.monotonic()
    await asyncio.wait_for(gw._make_way(), app.ALARM_WAY_MAX_S + 1)
    waited = time.monotonic() - started
    assert app.ALARM_WAY_MAX_S <= waited < app.ALARM_WAY_MAX_S + 0.5
