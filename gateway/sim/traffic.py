"""The fleet's traffic in time order: every reporter due at or before ``now``, then the next.

:class:`Traffic` is pure bookkeeping (a heap of due times, no clock, no I/O), so tests can run
minutes of simulated traffic instantly; :func:`drive` paces it against a real clock and hands
each message to a publisher. A heap keeps the cost per message logarithmic in the fleet size,
which is what a district of thousands of devices needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import random
import time
from collections.abc import Callable, Mapping

from gateway.profiles import DeviceProfile
from gateway.sim.behaviour import MODELS, Reporter
from gateway.sim.district import District
from gateway.sim.faults import FAULTS, BadMessages
from gateway.sim.fleet import SimDevice
from gateway.sim.patrol import patrol_rounds
from gateway.sim.plan import Message, TrafficPlan


def reporters(
    district: District,
    fleet: list[SimDevice],
    profiles: Mapping[str, DeviceProfile],
    plan: TrafficPlan,
) -> list[Reporter]:
    """One reporter per powered device, one per patrolling worker, and the bad-message source."""
    found: list[Reporter] = []
    ordinal: dict[str, int] = {}
    for device in fleet:
        n = ordinal[device.profile] = ordinal.get(device.profile, -1) + 1
        # Patrol tags have no model: the workers' rounds below make their scans.
        if not device.silent and device.profile in MODELS:
            found.append(MODELS[device.profile](device, profiles[device.profile], plan, n))
    found += patrol_rounds(district, fleet, plan)
    if plan.bad_message_every_s > 0:
        found.append(BadMessages(fleet, profiles))
    return found


class Traffic:
    """Schedules reporters at their plan's interval, each first within ``first_within_s``."""

    def __init__(
        self, reporters: list[Reporter], plan: TrafficPlan, start: float, seed: int = 2026
    ) -> None:
        self._reporters = reporters
        self._plan = plan
        self._rng = random.Random(seed)
        self._heap = [
            (start + self._rng.uniform(0, plan.first_within_s), i) for i in range(len(reporters))
        ]
        heapq.heapify(self._heap)

    def _interval(self, reporter: Reporter) -> float:
        if reporter.key == FAULTS:
            base = self._plan.bad_message_every_s
        else:
            base = self._plan.period_s[reporter.key]
        return base * self._rng.uniform(1 - self._plan.jitter, 1 + self._plan.jitter)

    def next_due(self) -> float:
        return self._heap[0][0] if self._heap else float("inf")

    def take(self, now: float) -> list[Message]:
        """The messages of every reporter due by ``now``; each is rescheduled after its due time."""
        due: list[Message] = []
        while self._heap and self._heap[0][0] <= now:
            at, i = heapq.heappop(self._heap)
            reporter = self._reporters[i]
            due.append(reporter.report(at))
            heapq.heappush(self._heap, (at + self._interval(reporter), i))
        return due


async def drive(
    traffic: Traffic,
    publish: Callable[[Message], None],
    stop: asyncio.Event,
    clock: Callable[[], float] = time.time,
) -> None:
    """Publish the traffic as it falls due until ``stop`` is set."""
    while not stop.is_set():
        wait = traffic.next_due() - clock()
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
            continue
        for message in traffic.take(clock()):
            publish(message)
        await asyncio.sleep(0)  # an in-process gateway shares this loop: let it take the batch
