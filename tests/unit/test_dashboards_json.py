"""The committed dashboards are the code's output, InfluxQL only, filtered by place."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.config import Settings
from gateway.dashboards.influxql import DATASOURCE_UID
from gateway.dashboards.render import DASHBOARDS_DIR, render
from gateway.profiles import load_profiles

PROVISIONING = DASHBOARDS_DIR / "provisioning"
PLACE_FILTER = '"street" =~ /^$street$/ AND "community" =~ /^$community$/ AND "grid" =~ /^$grid$/'


def committed() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(DASHBOARDS_DIR.glob("*.json"))}


def boards() -> dict[str, dict[str, Any]]:
    return {name: json.loads(text) for name, text in committed().items()}


def targets(board: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            yield panel, target


def test_regenerating_reproduces_the_committed_json_byte_for_byte() -> None:
    fresh = render(load_profiles(Settings().profiles_dir))
    stale = [n for n in fresh if committed().get(n) != fresh[n]]
    assert set(committed()) == set(fresh), "a dashboard file was added or removed by hand"
    assert not stale, f"run `firegrid dashboards build` and commit: {stale} differ from the code"


@pytest.mark.parametrize("name", sorted(committed()))
def test_every_query_is_raw_influxql_on_the_provisioned_datasource(name: str) -> None:
    board = boards()[name]
    found = list(targets(board))
    assert found
    for panel, target in found:
        assert panel["datasource"] == {"type": "influxdb", "uid": DATASOURCE_UID}
        assert target["datasource"] == panel["datasource"]
        assert target["rawQuery"] is True
        assert target["query"].startswith("SELECT "), target["query"]
        assert "|>" not in target["query"]  # no Flux
    ids = [p["id"] for p in board["panels"]]
    assert ids == list(range(1, len(ids) + 1))
    assert board["uid"].startswith("firegrid-") and "firegrid" in board["tags"]


@pytest.mark.parametrize("name", sorted(set(committed()) - {"gateway-health.json"}))
def test_every_place_dashboard_chains_street_community_grid(name: str) -> None:
    board = boards()[name]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert list(variables) == ["street", "community", "grid"]
    assert "$street" not in variables["street"]["query"]
    assert '"street" =~ /^$street$/' in variables["community"]["query"]
    assert '"community" =~ /^$community$/' in variables["grid"]["query"]
    for variable in variables.values():
        assert variable["query"].startswith("SHOW TAG VALUES")
        assert (variable["multi"], variable["includeAll"], variable["allValue"]) == (
            True,
            True,
            ".*",
        )
    for _, target in targets(board):
        assert PLACE_FILTER in target["query"], target["query"]


def _panel(name: str, title: str) -> dict[str, Any]:
    return next(p for p in boards()[name]["panels"] if p["title"].startswith(title))


def _steps(panel: dict[str, Any]) -> list[tuple[float | None, str]]:
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return [(s["value"], s["color"]) for s in steps]


def test_the_alarm_thresholds_drawn_are_the_profiles_defaults() -> None:
    current = _panel("electrical-fire.json", "Residual current")
    assert (300, "red") in _steps(current)
    style = current["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"]
    assert style == "dashed+area"
    assert (70, "red") in _steps(_panel("electrical-fire.json", "Cable temperature"))
    assert _steps(_panel("fire-water.json", "Pressure per site")) == [
        (None, "red"),
        (0.1, "green"),
        (1.0, "red"),
    ]


def test_the_map_places_devices_by_their_status_points() -> None:
    geomap = _panel("fire-safety-overview.json", "Devices by state")
    layers = geomap["options"]["layers"]
    assert [layer["filterData"]["options"] for layer in layers] == ["A", "B"]
    for layer in layers:
        assert layer["location"] == {"latitude": "lat", "longitude": "lon", "mode": "coords"}
    assert all(t["resultFormat"] == "table" for t in geomap["targets"])
    assert 'FROM "device_status"' in geomap["targets"][0]["query"]


def _yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_the_datasource_is_influxql_on_influxdb2_with_a_token_from_the_environment() -> None:
    [source] = _yaml(PROVISIONING / "datasources" / "influxdb.yaml")["datasources"]
    assert (source["uid"], source["type"]) == (DATASOURCE_UID, "influxdb")
    assert source["jsonData"]["version"] == "InfluxQL"
    assert source["jsonData"]["dbName"] == "${INFLUX_BUCKET}"  # the bucket's virtual DBRP
    assert source["jsonData"]["httpHeaderName1"] == "Authorization"
    assert source["secureJsonData"]["httpHeaderValue1"] == "Token ${INFLUX_TOKEN}"


def test_the_dashboard_provider_loads_the_generated_json() -> None:
    [provider] = _yaml(PROVISIONING / "dashboards" / "firegrid.yaml")["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
