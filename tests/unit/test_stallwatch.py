"""The stall watch names where the event loop was when it stalled, once per stall."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from gateway.stallwatch import StallWatch
from tests.fixtures.waiting import eventually


def _hold_the_loop(seconds: float) -> None:
    time.sleep(seconds)  # what a long collection or a city-wide pass does to an alarm


def _stalls(registry: CollectorRegistry) -> float:
    return registry.get_sample_value("firegrid_event_loop_stalls_total") or 0.0


async def test_a_stall_is_logged_once_with_the_stack_that_held_the_loop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = CollectorRegistry()
    # Long enough that the test process's own pauses (a full collection of a big test heap)
    # do not count; the hold below is five of them: one stall, logged once, not five times.
    watch = StallWatch(registry, threshold_s=0.25)
    caplog.set_level(logging.WARNING, logger="gateway.stallwatch")
    task = asyncio.create_task(watch.run())
    await asyncio.sleep(0.3)
    before = _stalls(registry)

    _hold_the_loop(1.25)
    await eventually(lambda: _stalls(registry) > before)
    await asyncio.sleep(0.3)
    assert _stalls(registry) == before + 1
    [record] = [r for r in caplog.records if "_hold_the_loop" in r.getMessage()]
    assert "stalled for" in record.getMessage()
    assert "time.sleep(seconds)" in record.getMessage()  # the line that held it

    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert not any(t.name == "stall-watch" for t in threading.enumerate())


def test_a_threshold_must_be_positive() -> None:
    with pytest.raises(ValueError, match="threshold_s must be > 0"):
        StallWatch(CollectorRegistry(), 0)


@pytest.mark.parametrize("stall_log_ms", [0, 100])
async def test_the_gateway_watches_only_when_asked(tmp_path: Path, stall_log_ms: int) -> None:
    from gateway.app import Gateway
    from gateway.config import Settings

    settings = Settings(data_dir=tmp_path / "data", api_port=0, stall_log_ms=stall_log_ms)
    async with Gateway(settings) as gateway:
        shown = b"firegrid_event_loop_stalls_total" in gateway.metrics.render()
        assert shown is bool(stall_log_ms)  # the watch exists only when asked for
        if stall_log_ms:
            await eventually(lambda: any(t.name == "stall-watch" for t in threading.enumerate()))
    assert not any(t.name == "stall-watch" for t in threading.enumerate())  # stopped with it
