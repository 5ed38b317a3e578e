"""Build every dashboard to Grafana JSON: what ``dashboards/*.json`` holds, byte for byte.

The output is deterministic (sorted keys, fixed panel ids, no timestamps), so a test can
regenerate it and compare, and a diff of the committed JSON shows what a code change did.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from gateway.dashboards import electrical, health, operations, overview, patrol, water
from gateway.profiles import DeviceProfile

DASHBOARDS_DIR = Path(__file__).resolve().parents[2] / "dashboards"


def builders(profiles: Mapping[str, DeviceProfile]) -> dict[str, Dashboard]:
    """File name → dashboard builder; thresholds come from the device profiles."""
    return {
        "fire-safety-overview.json": overview.build(),
        "electrical-fire.json": electrical.build(profiles),
        "fire-water.json": water.build(profiles),
        "patrol.json": patrol.build(),
        "operations.json": operations.build(),
        "gateway-health.json": health.build(),
    }


def render(profiles: Mapping[str, DeviceProfile]) -> dict[str, str]:
    """File name → the dashboard's JSON text."""
    return {name: to_json(board) for name, board in builders(profiles).items()}


def to_json(board: Dashboard) -> str:
    data = json.loads(JSONEncoder().encode(board.build()))
    for number, panel in enumerate(data.get("panels", []), start=1):
        # Stable ids keep panel links (…?viewPanel=3) valid across regenerations.
        panel["id"] = number
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write(profiles: Mapping[str, DeviceProfile], directory: Path = DASHBOARDS_DIR) -> list[Path]:
    """(Re)write the JSON files; the paths written."""
    paths = []
    for name, text in render(profiles).items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths
