"""The InfluxQL query type for grafana-foundation-sdk, and the filters every dashboard shares.

The SDK ships query types for Prometheus, Loki, Tempo… but none for InfluxDB, so this module
defines one the way the SDK's README shows for a custom query type: a ``Dataquery`` with a
``to_json`` in the shape Grafana's InfluxDB datasource saves for a raw InfluxQL query
(``query`` + ``rawQuery: true``), and its builder.

Every query filters on the chained template variables ``$street`` → ``$community`` →
``$grid`` with regular expressions: Grafana writes a multi-value selection as ``(a|b)`` and
"All" as the variable's all-value ``.*``, so one form serves one, several or all values.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from grafana_foundation_sdk.builders.dashboard import QueryVariable
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

# The provisioned datasource (dashboards/provisioning/datasources); `firegrid dashboards
# push --datasource-uid` rewrites it for a Grafana whose InfluxDB datasource has another uid.
DATASOURCE_UID = "firegrid-influxdb"
DATASOURCE = DataSourceRef(type_val="influxdb", uid=DATASOURCE_UID)

# The place filter, in the order of the grid ladder (街道 → 社区 → 网格).
PLACE = '"street" =~ /^$street$/ AND "community" =~ /^$community$/ AND "grid" =~ /^$grid$/'

ResultFormat = Literal["time_series", "table"]


class InfluxQLQuery(cogvariants.Dataquery):
    """A raw InfluxQL query as Grafana's InfluxDB datasource stores it."""

    def __init__(
        self,
        query: str = "",
        ref_id: str = "",
        result_format: ResultFormat = "time_series",
        alias: str | None = None,
    ) -> None:
        self.query = query
        self.ref_id = ref_id
        self.result_format = result_format
        self.alias = alias

    def to_json(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "datasource": DATASOURCE,
            "query": self.query,
            "rawQuery": True,
            "refId": self.ref_id,
            "resultFormat": self.result_format,
        }
        if self.alias is not None:
            payload["alias"] = self.alias
        return payload

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        return cls(
            query=data.get("query", ""),
            ref_id=data.get("refId", ""),
            result_format=data.get("resultFormat", "time_series"),
            alias=data.get("alias"),
        )


class InfluxQL(cogbuilder.Builder[InfluxQLQuery]):
    """``InfluxQL('SELECT …').ref_id("A").table()``."""

    def __init__(self, query: str) -> None:
        self._internal = InfluxQLQuery(query=query)

    def build(self) -> InfluxQLQuery:
        return self._internal

    def ref_id(self, ref_id: str) -> Self:
        self._internal.ref_id = ref_id
        return self

    def table(self) -> Self:
        """One table (tags as columns), what geomaps, tables and bar gauges by tag want."""
        self._internal.result_format = "table"
        return self

    def alias(self, alias: str) -> Self:
        """Series name, e.g. ``$tag_device $col`` (the datasource's alias patterns)."""
        self._internal.alias = alias
        return self


def place_variables() -> list[QueryVariable]:
    """``$street``, ``$community`` filtered by street, ``$grid`` filtered by both."""
    return [
        tag_variable("street", "街道 street", 'SHOW TAG VALUES WITH KEY = "street"'),
        tag_variable(
            "community",
            "社区 community",
            'SHOW TAG VALUES WITH KEY = "community" WHERE "street" =~ /^$street$/',
        ),
        tag_variable(
            "grid",
            "网格 grid",
            'SHOW TAG VALUES WITH KEY = "grid" '
            'WHERE "street" =~ /^$street$/ AND "community" =~ /^$community$/',
        ),
    ]


def tag_variable(name: str, label: str, query: str) -> QueryVariable:
    """A multi-value variable of tag values, "All" by default."""
    return (
        QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(query)
        .current(VariableOption(text="All", value="$__all", selected=True))
        .refresh(VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        # ".*" rather than every value spelled out: 1089 grids would make a huge regex.
        .all_value(".*")
    )
