"""Operations (考核评价): response times, on-time rate and false-alarm rate per grid/community.

Read from the ``incident`` points (see :mod:`gateway.dashboards.points`). The numbers follow
``gateway.stats`` (``GET /api/v1/stats``): nearest-rank percentiles (InfluxQL's
``percentile()`` is nearest-rank too, so p50 is a time that really happened), seconds from
the incident's opening, test incidents left out. One difference: a point carries the time of
the step, so a range holds the steps taken in it rather than the incidents opened in it.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import table
from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.models.dashboard import DynamicConfigValue

from gateway.dashboards.influxql import PLACE, InfluxQL
from gateway.dashboards.panels import dashboard, grid_table, ranking, series, single, steps

UID = "firegrid-operations"
STEPS = (("accept", "接单"), ("arrive", "到场"), ("handle", "处置"))
ON_TIME = steps("red", (0.8, "orange"), (0.95, "green"))
FALSE_ALARMS = steps("green", (0.05, "orange"), (0.2, "red"))


def build() -> Dashboard:
    board = dashboard(
        UID,
        "firegrid · Operations 考核评价",
        "Time to accept, arrive and handle; on-time rate (按时率) and false-alarm rate (误报率) "
        "per grid and community.",
    )
    for name, label in STEPS:
        board.with_panel(
            single(
                f"Time to {name} p50 {label}",
                "s",
                InfluxQL(
                    f'SELECT percentile("seconds_to_{name}", 50) FROM "incident" '
                    f"WHERE $timeFilter AND {PLACE}"
                ),
                steps("green"),
            )
        )
    board.with_panel(
        single(
            "On-time rate 按时率",
            "percentunit",
            InfluxQL(f'SELECT mean("on_time") FROM "incident" WHERE $timeFilter AND {PLACE}'),
            ON_TIME,
        )
    )
    board.with_panel(
        single(
            "False-alarm rate 误报率",
            "percentunit",
            InfluxQL(f'SELECT mean("false_alarm") FROM "incident" WHERE $timeFilter AND {PLACE}'),
            FALSE_ALARMS,
        )
    )
    board.with_panel(
        single(
            "Incidents closed",
            "none",
            InfluxQL(f'SELECT count("false_alarm") FROM "incident" WHERE $timeFilter AND {PLACE}'),
            steps("blue"),
        )
    )
    board.with_panel(_by("grid", "Per grid 网格"))
    board.with_panel(_by("community", "Per community 社区"))
    board.with_panel(
        series(
            "Response times p90",
            "s",
            InfluxQL(
                f'SELECT {_percentiles(90)} FROM "incident" WHERE $timeFilter AND {PLACE} '
                "GROUP BY time($__interval) fill(none)"
            ),
        )
    )
    board.with_panel(
        ranking(
            "On-time rate per grid worker 网格员",
            "percentunit",
            InfluxQL(
                f'SELECT mean("on_time") FROM "incident" WHERE $timeFilter AND {PLACE} '
                'GROUP BY "worker_id"'
            ).alias("$tag_worker_id"),
            ON_TIME,
        )
        .min(0)
        .max(1)
    )
    return board


def _by(tag: str, title: str) -> table.Panel:
    """p50/p90 of each step, on-time and false-alarm rates, one row per ``tag`` value."""
    times = ", ".join(
        f'percentile("seconds_to_{name}", {p}) AS "{name}_p{p}"'
        for name, _ in STEPS
        for p in (50, 90)
    )
    return (
        grid_table(
            title,
            InfluxQL(
                f'SELECT {times}, mean("on_time") AS "on_time_rate", '
                'mean("false_alarm") AS "false_alarm_rate" FROM "incident" '
                f'WHERE $timeFilter AND {PLACE} GROUP BY "{tag}"'
            ),
            width=24,
        )
        .override_by_regexp("_p(50|90)$", [DynamicConfigValue("unit", "s")])
        .override_by_regexp("_rate$", [DynamicConfigValue("unit", "percentunit")])
    )


def _percentiles(p: int) -> str:
    return ", ".join(f'percentile("seconds_to_{name}", {p}) AS "{name}"' for name, _ in STEPS)
