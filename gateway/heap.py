"""Keeping CPython's cycle collector from stalling the event loop, and showing that it does not.

A full (generation 2) collection walks every tracked object: with 100k devices registered
(their records, liveness, rule state — ~600k objects) it takes 0.2-0.7 s, during which no
alarm is handled. Most of those objects live as long as the gateway and hold no reference
cycles, so walking them again and again finds nothing. :class:`HeapSteward` moves them out of
the collector's sight (``gc.freeze``): once the gateway is ready, and then every
:data:`SETTLE_S` the survivors of a young collection. Full collections then walk only what
was allocated since, and stay in milliseconds.

What this costs: a reference cycle that had become garbage just before a freeze is not
reclaimed until the next :data:`FULL_S` — then everything is unfrozen, collected once (one
pause of the old length, counted in ``firegrid_gc_pause_seconds``) and frozen again. Memory
held by acyclic objects is released by reference counting as ever; frozen or not.

:class:`LoopLag` measures what an alarm would wait for: how late a timer fires.

**Returning memory after a burst.** A burst — 100k devices registered by CSV, or each of them
heard for the first time after a power cut — leaves the C allocator holding the memory its
short-lived objects used (~10 MiB with 100k devices). After a settle that froze at least
:data:`TRIM_AFTER_NEW` new long-lived objects (the mark of such a burst), glibc's
``malloc_trim`` hands the free pages back to the system. It walks the whole heap (~15 ms with
100k devices), so it runs after bursts only, never in the steady state. And glibc is told to
keep serving blocks of :data:`MMAP_FROM` and more by ``mmap`` (its default raises that bound
to whatever size was last freed, up to 32 MiB, after which the tables of a city's sets and
dicts — a few MiB each, made and dropped by every save — fragment the heap instead of going
back to the system when freed; measured ~7 MiB with 100k devices). Socket reads (256 KiB)
stay below it.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Histogram

SETTLE_S = 10.0  # survivors of a young collection are frozen this often (~1 ms)
FULL_S = 6 * 3600.0  # everything collected once (a pause), reclaiming cycles frozen as garbage
LAG_PROBE_S = 0.25
LONG_PAUSE_S = 0.1  # a collection this long is logged, with what it walked
TRIM_AFTER_NEW = 20_000  # newly frozen objects in one settle that make it a burst (see above)
MMAP_FROM = 512 * 1024  # blocks this large are mmap'd, and unmapped when freed (see above)
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)

log = logging.getLogger(__name__)

_PAUSE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def _libc() -> Any:
    """glibc's allocator functions; None elsewhere (musl, macOS): nothing is tuned there."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
    except (OSError, TypeError):
        return None


class HeapSteward:
    """Freezes the long-lived heap; times every collection in ``firegrid_gc_pause_seconds``
    and every trim in ``firegrid_malloc_trim_seconds``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.pauses = Histogram(
            "firegrid_gc_pause_seconds",
            "Cycle-collector pauses (the event loop stands still meanwhile)",
            ["generation"],
            buckets=_PAUSE_BUCKETS,
            registry=registry,
        )
        self.trims = Histogram(
            "firegrid_malloc_trim_seconds",
            "Free memory handed back to the system after a burst (the loop waits meanwhile)",
            buckets=_PAUSE_BUCKETS,
            registry=registry,
        )
        libc = _libc()
        self._trim: Callable[[int], int] | None = None if libc is None else libc.malloc_trim
        if libc is not None:
            libc.mallopt(_M_MMAP_THRESHOLD, MMAP_FROM)
        self._started: float | None = None
        self._last_full = time.monotonic()

    def __enter__(self) -> HeapSteward:
        """Start timing collections; none runs until :meth:`ready` (start-up only allocates
        what the gateway keeps: with 100k devices, full collections cost ~1 s of it)."""
        gc.callbacks.append(self._on_gc)
        gc.disable()
        return self

    def __exit__(self, *exc: object) -> None:
        gc.enable()
        gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started is not None:
            took = time.perf_counter() - self._started
            self._started = None
            self.pauses.labels(str(info["generation"])).observe(took)
            if took >= LONG_PAUSE_S:
                # Not how many are frozen: counting them walks them all (see settle).
                log.warning(
                    "cycle collection of generation %s took %.0f ms (%s objects reclaimed,"
                    " generation counts %s)",
                    info["generation"],
                    took * 1000,
                    info["collected"],
                    gc.get_count(),
                )

    def settle(self) -> None:
        """Freeze what survived a young collection; every FULL_S, collect everything first.
        After a burst (or that full collection), hand the allocator's free memory back
        (:func:`trim`)."""
        full = time.monotonic() - self._last_full >= FULL_S
        if full:
            gc.unfreeze()
            gc.collect()
            self._last_full = time.monotonic()
        else:
            gc.collect(1)
        # What the freeze takes: the old generation outside the frozen, i.e. what survived
        # since the last settle. Never gc.get_freeze_count(): it walks every frozen object
        # (~0.7M with 100k devices, scattered over the heap) — 20-60 ms of cache misses under
        # load, twice a settle, while an alarm waits.
        burst = full or len(gc.get_objects(generation=2)) >= TRIM_AFTER_NEW
        gc.freeze()
        if burst:
            self.trim()

    def trim(self) -> None:
        """Return the C allocator's free pages to the system (glibc only), timed."""
        if self._trim is not None:
            with self.trims.time():
                self._trim(0)

    def ready(self) -> None:
        """The gateway has loaded what it keeps: freeze it, and let the collector run again.
        (Start-up leaves next to no garbage cycles: collecting 100k devices' objects first
        would add ~0.2 s to the start for a few dozen of them.)"""
        gc.freeze()
        gc.enable()
        self._last_full = time.monotonic()
        self.trim()  # what loading left free (rows read, JSON parsed)


class LoopLag:
    """How late the event loop runs a timer: ``firegrid_event_loop_lag_seconds``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.lag = Histogram(
            "firegrid_event_loop_lag_seconds",
            "How late a timer fired: what an arriving alarm would have waited",
            buckets=_PAUSE_BUCKETS,
            registry=registry,
        )

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + LAG_PROBE_S
            await asyncio.sleep(LAG_PROBE_S)
            self.lag.observe(max(0.0, loop.time() - due))
