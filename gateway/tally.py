"""A number the event loop counts up, compiled (``gateway.compiled``): the per-message counters.

:class:`gateway.metrics.LoopCounter` shows it on ``/metrics``; the pipeline counts into it
directly, from compiled code to compiled code (the metrics module itself stays interpreted:
the Prometheus registry keeps weak references, which compiled instances do not take).
"""

from __future__ import annotations


class Tally:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount
