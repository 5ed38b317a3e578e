"""Fire water (消防用水): pipe pressure per site against its low/high band, and tank levels.

The bands are the profiles' defaults — ``water-pressure-sensor`` (low 0.10 MPa for sprinkler
and class-1 public sites, high 1.0 MPa) and ``water-level-sensor`` — read when the
dashboards are generated. A site with another class has its own per-device threshold; the
band drawn is the district default.
"""

from __future__ import annotations

from collections.abc import Mapping

from grafana_foundation_sdk.builders.dashboard import Dashboard

from gateway.dashboards.influxql import PLACE, InfluxQL
from gateway.dashboards.panels import dashboard, ranking, series, steps, with_limits
from gateway.profiles import DeviceProfile

UID = "firegrid-water"
PRESSURE = "water-pressure-sensor"
LEVEL = "water-level-sensor"
# Grafana has no MPa unit; a custom suffix keeps the numbers as the sensors send them.
MPA = "suffix: MPa"


def build(profiles: Mapping[str, DeviceProfile]) -> Dashboard:
    pressure = profiles[PRESSURE].thresholds
    low, high = pressure["pressure_low_mpa"], pressure["pressure_high_mpa"]
    level = profiles[LEVEL].thresholds
    empty, full = level["level_low_m"], level["level_high_m"]
    pressure_band = steps("red", (low, "green"), (high, "red"))
    level_band = steps("red", (empty, "green"), (full, "orange"))
    board = dashboard(
        UID,
        "firegrid · Fire water 消防用水",
        f"Pipe pressure per site (band {low:g}-{high:g} MPa) and tank levels "
        f"(low {empty:g} m, high {full:g} m).",
    )
    board.with_panel(
        with_limits(
            series(
                "Pressure per site 管网压力",
                MPA,
                InfluxQL(
                    f'SELECT mean("pressure_mpa") FROM "water" WHERE $timeFilter AND {PLACE} '
                    'GROUP BY time($__interval), "device" fill(none)'
                ).alias("$tag_device"),
                width=24,
            ),
            pressure_band,
        )
    )
    board.with_panel(
        ranking(
            "Lowest pressure in range",
            MPA,
            InfluxQL(
                f'SELECT min("pressure_mpa") FROM "water" WHERE $timeFilter AND {PLACE} '
                'GROUP BY "device"'
            ).alias("$tag_device"),
            pressure_band,
        )
    )
    board.with_panel(
        ranking(
            "Tank level now 水箱液位",
            "lengthm",
            InfluxQL(
                f'SELECT last("level_m") FROM "water" WHERE $timeFilter AND {PLACE} '
                'GROUP BY "device"'
            ).alias("$tag_device"),
            level_band,
        )
    )
    board.with_panel(
        with_limits(
            series(
                "Tank levels",
                "lengthm",
                InfluxQL(
                    f'SELECT mean("level_m") FROM "water" WHERE $timeFilter AND {PLACE} '
                    'GROUP BY time($__interval), "device" fill(none)'
                ).alias("$tag_device"),
                width=24,
            ),
            level_band,
        )
    )
    return board
