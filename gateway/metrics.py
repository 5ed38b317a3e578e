"""Prometheus metrics for one gateway instance (its own registry, so tests can run several)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily

from gateway import __version__, compiled
from gateway.tally import Tally


class LoopCounter:
    """A counter that only the event loop's thread counts: a plain number, no lock.

    prometheus_client's ``Counter.inc`` takes a lock every time (~0.25 µs); the two counters
    every message passes (received, accepted) cost a few per cent of a message's CPU that way.
    Shown on ``/metrics`` exactly as a ``Counter`` of the same name and labels would be
    (``_total`` and ``_created`` samples). Counting from another thread would lose counts.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._name = name
        self._documentation = documentation
        self._labelnames = tuple(labelnames)
        self._children: dict[tuple[str, ...], LoopCounter] = {}
        self.tally = Tally()  # what the hot path counts into (compiled)
        self.created = time.time()
        if registry is not None:
            registry.register(self)

    @property
    def value(self) -> float:
        return self.tally.value

    def inc(self, amount: float = 1.0) -> None:
        self.tally.inc(amount)

    def labels(self, *values: str) -> LoopCounter:
        """The counter of these label values (keep it: finding it costs a dict lookup)."""
        if len(values) != len(self._labelnames):
            raise ValueError(f"{self._name} takes labels {self._labelnames}, got {values}")
        key = tuple(str(v) for v in values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = LoopCounter(self._name, self._documentation)
        return child

    def _family(self) -> CounterMetricFamily:
        return CounterMetricFamily(self._name, self._documentation, labels=self._labelnames)

    def describe(self) -> Iterator[CounterMetricFamily]:
        yield self._family()

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = self._family()
        if self._labelnames:
            for values, child in list(self._children.items()):
                family.add_metric(list(values), child.value, created=child.created)
        else:
            family.add_metric([], self.value, created=self.created)
        yield family


class Metrics:
    """Everything ``/metrics`` shows. Reason labels come from a small fixed vocabulary."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # Counted for every message, on the event loop: see LoopCounter.
        self.messages = LoopCounter(
            "firegrid_messages_received", "MQTT messages received", registry=r
        )
        self.readings = LoopCounter(
            "firegrid_readings", "Readings decoded and accepted", ["measurement"], registry=r
        )
        self.rejected = Counter(
            "firegrid_messages_rejected",
            "Messages refused as a whole, by reason (nothing from them is stored)",
            ["reason"],
            registry=r,
        )
        self.field_problems = Counter(
            "firegrid_field_problems",
            "Single fields dropped from otherwise valid messages, by reason",
            ["reason"],
            registry=r,
        )
        self.throttled = Counter(
            "firegrid_messages_throttled",
            "Messages dropped by the per-device rate limit, by device (only flooders appear)",
            ["device"],
            registry=r,
        )
        self.sink_points = Counter(
            "firegrid_sink_points_written", "Points accepted by a sink", ["sink"], registry=r
        )
        self.sink_errors = Counter(
            "firegrid_sink_write_errors", "Failed write attempts", ["sink", "reason"], registry=r
        )
        self.sink_dropped = Counter(
            "firegrid_sink_points_dropped",
            "Points a sink gave up on (buffer/spool full, spool damaged, refused by the database)",
            ["sink", "reason"],
            registry=r,
        )
        self.sink_buffer = Gauge(
            "firegrid_sink_buffer_points", "Points waiting in memory", ["sink"], registry=r
        )
        self.sink_spool_points = Gauge(
            "firegrid_sink_spool_points",
            "Points spooled to disk while the database was away, waiting to be replayed",
            ["sink"],
            registry=r,
        )
        self.sink_spool_bytes = Gauge(
            "firegrid_sink_spool_bytes", "Size of the sink's disk spool", ["sink"], registry=r
        )
        self.sink_batch_size = Histogram(
            "firegrid_sink_batch_points",
            "Points per write request",
            ["sink"],
            buckets=(1, 10, 100, 500, 1000, 2000, 5000, 10000),
            registry=r,
        )
        self.sink_write_seconds = Histogram(
            "firegrid_sink_write_seconds", "Write request latency", ["sink"], registry=r
        )
        self.mqtt_connected = Gauge(
            "firegrid_mqtt_connected", "1 while connected to the broker", registry=r
        )
        self.mqtt_connects = Counter(
            "firegrid_mqtt_connects", "Successful (re)connections to the broker", registry=r
        )
        # The alarm session (devices' event uplinks, gateway.ingest.topics.alarm_lane).
        self.mqtt_alarm_connected = Gauge(
            "firegrid_mqtt_alarm_connected",
            "1 while the alarm session is connected to the broker",
            registry=r,
        )
        self.mqtt_alarm_connects = Counter(
            "firegrid_mqtt_alarm_connects",
            "Successful (re)connections of the alarm session",
            registry=r,
        )
        self.devices = Gauge(
            "firegrid_devices", "Registered devices by status", ["status"], registry=r
        )
        self.build = Info(
            "firegrid_build",
            "The gateway's version, and whether its hot path is compiled (gateway.compiled)",
            registry=r,
        )
        self.build.info({"version": __version__, "hot_path": compiled.hot_path()})

    def render(self) -> bytes:
        return generate_latest(self.registry)
