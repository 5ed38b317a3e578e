"""Gateway health: ingest rate, decode errors, write latency and batch size, outbox depth.

Read from the ``gateway`` measurement that :mod:`gateway.selfmetrics` writes from the
gateway's Prometheus registry (``/api/v1/metrics``). Counters are cumulative there, so rates
are ``non_negative_derivative`` (a restart's drop to zero is skipped); a histogram's mean
over an interval is the derivative of its ``_sum`` over that of its ``_count``. The gateway
has no street, community or grid: this dashboard filters by gateway instance instead.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from gateway.dashboards.influxql import InfluxQL, tag_variable
from gateway.dashboards.panels import dashboard, ranking, series, single, steps

UID = "firegrid-health"
_WHERE = 'WHERE $timeFilter AND "device" =~ /^$instance$/'
_EVERY = "GROUP BY time($__interval)"


def _rate(counter: str, by: str) -> InfluxQL:
    """Per-second rate of a cumulative counter, one series per ``by`` tag."""
    return InfluxQL(
        f'SELECT non_negative_derivative(last("{counter}"), 1s) FROM "gateway" {_WHERE} '
        f'{_EVERY}, "{by}" fill(none)'
    )


def _mean(histogram: str) -> InfluxQL:
    """Mean observation per interval of a histogram, per sink."""
    return InfluxQL(
        f'SELECT non_negative_derivative(last("{histogram}_sum"), 1s) / '
        f'non_negative_derivative(last("{histogram}_count"), 1s) AS "mean" FROM "gateway" '
        f'{_WHERE} {_EVERY}, "sink" fill(none)'
    ).alias("$tag_sink $col")


def _last(field: str, by: str) -> InfluxQL:
    return InfluxQL(f'SELECT last("{field}") FROM "gateway" {_WHERE} {_EVERY}, "{by}" fill(none)')


def build() -> Dashboard:
    board = dashboard(
        UID,
        "firegrid · Gateway health",
        "Ingest rate, decode errors by reason, InfluxDB write latency and batch size, buffers "
        "and outbox depth, from the gateway's own metrics.",
        places=False,
    ).with_variable(
        tag_variable("instance", "gateway", 'SHOW TAG VALUES FROM "gateway" WITH KEY = "device"')
    )
    board.with_panel(
        single(
            "MQTT connected",
            "bool_yes_no",
            InfluxQL(f'SELECT last("mqtt_connected") FROM "gateway" {_WHERE} GROUP BY "device"'),
            steps("red", (1, "green")),
        )
    )
    board.with_panel(
        ranking(
            "Devices by status",
            "none",
            InfluxQL(f'SELECT last("devices") FROM "gateway" {_WHERE} GROUP BY "status"').alias(
                "$tag_status"
            ),
            steps("blue"),
            width=8,
        ).height(4)
    )
    board.with_panel(
        single(
            "Points dropped in range",
            "none",
            InfluxQL(
                'SELECT sum("dropped") FROM (SELECT non_negative_difference(last('
                f'"sink_points_dropped_total")) AS "dropped" FROM "gateway" {_WHERE} '
                f'{_EVERY}, "sink", "reason")'
            ),
            steps("green", (1, "red")),
        ).span(12)
    )
    board.with_panel(
        series(
            "Ingest rate (messages/s)",
            "reqps",
            _rate("messages_received_total", "device").alias("received $tag_device"),
            _rate("readings_total", "measurement").alias("readings $tag_measurement"),
        )
    )
    board.with_panel(
        series(
            "Decode errors by reason (/s)",
            "reqps",
            _rate("messages_rejected_total", "reason").alias("refused $tag_reason"),
            _rate("field_problems_total", "reason").alias("field dropped $tag_reason"),
        )
    )
    board.with_panel(series("Write latency (mean per request)", "s", _mean("sink_write_seconds")))
    board.with_panel(
        series("Batch size (mean points per write)", "none", _mean("sink_batch_points"))
    )
    board.with_panel(
        series(
            "Points waiting to be written",
            "none",
            _last("sink_buffer_points", "sink").alias("$tag_sink"),
            _rate("sink_write_errors_total", "reason").alias("write errors/s $tag_reason"),
        )
    )
    board.with_panel(
        series(
            "Outbox depth by channel",
            "none",
            _last("outbox_depth", "channel").alias("waiting $tag_channel"),
            _last("outbox_dead", "channel").alias("dead letters $tag_channel"),
        )
    )
    return board
