"""Messages from devices nobody registered: counted and listed, never stored as readings.

An installer opens ``GET /api/v1/devices/unregistered`` to see what is talking (topic, first
and last seen, a sample payload) and registers it.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_SAMPLE = 256


@dataclass(slots=True)
class UnregisteredSource:
    topic: str
    key: str
    first_seen: float
    last_seen: float
    count: int
    sample: str


def _sample(payload: bytes) -> str:
    head = payload[:MAX_SAMPLE]
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError:
        return "hex:" + head.hex()


class UnregisteredLog:
    """Bounded: past ``limit`` sources the least recently heard one is forgotten."""

    def __init__(self, limit: int = 10_000) -> None:
        self._limit = limit
        self._sources: dict[str, UnregisteredSource] = {}

    def record(self, topic: str, key: str, payload: bytes, at: float) -> None:
        source = self._sources.pop(key, None)
        if source is None:
            source = UnregisteredSource(topic, key, at, at, 0, _sample(payload))
            if len(self._sources) >= self._limit:
                del self._sources[next(iter(self._sources))]
        source.topic = topic
        source.last_seen = at
        source.count += 1
        self._sources[key] = source  # re-insert: dict order is least → most recently heard

    def list(self) -> list[UnregisteredSource]:
        return sorted(self._sources.values(), key=lambda s: s.last_seen, reverse=True)

    def forget(self, key: str) -> None:
        self._sources.pop(key, None)
