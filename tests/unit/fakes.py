"""Fakes for unit tests only (integration tests use real servers)."""

from __future__ import annotations

from gateway.metrics import Metrics
from gateway.model import Device, Reading
from gateway.sinks.base import Sink, SinkHealth


class DictDirectory:
    def __init__(self, *devices: Device) -> None:
        self.devices = {d.id: d for d in devices}
        self.external = {d.external_id: d for d in devices if d.external_id is not None}

    def index(self) -> tuple[dict[str, Device], dict[str, Device]]:
        return self.devices, self.external


class RecordingSink(Sink):
    name = "recording"

    def __init__(self) -> None:
        self.points: list[tuple[Reading, Device]] = []

    def write(self, reading: Reading, device: Device) -> None:
        self.points.append((reading, device))

    def health(self) -> SinkHealth:
        return SinkHealth(True, "ok", 0)

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


def counter(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return value or 0.0
