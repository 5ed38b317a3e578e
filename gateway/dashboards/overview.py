"""Fire-safety overview (消防安全总览): where the devices are, what is open, what is noisy.

"Now" panels (device states, open incidents) read all time, not the dashboard range: a
``device_status`` point is written only when a device comes or goes, and an incident's
``open_delta`` only when it opens (+1) and closes (−1), so the latest status and the sum of
the deltas are the present whatever range is shown.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import geomap, stat
from grafana_foundation_sdk.builders.common import FrameGeometrySource, MapLayerOptions
from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.models.common import FrameGeometrySourceMode
from grafana_foundation_sdk.models.dashboard import (
    DynamicConfigValue,
    ValueMap,
    ValueMappingResult,
)
from grafana_foundation_sdk.models.geomap import TooltipMode

from gateway.dashboards.influxql import DATASOURCE, PLACE, InfluxQL
from gateway.dashboards.panels import bars, dashboard, grid_table, ranking, single, steps

UID = "firegrid-overview"

# The latest state of every device (1 online, 0 offline), by the tags the panels group by.
_STATES = (
    'SELECT last("online") AS "online" FROM "device_status" '
    f'WHERE {PLACE} GROUP BY "device", "grid"'
)
_DEVICES = (
    'SELECT last("online") AS "online", last("lat") AS "lat", last("lon") AS "lon" '
    f'FROM "device_status" WHERE {PLACE} GROUP BY "device", "profile", "grid"'
)
_OPEN_AT = (
    'SELECT * FROM (SELECT sum("open_delta") AS "open_incidents", last("lat") AS "lat", '
    f'last("lon") AS "lon" FROM "incident" WHERE {PLACE} GROUP BY "device", "kind") '
    'WHERE "open_incidents" > 0'
)


def build() -> Dashboard:
    board = dashboard(
        UID,
        "firegrid · Fire-safety overview 消防安全总览",
        "Device states on the map, open incidents, alarms and the noisiest devices.",
    )
    for panel in _headline():
        board.with_panel(panel)
    board.with_panel(_map())
    board.with_panel(
        ranking(
            "Open incidents by severity",
            "none",
            InfluxQL(
                f'SELECT sum("open_delta") FROM "incident" WHERE {PLACE} GROUP BY "severity"'
            ).alias("$tag_severity"),
            steps("green", (1, "orange"), (5, "red")),
            width=8,
        )
    )
    board.with_panel(
        bars(
            "Alarms over time, by kind",
            "none",
            InfluxQL(
                f'SELECT sum("alarm") FROM "incident" WHERE $timeFilter AND {PLACE} '
                'GROUP BY time($__interval), "kind" fill(0)'
            ).alias("$tag_kind"),
            width=16,
        )
    )
    board.with_panel(
        ranking(
            "Online rate per grid",
            "percentunit",
            InfluxQL(f'SELECT mean("online") FROM ({_STATES}) GROUP BY "grid"').alias("$tag_grid"),
            steps("red", (0.9, "orange"), (0.98, "green")),
        )
        .min(0)
        .max(1)
    )
    board.with_panel(
        grid_table(
            "Noisiest devices (alarms in range)",
            InfluxQL(
                'SELECT top("alarms", "device", "grid", 10) AS "alarms" FROM '
                f'(SELECT sum("alarm") AS "alarms" FROM "incident" WHERE $timeFilter AND {PLACE} '
                'GROUP BY "device", "grid")'
            ),
        )
    )
    return board


def _headline() -> list[stat.Panel]:
    return [
        single(
            "Devices online",
            "none",
            InfluxQL(f'SELECT sum("online") FROM ({_STATES})'),
            steps("green"),
        ),
        single(
            "Devices offline",
            "none",
            InfluxQL(f'SELECT count("online") - sum("online") FROM ({_STATES})'),
            steps("green", (1, "orange")),
        ),
        single(
            "Online rate",
            "percentunit",
            InfluxQL(f'SELECT mean("online") FROM ({_STATES})'),
            steps("red", (0.9, "orange"), (0.98, "green")),
        ),
        single(
            "Open incidents",
            "none",
            InfluxQL(f'SELECT sum("open_delta") FROM "incident" WHERE {PLACE}'),
            steps("green", (1, "red")),
        ),
        single(
            "Alarms in range",
            "none",
            InfluxQL(f'SELECT sum("alarm") FROM "incident" WHERE $timeFilter AND {PLACE}'),
            steps("green", (1, "orange")),
        ),
        single(
            "Smoke alarm messages",
            "none",
            InfluxQL(f'SELECT sum("smoke") FROM "smoke" WHERE $timeFilter AND {PLACE}'),
            steps("green", (1, "red")),
        ),
    ]


def _map() -> geomap.Panel:
    """Devices coloured by state (green online, orange offline); red rings where an incident
    is open."""
    state = [
        DynamicConfigValue(
            "mappings",
            [
                ValueMap(
                    {
                        "0": ValueMappingResult(text="offline", color="orange"),
                        "1": ValueMappingResult(text="online", color="green"),
                    }
                )
            ],
        ),
        DynamicConfigValue("thresholds", steps("orange", (1, "green")).build()),
    ]
    return (
        geomap.Panel()
        .title("Devices by state 设备状态")
        .datasource(DATASOURCE)
        .targets(
            [
                InfluxQL(_DEVICES).ref_id("A").table(),
                InfluxQL(_OPEN_AT).ref_id("B").table(),
            ]
        )
        .span(24)
        .height(14)
        .override_by_name("online", state)
        .view(geomap.MapViewConfig().id("fit"))
        .tooltip(geomap.TooltipOptions().mode(TooltipMode.DETAILS))
        .basemap(MapLayerOptions().type("default").name("Basemap"))
        .layers(
            [
                _markers("Devices", "A", {"field": "online", "fixed": "green"}, 5),
                _markers("Open incidents", "B", {"fixed": "red"}, 12),
            ]
        )
    )


def _markers(name: str, ref_id: str, color: dict[str, str], size: int) -> MapLayerOptions:
    return (
        MapLayerOptions()
        .type("markers")
        .name(name)
        .location(
            FrameGeometrySource()
            .mode(FrameGeometrySourceMode.COORDS)
            .latitude("lat")
            .longitude("lon")
        )
        .filter_data({"id": "byRefId", "options": ref_id})
        .tooltip(True)
        .config(
            {
                "showLegend": True,
                "style": {
                    "color": color,
                    "opacity": 0.8,
                    "size": {"fixed": size},
                    "symbol": {"fixed": "img/icons/marker/circle.svg", "mode": "fixed"},
                },
            }
        )
    )
