"""The time-series sink plugin interface: InfluxDB (v1/v2) and the embedded SQLite history."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

from gateway.model import Device, Reading


@dataclass(frozen=True, slots=True)
class SinkHealth:
    """``buffered``: every point not yet written; ``spooled``: those of them on disk."""

    ok: bool
    detail: str
    buffered: int = 0
    spooled: int = 0


class PointWriter(Protocol):
    """Where the pipeline hands each point: a sink's :attr:`Sink.writer`."""

    def write(self, reading: Reading, device: Device) -> None: ...


class Sink(abc.ABC):
    """Receives every accepted reading. ``write`` never blocks ingest: it only buffers.

    ``async with sink:`` starts the background writer; leaving the block flushes what is
    buffered (or spools it) before returning.
    """

    name: str

    @abc.abstractmethod
    def write(self, reading: Reading, device: Device) -> None:
        """Buffer one reading with the device it came from (for tags: grid, community, …)."""

    @property
    def writer(self) -> PointWriter:
        """What the pipeline calls for each point: the sink itself, or a compiled write path
        of its own (InfluxDB's), so that no Python frame stands between compiled stages."""
        return self

    @abc.abstractmethod
    def health(self) -> SinkHealth: ...

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def stop(self) -> None:
        """Flush what is buffered, then release connections."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
