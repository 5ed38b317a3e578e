"""Where the event loop was when it stalled: the answer to "why was this alarm late?".

Every alarm is handled on the event loop, so anything that holds the loop — a long
collection, a save's step, a sweep over a city's devices — holds the alarm behind it.
``firegrid_event_loop_lag_seconds`` (:class:`gateway.heap.LoopLag`) says *that* it happened;
with ``FIREGRID_STALL_LOG_MS`` set, :class:`StallWatch` also says *where*: a thread of its own
looks every quarter of the threshold at a timestamp the loop renews as often, and when the
loop has not renewed it for longer than the threshold, logs the loop thread's stack — once per
stall — and counts the stall in ``firegrid_event_loop_stalls_total``.

Off by default: the loop's renewals and the thread's looks cost a few hundredths of a core.
A stall is also reported when the whole process was not given a CPU (a saturated machine):
the stack then shows wherever the loop happened to be, and varies from stall to stall; a
stall that recurs at the same place is the gateway's own.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import traceback

from prometheus_client import CollectorRegistry, Counter

log = logging.getLogger(__name__)

STACK_DEPTH = 16  # frames logged, innermost last


class StallWatch:
    """Logs the event loop's stack when it has not run for ``threshold_s`` (see module)."""

    def __init__(self, registry: CollectorRegistry, threshold_s: float) -> None:
        if threshold_s <= 0:
            raise ValueError("threshold_s must be > 0")
        self.threshold_s = threshold_s
        self.stalls = Counter(
            "firegrid_event_loop_stalls",
            "Times the event loop did not run for longer than FIREGRID_STALL_LOG_MS "
            "(each logged with where it was)",
            registry=registry,
        )
        self._beat = time.monotonic()
        self._stop = threading.Event()

    async def run(self) -> None:
        """Renew the loop's timestamp until cancelled; the watching thread lives as long."""
        loop_thread = threading.get_ident()
        watcher = threading.Thread(
            target=self._watch, args=(loop_thread,), name="stall-watch", daemon=True
        )
        self._beat = time.monotonic()
        watcher.start()
        try:
            while True:
                self._beat = time.monotonic()
                await asyncio.sleep(self.threshold_s / 4)
        finally:
            self._stop.set()
            watcher.join()

    def _watch(self, loop_thread: int) -> None:
        reported = 0.0  # the beat of the stall already logged
        while not self._stop.wait(self.threshold_s / 4):
            beat = self._beat
            late = time.monotonic() - beat - self.threshold_s / 4  # beyond the renewal period
            if late <= self.threshold_s or beat == reported:
                continue
            reported = beat
            frame = sys._current_frames().get(loop_thread)
            stack = traceback.format_stack(frame, limit=STACK_DEPTH) if frame else ["?\n"]
            self.stalls.inc()
            log.warning(
                "event loop stalled for %.0f ms so far (alarms wait meanwhile); it is at:\n%s",
                late * 1000,
                "".join(stack).rstrip(),
            )
