"""An officer tunes a threshold in a rule file: it takes effect without a restart — through
the API, or by itself when the file changes — and a broken edit keeps the running rules."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from tests.integration.harness import REPO, eventually, publish, register, running, settings_for
from tests.integration.test_ingest_e2e import _device
from tests.servers.mosquitto import MosquittoServer

pytestmark = pytest.mark.integration

BATTERY_25 = b'{"battery_pct": 25}'


async def test_a_grid_override_takes_effect_on_reload_and_a_broken_edit_is_refused(
    mosquitto: MosquittoServer, tmp_path: Path
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules)
    smoke = rules / "smoke.yaml"
    settings = settings_for(tmp_path, mosquitto.url, rules_dir=rules)
    async with running(settings) as (_, api):
        await register(api, [_device("sd-1", "smoke-detector"), _device("sd-2", "smoke-detector")])

        async def low_battery(device: str) -> list[object]:
            found = (
                await api.get("/incidents", params={"device": device, "kind": "low_battery"})
            ).json()
            return found["items"] if isinstance(found, dict) else found

        # 25 % is above the shipped 20 %: nothing opens.
        await asyncio.to_thread(publish, mosquitto.port, [("devices/sd-1/up", BATTERY_25)])

        async def taken() -> bool:
            return (await api.get("/devices/sd-1")).json()["latest"].get("battery_pct") == 25

        await eventually(taken, "the 25 % reading taken")
        assert await low_battery("sd-1") == []

        broken = smoke.read_text().replace("grids: {}", "grids: {G-0101: {battery_low_pct: lots}}")
        smoke.write_text(broken)
        refused = await api.post("/rules/reload")
        assert refused.status_code == 422
        assert (
            f"{smoke}:" in refused.json()["detail"]
            and "battery_low_pct" in refused.json()["detail"]
        )

        # The officer fixes the value: 30 % for this grid's older detectors.
        smoke.write_text(broken.replace("lots", "30"))
        assert (await api.post("/rules/reload")).status_code == 200
        await asyncio.to_thread(publish, mosquitto.port, [("devices/sd-1/up", BATTERY_25)])
        await eventually(lambda: low_battery("sd-1"), "low battery under the 30 % override")

        # An edit on disk alone is picked up by the file watch (no API call): 40 %.
        smoke.write_text(broken.replace("lots", "40"))

        async def watch_reloaded() -> list[object]:
            await asyncio.to_thread(
                publish, mosquitto.port, [("devices/sd-2/up", b'{"battery_pct": 35}')]
            )
            return await low_battery("sd-2")

        await eventually(
            watch_reloaded, "the file watch applied the 40 % edit", within=15, interval=0.5
        )
