"""The next wake-up of every open incident, ordered, so ``tick()`` costs nothing when idle."""

from __future__ import annotations

import heapq


class TimerQueue:
    """A heap of (when, incident id); ``_wake`` is the truth and stale heap entries are skipped."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, str]] = []
        self._wake: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._wake)

    def set(self, incident_id: str, when: float | None) -> None:
        if when is None:
            self._wake.pop(incident_id, None)
            return
        if self._wake.get(incident_id) == when:
            return
        self._wake[incident_id] = when
        heapq.heappush(self._heap, (when, incident_id))
        if len(self._heap) > 2 * len(self._wake) + 64:
            # Every change pushes a new entry; rebuild before stale ones dominate.
            self._heap = [(t, i) for i, t in self._wake.items()]
            heapq.heapify(self._heap)

    def next_at(self) -> float | None:
        while self._heap and self._wake.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> list[str]:
        """Ids whose wake-up is at or before ``now``, earliest first; they are removed."""
        due: list[str] = []
        while (at := self.next_at()) is not None and at <= now:
            _, incident_id = heapq.heappop(self._heap)
            del self._wake[incident_id]
            due.append(incident_id)
        return due
