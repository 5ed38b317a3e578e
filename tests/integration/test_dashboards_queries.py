"""Every query of every committed dashboard returns rows from a real InfluxDB 1.x.

The district of ``test_dashboards_world`` is written once; each panel target and each
template-variable query of ``dashboards/*.json`` is filled in as Grafana fills it
(``tests/unit/test_dashboards_grafana.py``) for the dashboard's default range and run for
the whole district, for one grid (G-0101 in C-01 in S-01) and for a multi-value selection.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.incidents import Incident
from gateway.stats import compute_stats
from tests.integration.test_dashboards_world import INSTANCE, NOW, T0, scenario, write
from tests.servers.influxdb import InfluxServer
from tests.unit.test_dashboards_grafana import interpolate, interval_ms

pytestmark = pytest.mark.integration

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"
DATASOURCE = DASHBOARDS / "provisioning" / "datasources" / "influxdb.yaml"
DB = "dashboards"
SCOPES: dict[str, Mapping[str, Sequence[str] | None]] = {
    "all": {"street": None, "community": None, "grid": None, "instance": None},
    "one grid": {
        "street": ["S-01"],
        "community": ["C-01"],
        "grid": ["G-0101"],
        "instance": [INSTANCE],
    },
    "several": {
        "street": ["S-01", "S-02"],
        "community": ["C-01", "C-03"],
        "grid": ["G-0101", "G-0301"],
        "instance": [INSTANCE, "gw-other"],
    },
}


@dataclass(frozen=True)
class Target:
    board: str
    panel: str
    ref_id: str
    query: str
    range_s: int
    max_points: int

    def __str__(self) -> str:
        return f"{self.board}:{self.panel}:{self.ref_id}"


def _range_s(board: dict[str, Any]) -> int:
    """The default range, ``now-6h`` → 21600."""
    match = re.fullmatch(r"now-(\d+)([mhd])", board["time"]["from"])
    assert match and board["time"]["to"] == "now", board["time"]
    return int(match.group(1)) * {"m": 60, "h": 3600, "d": 86400}[match.group(2)]


def targets() -> Iterator[Target]:
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text(encoding="utf-8"))
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                yield Target(
                    path.stem,
                    panel["title"],
                    target["refId"],
                    target["query"],
                    _range_s(board),
                    panel.get("maxDataPoints", 1000),
                )


def variables() -> Iterator[tuple[str, str, str]]:
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text(encoding="utf-8"))
        for variable in board["templating"]["list"]:
            yield path.stem, variable["name"], variable["query"]


def _min_interval_ms() -> int:
    """The datasource's ``timeInterval`` (``15s``): Grafana's floor for ``$__interval``."""
    text = yaml.safe_load(DATASOURCE.read_text())["datasources"][0]["jsonData"]["timeInterval"]
    assert text.endswith("s"), text
    return int(text[:-1]) * 1000


@pytest.fixture(scope="module")
def district(
    influxdb: InfluxServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Incident]]:
    influxdb.create_database(DB)
    points, incidents = asyncio.run(scenario(tmp_path_factory.mktemp("district")))
    write(influxdb.url, DB, points)
    yield incidents
    influxdb.query(f'DROP DATABASE "{DB}"')


def _sent(target: Target, scope: Mapping[str, Sequence[str] | None]) -> str:
    end_ms = int(time.time() * 1000)
    start_ms = end_ms - target.range_s * 1000
    step = interval_ms(end_ms - start_ms, target.max_points, _min_interval_ms())
    sent = interpolate(target.query, scope, start_ms, end_ms, step)
    assert not re.search(r"\$\w", sent), f"left unfilled in {sent}"
    return sent


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("target", list(targets()), ids=str)
def test_every_panel_query_returns_rows(
    influxdb: InfluxServer, district: list[Incident], target: Target, scope: str
) -> None:
    sent = _sent(target, SCOPES[scope])
    assert influxdb.query(sent, DB), f"no rows for {sent}"


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize(("board", "name", "query"), list(variables()))
def test_every_variable_lists_the_districts_places(
    influxdb: InfluxServer, district: list[Incident], board: str, name: str, query: str, scope: str
) -> None:
    chosen = SCOPES[scope]
    values = {row["value"] for row in influxdb.query(interpolate(query, chosen, 0, 0, 0), DB)}
    wanted = chosen[name]
    assert values >= set(wanted or ()) - {"gw-other"}
    assert values, query


def test_the_dashboards_agree_with_the_stats_api(
    influxdb: InfluxServer, district: list[Incident]
) -> None:
    """考核评价 on the dashboard and on GET /api/v1/stats are the same numbers."""
    stats = compute_stats(district, T0, NOW + 1)
    window = f"time >= {int(T0)}s AND time <= {int(NOW)}s"

    def one(select: str, group: str = "") -> list[dict[str, Any]]:
        return influxdb.query(f'SELECT {select} FROM "incident" WHERE {window} {group}', DB)

    for step, durations in (
        ("accept", stats.response_times.accept),
        ("arrive", stats.response_times.arrive),
        ("handle", stats.response_times.handle),
    ):
        [row] = one(
            f'percentile("seconds_to_{step}", 50) AS "p50", '
            f'percentile("seconds_to_{step}", 90) AS "p90", count("seconds_to_{step}") AS "n"'
        )
        assert (row["n"], row["p50"], row["p90"]) == (
            durations.count,
            durations.p50_s,
            durations.p90_s,
        ), step
    on_time = {r["grid"]: r["mean"] for r in one('mean("on_time")', 'GROUP BY "grid"')}
    assert on_time == {r.key: r.rate for r in stats.on_time.by_grid}
    [row] = one('sum("open_delta")')
    assert row["sum"] == sum(1 for i in district if i.is_open) == 2


def _value(influxdb: InfluxServer, board: str, panel: str, scope: str) -> Any:
    [target] = [t for t in targets() if (t.board, t.panel) == (board, panel)]
    rows = influxdb.query(_sent(target, SCOPES[scope]), DB)
    assert len(rows) == 1, rows
    return next(v for k, v in rows[0].items() if k not in ("time", "_measurement"))


@pytest.mark.parametrize(
    ("panel", "all_grids", "g0101"),
    [
        ("Devices online", 27, 6),
        ("Devices offline", 1, 1),
        ("Open incidents", 2, 2),
        ("Smoke alarm messages", 1, 1),
    ],
)
def test_the_overview_counts_what_happened(
    influxdb: InfluxServer, district: list[Incident], panel: str, all_grids: int, g0101: int
) -> None:
    board = "fire-safety-overview"
    assert _value(influxdb, board, panel, "all") == all_grids
    assert _value(influxdb, board, panel, "one grid") == g0101
