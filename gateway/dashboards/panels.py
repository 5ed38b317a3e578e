"""Panel shapes the firegrid dashboards repeat, on top of grafana-foundation-sdk builders.

Each helper returns the SDK builder, so a dashboard module can still add what is particular
to one panel. Sizes are in Grafana grid units (24 columns; a row unit is 30 px).
"""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import bargauge, stat, table, timeseries
from grafana_foundation_sdk.builders.common import (
    GraphThresholdsStyleConfig,
    ReduceDataOptions,
    StackingConfig,
    VizLegendOptions,
)
from grafana_foundation_sdk.builders.dashboard import Dashboard, DashboardLink, ThresholdsConfig
from grafana_foundation_sdk.models.common import (
    BarGaugeDisplayMode,
    GraphDrawStyle,
    GraphThresholdsStyleMode,
    LegendDisplayMode,
    LegendPlacement,
    StackingMode,
    VizOrientation,
)
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DashboardLinkType,
    Threshold,
    ThresholdsMode,
)

from gateway.dashboards.influxql import DATASOURCE, InfluxQL, place_variables

TAG = "firegrid"


def dashboard(uid: str, title: str, description: str, places: bool = True) -> Dashboard:
    """A firegrid dashboard: last 6 h, refreshed every 30 s, linked to the others."""
    board = (
        Dashboard(title)
        .uid(uid)
        .description(description)
        .tags([TAG])
        .time("now-6h", "now")
        .refresh("30s")
        .timezone("browser")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .link(
            DashboardLink("firegrid")
            .type(DashboardLinkType.DASHBOARDS)
            .tags([TAG])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )
    if places:
        board.variables(list(place_variables()))
    return board


def steps(base: str, *levels: tuple[float, str]) -> ThresholdsConfig:
    """Absolute thresholds: ``base`` colour below the first level, then each level's colour."""
    return (
        ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(None, base), *(Threshold(v, c) for v, c in levels)])
    )


def _targets(queries: Sequence[InfluxQL]) -> list[InfluxQL]:
    return [q.ref_id(chr(ord("A") + i)) for i, q in enumerate(queries)]


def series(title: str, unit: str, *queries: InfluxQL, width: int = 12) -> timeseries.Panel:
    """Lines over time, legend as a table with the last and max values."""
    return (
        timeseries.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .targets(list(_targets(queries)))
        .unit(unit)
        .span(width)
        .height(8)
        .line_width(1)
        .fill_opacity(10)
        .legend(
            VizLegendOptions()
            .display_mode(LegendDisplayMode.TABLE)
            .placement(LegendPlacement.RIGHT)
            .show_legend(True)
            .calcs(["lastNotNull", "max"])
        )
    )


def bars(title: str, unit: str, *queries: InfluxQL, width: int = 12) -> timeseries.Panel:
    """Counts per time bucket, stacked."""
    return (
        series(title, unit, *queries, width=width)
        .draw_style(GraphDrawStyle.BARS)
        .fill_opacity(80)
        .stacking(StackingConfig().mode(StackingMode.NORMAL))
    )


def with_limits(panel: timeseries.Panel, limits: ThresholdsConfig) -> timeseries.Panel:
    """Draw the alarm thresholds on the graph as dashed lines over shaded bands."""
    return panel.thresholds(limits).thresholds_style(
        GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.DASHED_AND_AREA)
    )


def single(title: str, unit: str, query: InfluxQL, limits: ThresholdsConfig) -> stat.Panel:
    """One number (the last value of every series), coloured by ``limits``."""
    return (
        stat.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .targets(list(_targets([query])))
        .unit(unit)
        .thresholds(limits)
        .span(4)
        .height(4)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )


def ranking(
    title: str, unit: str, query: InfluxQL, limits: ThresholdsConfig, width: int = 12
) -> bargauge.Panel:
    """One horizontal bar per series (per grid, per worker…), coloured by ``limits``."""
    return (
        bargauge.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .targets(list(_targets([query])))
        .unit(unit)
        .thresholds(limits)
        .span(width)
        .height(8)
        .orientation(VizOrientation.HORIZONTAL)
        .display_mode(BarGaugeDisplayMode.GRADIENT)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )


def grid_table(title: str, *queries: InfluxQL, width: int = 12) -> table.Panel:
    """Rows as InfluxDB returns them in table format (tags become columns)."""
    return (
        table.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .targets(list(_targets([q.table() for q in queries])))
        .span(width)
        .height(8)
    )
