"""Electrical fire (电气火灾监控): residual current and cable temperature per device and channel.

The alarm lines are the ``electrical-fire-monitor`` profile's default thresholds (GB 50116:
300 mA; PVC insulation: 70 °C), read when the dashboards are generated: a threshold change
is a YAML edit followed by ``firegrid dashboards build``. Devices with their own override
alarm at their own level; the line is the district default.
"""

from __future__ import annotations

from collections.abc import Mapping

from grafana_foundation_sdk.builders.dashboard import Dashboard

from gateway.dashboards.influxql import PLACE, InfluxQL
from gateway.dashboards.panels import dashboard, grid_table, ranking, series, steps, with_limits
from gateway.profiles import DeviceProfile

UID = "firegrid-electrical"
PROFILE = "electrical-fire-monitor"
CHANNELS = 4


def build(profiles: Mapping[str, DeviceProfile]) -> Dashboard:
    limits = profiles[PROFILE].thresholds
    current = limits["residual_current_ma"]
    temperature = limits["cable_temp_c"]
    channels = ", ".join(f'mean("cable_temp_c_{n}") AS "ch{n}"' for n in range(1, CHANNELS + 1))
    board = dashboard(
        UID,
        "firegrid · Electrical fire 电气火灾",
        f"Residual current (alarm {current:g} mA) and cable temperature per channel "
        f"(alarm {temperature:g} °C), per monitor.",
    )
    board.with_panel(
        with_limits(
            series(
                "Residual current 剩余电流",
                "mA",
                InfluxQL(
                    f'SELECT mean("residual_current_ma") FROM "electrical" WHERE $timeFilter '
                    f'AND {PLACE} GROUP BY time($__interval), "device" fill(none)'
                ).alias("$tag_device"),
                width=24,
            ),
            steps("green", (current * 0.8, "orange"), (current, "red")),
        )
    )
    board.with_panel(
        with_limits(
            series(
                "Cable temperature per channel 线缆温度",
                "celsius",
                InfluxQL(
                    f'SELECT {channels} FROM "electrical" WHERE $timeFilter AND {PLACE} '
                    'GROUP BY time($__interval), "device" fill(none)'
                ).alias("$tag_device $col"),
                width=24,
            ),
            steps("green", (temperature - 10, "orange"), (temperature, "red")),
        )
    )
    board.with_panel(
        ranking(
            "Highest residual current in range",
            "mA",
            InfluxQL(
                f'SELECT max("residual_current_ma") FROM "electrical" WHERE $timeFilter '
                f'AND {PLACE} GROUP BY "device"'
            ).alias("$tag_device"),
            steps("green", (current * 0.8, "orange"), (current, "red")),
        )
    )
    board.with_panel(
        grid_table(
            "Arc faults and hottest channels in range 故障电弧",
            InfluxQL(
                'SELECT sum("arc_fault") AS "arc_faults", max("cable_temp_c_1") AS "max_ch1", '
                'max("cable_temp_c_2") AS "max_ch2", max("cable_temp_c_3") AS "max_ch3", '
                'max("cable_temp_c_4") AS "max_ch4" FROM "electrical" '
                f'WHERE $timeFilter AND {PLACE} GROUP BY "device", "grid"'
            ),
        )
    )
    return board
