"""``LoopCounter`` shows on ``/metrics`` exactly as prometheus_client's ``Counter`` would."""

from __future__ import annotations

import re

import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest

from gateway.metrics import LoopCounter, Metrics


def _exposition(registry: CollectorRegistry) -> str:
    # The _created samples carry each counter's creation time: the same shape, not the value.
    return re.sub(r"(_created(\{[^}]*\})?) \S+", r"\1 T", generate_latest(registry).decode())


def test_its_exposition_is_a_counters() -> None:
    ours, theirs = CollectorRegistry(auto_describe=True), CollectorRegistry(auto_describe=True)
    plain = LoopCounter("x_received", "Things received", registry=ours)
    labelled = LoopCounter("x_readings", "Readings", ["measurement"], registry=ours)
    plain_ref = Counter("x_received", "Things received", registry=theirs)
    labelled_ref = Counter("x_readings", "Readings", ["measurement"], registry=theirs)
    for counter in (plain, plain_ref):
        counter.inc()
        counter.inc(4)
    for counter in (labelled, labelled_ref):  # type: ignore[assignment]
        counter.labels("smoke").inc(3)
        counter.labels("patrol").inc()
        counter.labels("smoke").inc()
    assert _exposition(ours) == _exposition(theirs)
    assert ours.get_sample_value("x_readings_total", {"measurement": "smoke"}) == 4.0
    assert ours.get_sample_value("x_received_total") == 5.0


def test_a_name_taken_twice_or_wrong_labels_are_refused() -> None:
    registry = CollectorRegistry(auto_describe=True)
    LoopCounter("x_received", "Things received", registry=registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        LoopCounter("x_received", "Again", registry=registry)
    labelled = LoopCounter("x_readings", "Readings", ["measurement"], registry=registry)
    with pytest.raises(ValueError, match=r"takes labels \('measurement',\)"):
        labelled.labels("smoke", "extra")


def test_the_gateways_message_counters_are_loop_counters_on_metrics() -> None:
    metrics = Metrics()
    metrics.messages.inc(600)
    metrics.readings.labels("smoke").inc(300)
    text = metrics.render().decode()
    assert "firegrid_messages_received_total 600.0" in text
    assert 'firegrid_readings_total{measurement="smoke"} 300.0' in text
