"""Patrol (消防巡查): scans per grid worker (网格员), overdue tags, coverage per grid.

Coverage is the share of a grid's patrol tags scanned at least once in the range; a grid's
tags are those with a ``device_status`` point (a tag is seen first when it is first
scanned), so a tag registered but never scanned is not in the denominator yet.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import table
from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.models.dashboard import DataTransformerConfig, DynamicConfigValue

from gateway.dashboards.influxql import PLACE, InfluxQL
from gateway.dashboards.panels import bars, dashboard, grid_table, ranking, steps

UID = "firegrid-patrol"
TAG_PROFILE = "nfc-patrol-tag"

_SCANNED = (
    'SELECT count("scans") AS "scanned" FROM (SELECT count("result") AS "scans" FROM "patrol" '
    f'WHERE $timeFilter AND {PLACE} GROUP BY "device", "grid") GROUP BY "grid"'
)
_KNOWN = (
    'SELECT count("online") AS "tags" FROM (SELECT last("online") AS "online" '
    f'FROM "device_status" WHERE {PLACE} AND "profile" = \'{TAG_PROFILE}\' '
    'GROUP BY "device", "grid") GROUP BY "grid"'
)


def build() -> Dashboard:
    board = dashboard(
        UID,
        "firegrid · Patrol 消防巡查",
        "NFC patrol scans per grid worker, hazards found, overdue tags and coverage per grid.",
    )
    board.with_panel(
        ranking(
            "Scans per worker 网格员巡查次数",
            "none",
            InfluxQL(
                f'SELECT count("result") FROM "patrol" WHERE $timeFilter AND {PLACE} '
                'GROUP BY "worker_id"'
            ).alias("$tag_worker_id"),
            steps("blue"),
        )
    )
    board.with_panel(
        ranking(
            "Hazards found per worker 发现隐患",
            "none",
            InfluxQL(
                f'SELECT count("result") FROM "patrol" WHERE $timeFilter AND {PLACE} '
                'AND "result" = \'hazard\' GROUP BY "worker_id"'
            ).alias("$tag_worker_id"),
            steps("orange"),
        )
    )
    board.with_panel(
        bars(
            "Scans over time, by grid",
            "none",
            InfluxQL(
                f'SELECT count("result") FROM "patrol" WHERE $timeFilter AND {PLACE} '
                'GROUP BY time($__interval), "grid" fill(0)'
            ).alias("$tag_grid"),
            width=24,
        )
    )
    board.with_panel(_coverage())
    board.with_panel(
        grid_table(
            "Overdue tags (patrol-overdue incidents in range)",
            InfluxQL(
                'SELECT sum("alarm") AS "overdue" FROM "incident" WHERE $timeFilter '
                f'AND {PLACE} AND "kind" = \'patrol_overdue\' GROUP BY "device", "grid"'
            ),
            width=8,
        )
    )
    board.with_panel(
        grid_table(
            "Last scan per tag",
            InfluxQL(
                'SELECT last("result") AS "last_result" FROM "patrol" '
                f'WHERE {PLACE} GROUP BY "device", "grid", "worker_id"'
            ),
            width=8,
        )
    )
    return board


def _coverage() -> table.Panel:
    """Tags scanned in range ÷ tags known, joined by grid in Grafana (two measurements)."""
    return (
        grid_table(
            "Coverage per grid 巡查覆盖率",
            InfluxQL(_SCANNED),
            InfluxQL(_KNOWN),
            width=8,
        )
        .with_transformation(
            DataTransformerConfig(
                id_val="joinByField", options={"byField": "grid", "mode": "outer"}
            )
        )
        .with_transformation(
            DataTransformerConfig(
                id_val="calculateField",
                options={
                    "alias": "coverage",
                    "binary": {"left": "scanned", "operator": "/", "right": "tags"},
                    "mode": "binary",
                },
            )
        )
        .with_transformation(
            DataTransformerConfig(
                id_val="organize",
                options={"excludeByName": {"Time 1": True, "Time 2": True, "Time": True}},
            )
        )
        .override_by_name(
            "coverage",
            [
                DynamicConfigValue("unit", "percentunit"),
                DynamicConfigValue("custom.cellOptions", {"type": "gauge", "mode": "basic"}),
                DynamicConfigValue("max", 1),
                DynamicConfigValue("min", 0),
            ],
        )
        .thresholds(steps("red", (0.8, "orange"), (0.95, "green")))
    )
