"""The InfluxDB sink's write path: a reading → its line → the bounded in-memory buffer.

Every accepted message passes through :meth:`LineBuffer.write`, so it lives apart from the
sink's async sender (``gateway.sinks.influx``, which takes batches from :attr:`points`) and is
compiled with the rest of the hot path (``gateway.compiled``): the pipeline's compiled code
calls it without a Python frame in between.

The buffer is bounded: when the server is down and the disk spool cannot keep up, the oldest
point makes way for the newest (``on_overflow`` counts and logs it) rather than memory
growing until the process is killed. ``on_batch`` wakes the sender once a batch is ready.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from gateway.model import Device, Reading
from gateway.sinks.lineprotocol import LineProtocol


class LineBuffer:
    """Lines waiting to be written, oldest first; ``accepted`` counts every line ever taken."""

    def __init__(
        self,
        lines: LineProtocol,
        max_points: int,
        batch_size: int,
        on_batch: Callable[[], object],
        on_overflow: Callable[[], object],
    ) -> None:
        self.points: deque[str] = deque()
        self.accepted = 0
        self._lines = lines
        self._max_points = max_points
        self._batch_size = batch_size
        self._on_batch = on_batch
        self._on_overflow = on_overflow

    def write(self, reading: Reading, device: Device) -> None:
        """Buffer the reading's line (nothing when it has no field InfluxDB can store)."""
        line = self._lines.line(reading, device)
        if line is None:
            return
        points = self.points
        if len(points) >= self._max_points:
            points.popleft()
            self._on_overflow()
        points.append(line)
        self.accepted += 1
        if len(points) >= self._batch_size:
            self._on_batch()
