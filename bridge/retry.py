"""Exponential backoff with jitter for the outbox channels that talk to other people's servers.

The MQTT channel keeps the ingest client's short schedule (a local broker comes back in
seconds); the grid platform and the notification services may be down for minutes, so their
schedule grows further before it levels off.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """``backoff(attempts)``: the delay before the next try after ``attempts`` failed ones.

    first, 2×first, 4×first … up to ``cap``; each delay is drawn from the upper half of its
    step, so many rows failing together (the platform went down) do not retry in lockstep.
    """

    first_s: float = 1.0
    cap_s: float = 300.0

    def __call__(self, attempts: int) -> float:
        # min() before the power would overflow: 2**attempts grows without bound.
        ceiling = min(self.cap_s, self.first_s * 2 ** min(attempts, 62))
        return random.uniform(ceiling / 2, ceiling)


DEFAULT_BACKOFF = Backoff()
