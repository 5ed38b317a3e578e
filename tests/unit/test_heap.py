"""The heap steward keeps the long-lived heap out of the cycle collector; loop lag is measured."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from gateway import heap as heap_module
from gateway.heap import HeapSteward, LoopLag
from tests.fixtures.memory import rss_mib


class Node:
    def __init__(self) -> None:
        self.children: list[Node] = []


def _count(registry: CollectorRegistry, name: str) -> float:
    return sum(s.value for m in registry.collect() for s in m.samples if s.name == name + "_count")


def test_what_start_up_loaded_is_frozen_and_collections_are_timed() -> None:
    registry = CollectorRegistry()
    try:
        with HeapSteward(registry) as heap:
            assert not gc.isenabled()  # start-up: no collection walks a half-loaded fleet
            fleet = [Node() for _ in range(10_000)]
            heap.ready()
            assert gc.isenabled()
            assert gc.get_freeze_count() >= len(fleet)
            before = _count(registry, "firegrid_gc_pause_seconds")
            gc.collect()
            assert _count(registry, "firegrid_gc_pause_seconds") == before + 1

            later = [Node() for _ in range(5_000)]  # e.g. devices heard for the first time
            frozen = gc.get_freeze_count()
            heap.settle()
            assert gc.get_freeze_count() >= frozen + len(later)
            assert all(not gc.is_tracked(x) or x not in gc.get_objects(2) for x in later[:3])
        assert gc.isenabled()
    finally:
        gc.unfreeze()
        gc.enable()


def test_settle_reclaims_garbage_cycles_before_freezing_them() -> None:
    registry = CollectorRegistry()
    try:
        with HeapSteward(registry) as heap:
            heap.ready()
            cycle = Node()
            cycle.children.append(cycle)
            gone = weakref.ref(cycle)
            del cycle  # garbage, reachable only from itself
            heap.settle()
            assert gone() is None  # collected, not frozen
    finally:
        gc.unfreeze()


async def test_a_blocked_event_loop_shows_as_lag() -> None:
    registry = CollectorRegistry()
    lag = LoopLag(registry)
    task = asyncio.create_task(lag.run())
    try:
        await asyncio.sleep(0)
        time.sleep(0.4)  # noqa: ASYNC251 — a callback holding the loop: what an alarm waits behind
        deadline = time.monotonic() + 5
        while _count(registry, "firegrid_event_loop_lag_seconds") == 0:
            assert time.monotonic() < deadline, "no lag observed"
            await asyncio.sleep(0.05)
        slow = [
            s.value
            for m in registry.collect()
            for s in m.samples
            if s.name == "firegrid_event_loop_lag_seconds_bucket" and s.labels["le"] == "0.1"
        ]
        assert slow == [0.0]  # the first probe fired at least 0.1 s late
    finally:
        task.cancel()


async def test_a_gateway_that_fails_to_start_leaves_the_collector_running(
    tmp_path: Path,
) -> None:
    from gateway.app import Gateway
    from gateway.config import Settings
    from gateway.yamlfile import ConfigFileError

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "broken.yaml").write_text("rules: [\n")  # fails after the registry is open
    with pytest.raises(ConfigFileError):
        async with Gateway(Settings(data_dir=tmp_path / "data", rules_dir=rules)):
            pass
    assert gc.isenabled()


def test_a_burst_is_followed_by_a_trim_and_the_steady_state_is_not() -> None:
    registry = CollectorRegistry()
    try:
        with HeapSteward(registry) as heap:
            # The gateway's supported platform (Debian/Ubuntu, CI) is glibc: no trim there is
            # a failure, not a skip. Elsewhere nothing is tuned (the fake-libc test covers it).
            assert heap._trim is not None, "glibc's malloc_trim not found"
            heap.ready()
            trims = _count(registry, "firegrid_malloc_trim_seconds")
            assert trims == 1  # what loading left
            few = [Node() for _ in range(100)]
            heap.settle()
            assert _count(registry, "firegrid_malloc_trim_seconds") == trims  # steady: none

            # A burst: long-lived objects, and twice their size in short-lived buffers between
            # them (freed, but below the top of the heap, so free() alone keeps the pages).
            kept, scratch = [], []
            for _ in range(40_000):
                scratch.append(bytes(2048))
                kept.append(Node())
            del scratch
            before = rss_mib()
            heap.settle()
            assert _count(registry, "firegrid_malloc_trim_seconds") == trims + 1
            assert before - rss_mib() > 40  # ~80 MiB of buffers were handed back
            assert len(kept) + len(few) == 40_100
    finally:
        gc.unfreeze()


def test_glibc_is_told_to_unmap_big_blocks_when_freed(monkeypatch: pytest.MonkeyPatch) -> None:
    """glibc's default would serve every block under the largest one freed so far (up to
    32 MiB) from the heap, where freeing it returns nothing while a neighbour lives."""
    calls: list[tuple[str, int, int]] = []

    class Libc:
        def mallopt(self, param: int, value: int) -> int:
            calls.append(("mallopt", param, value))
            return 1

        def malloc_trim(self, pad: int) -> int:
            calls.append(("malloc_trim", pad, 0))
            return 1

    monkeypatch.setattr(heap_module, "_libc", Libc)
    steward = HeapSteward(CollectorRegistry())
    assert calls == [("mallopt", -3, 512 * 1024)]  # M_MMAP_THRESHOLD, fixed
    steward.trim()
    assert calls[-1] == ("malloc_trim", 0, 0)
    monkeypatch.setattr(heap_module, "_libc", lambda: None)  # musl, macOS: nothing to tune
    assert HeapSteward(CollectorRegistry())._trim is None


def test_the_steward_never_walks_the_frozen_heap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counting the frozen walks every frozen object: with 100k devices that stalled the loop
    20-60 ms every settle under load. What a settle freezes is counted in the old generation
    instead; a full collection (every FULL_S) is followed by a trim."""
    registry = CollectorRegistry()

    def walks_the_frozen() -> int:
        raise AssertionError("settle walked the frozen heap")

    try:
        with HeapSteward(registry) as heap:
            heap.ready()
            trims = _count(registry, "firegrid_malloc_trim_seconds")
            monkeypatch.setattr(heap_module.gc, "get_freeze_count", walks_the_frozen)
            kept = [Node() for _ in range(heap_module.TRIM_AFTER_NEW + 100)]
            heap.settle()  # a burst: trimmed
            assert _count(registry, "firegrid_malloc_trim_seconds") == trims + 1
            few = [Node() for _ in range(100)]
            heap.settle()  # steady: not
            assert _count(registry, "firegrid_malloc_trim_seconds") == trims + 1
            heap._last_full -= heap_module.FULL_S
            heap.settle()  # the full collection: trimmed after
            assert _count(registry, "firegrid_malloc_trim_seconds") == trims + 2
            assert len(kept) + len(few) == heap_module.TRIM_AFTER_NEW + 200
    finally:
        monkeypatch.undo()
        gc.unfreeze()
        gc.enable()
