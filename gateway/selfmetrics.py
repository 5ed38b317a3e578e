"""The gateway's own metrics as ``gateway`` points in the time-series sink (Gateway health).

``/api/v1/metrics`` is Prometheus text, but the stack has no Prometheus and the dashboards are
InfluxQL only: so every ``interval`` the gateway reads its Prometheus registry and writes it to
the same sink as the readings, one ``gateway`` point per label set. One datasource then serves
every dashboard, and the health panels are tested against InfluxDB like the others.

A sample ``firegrid_messages_rejected_total{reason="bad_json"} 12`` becomes the point
``gateway,device=<instance>,profile=firegrid-gateway,reason=bad_json messages_rejected_total=12``.
Labels in :data:`~gateway.dashboards.points.GATEWAY_TAGS` become tags (the sink must be built
with them as tag fields); any other label is folded into the field name. Counters stay
cumulative — the dashboards take ``non_negative_derivative``, which also absorbs a restart —
and histograms keep ``_sum`` and ``_count`` (their ratio is the mean), not their buckets.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence

from prometheus_client.registry import Collector

from gateway.dashboards.points import GATEWAY_TAGS
from gateway.model import Device, FieldValue, Reading
from gateway.sinks.base import Sink

GATEWAY_MEASUREMENT = "gateway"
GATEWAY_PROFILE = "firegrid-gateway"
_PREFIX = "firegrid_"
_SKIPPED = ("_bucket", "_created")
_UNSAFE = re.compile(r"[^A-Za-z0-9_]+")

Point = tuple[Reading, Device]


def gateway_device(instance: str) -> Device:
    """The pseudo-device the points are tagged with: ``device=<instance>``."""
    return Device(id=instance, profile=GATEWAY_PROFILE, name="firegrid gateway", grid="")


def snapshot(registry: Collector, device: Device, at: float) -> list[Point]:
    """Every sample of ``registry`` now, grouped into one point per label set."""
    groups: dict[tuple[tuple[str, str], ...], dict[str, FieldValue]] = {}
    for family in registry.collect():
        for sample in family.samples:
            if sample.name.endswith(_SKIPPED):
                continue
            tags = tuple(sorted((k, v) for k, v in sample.labels.items() if k in GATEWAY_TAGS))
            field = sample.name.removeprefix(_PREFIX) + "".join(
                "_" + _UNSAFE.sub("_", v)
                for k, v in sorted(sample.labels.items())
                if k not in GATEWAY_TAGS
            )
            groups.setdefault(tags, {})[field] = float(sample.value)
    return [
        (Reading(device.id, device.profile, GATEWAY_MEASUREMENT, at, dict(tags) | fields), device)
        for tags, fields in sorted(groups.items())
    ]


class SelfMetrics:
    """``await self_metrics.write()`` every ``interval`` (e.g. with ``Gateway._every``)."""

    def __init__(
        self,
        registry: Collector,
        sinks: Sequence[Sink],
        instance: str,
        clock: Callable[[], float],
    ) -> None:
        self._registry = registry
        self._sinks = sinks
        self._device = gateway_device(instance)
        self._clock = clock

    async def write(self) -> int:
        """Write one snapshot; the number of points.

        The registry is read in a worker thread: the outbox-depth collector answers a scrape
        from another thread by querying the store on the event loop, and would only repeat
        its last values if called from the loop itself.
        """
        at = self._clock()
        points = await asyncio.to_thread(snapshot, self._registry, self._device, at)
        for reading, device in points:
            for sink in self._sinks:
                sink.write(reading, device)
        return len(points)
