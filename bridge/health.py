"""Delivery health in ``/metrics``: per outbox channel, how much waits, how old, how it fares.

``firegrid_outbox_depth`` (live rows not yet delivered), ``firegrid_outbox_oldest_age_seconds``
and ``firegrid_outbox_dead`` (dead letters) are read from the outbox on every scrape;
``firegrid_outbox_attempts_total``, ``…_failures_total`` and ``…_delivered_total`` count this
process's sends. Alert on a depth or age that keeps growing, and on any dead letter.

A scrape runs in the API's worker thread while the outbox lives on the event loop, so the
backlog query is handed to the loop and waited for (briefly). A scrape from the loop's own
thread cannot wait for it and shows the last values read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bridge.mqtt_dispatch import OutboxDelivery
from gateway.incidents.outbox import ChannelBacklog

log = logging.getLogger(__name__)


class BacklogSource(Protocol):
    async def backlogs(self) -> list[ChannelBacklog]: ...


class DeliveryHealth(Collector):
    def __init__(
        self,
        outbox: BacklogSource,
        deliveries: Sequence[OutboxDelivery],
        clock: Callable[[], float],
        loop: asyncio.AbstractEventLoop,
        timeout_s: float = 2.0,
    ) -> None:
        self._outbox = outbox
        self._deliveries = deliveries
        self._clock = clock
        self._loop = loop
        self._timeout_s = timeout_s
        self._last: dict[str, ChannelBacklog] = {}

    def describe(self) -> Iterable[Metric]:
        # Names only: lets the registry check for clashes without a query at registration.
        return [*self._gauges(), *self._counters()]

    def collect(self) -> Iterable[Metric]:
        backlogs = self._read()
        depth, age, dead = self._gauges()
        attempts, failures, delivered = self._counters()
        for channel in sorted({d.channel for d in self._deliveries} | set(backlogs)):
            b = backlogs.get(channel, ChannelBacklog(channel, 0, None, 0))
            depth.add_metric([channel], b.depth)
            age.add_metric([channel], 0 if b.oldest_at is None else self._clock() - b.oldest_at)
            dead.add_metric([channel], b.dead)
        for d in self._deliveries:
            attempts.add_metric([d.channel], d.delivered + d.failures)
            failures.add_metric([d.channel], d.failures)
            delivered.add_metric([d.channel], d.delivered)
        return [depth, age, dead, attempts, failures, delivered]

    def _gauges(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        labels = ["channel"]
        return (
            GaugeMetricFamily(
                "firegrid_outbox_depth", "Outbox rows waiting for delivery", labels=labels
            ),
            GaugeMetricFamily(
                "firegrid_outbox_oldest_age_seconds",
                "Age of the oldest undelivered outbox row (0: none)",
                labels=labels,
            ),
            GaugeMetricFamily(
                "firegrid_outbox_dead",
                "Dead-lettered rows (GET /api/v1/outbox/dead)",
                labels=labels,
            ),
        )

    def _counters(self) -> tuple[CounterMetricFamily, CounterMetricFamily, CounterMetricFamily]:
        labels = ["channel"]
        return (
            CounterMetricFamily(
                "firegrid_outbox_attempts", "Delivery attempts since start", labels=labels
            ),
            CounterMetricFamily(
                "firegrid_outbox_failures", "Failed delivery attempts since start", labels=labels
            ),
            CounterMetricFamily(
                "firegrid_outbox_delivered", "Rows delivered since start", labels=labels
            ),
        )

    def _read(self) -> dict[str, ChannelBacklog]:
        try:
            on_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            return self._last
        try:
            future = asyncio.run_coroutine_threadsafe(self._outbox.backlogs(), self._loop)
        except RuntimeError as exc:  # the loop is closed: the gateway is shutting down
            log.warning("outbox backlog not read for /metrics: %r", exc)
            return self._last
        try:
            rows = future.result(self._timeout_s)
        except Exception as exc:  # a slow disk must not hang or break the scrape
            future.cancel()
            log.warning("outbox backlog not read for /metrics: %r", exc)
            return self._last
        self._last = {b.channel: b for b in rows}
        return self._last
