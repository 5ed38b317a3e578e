"""Fakes for unit tests only (integration tests use real servers)."""

from __future__ import annotations

from gateway.metrics import Metrics
from gateway.model import Device, Reading
from gateway.sinks.base import Sink, SinkHealth


class DictDirectory:
    def __init__(self, *devices: Device) -> None:
        self.devices = {d.id: d for d in devices}

    def by_id(self, device_id: str) -> Device | None:
        return self.devices.get(device_id)

    def by_external_id(self, external_id: str) -> Device | None:
        return next((d for d in self.devices.values() if d.external_id == external_id), None)


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
