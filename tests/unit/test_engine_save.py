"""Saving engine state never runs ahead of the incidents it implies, and never loses a change.

A save that wrote "this smoke alarm has fired" before the alarm's incident was committed would,
after a SIGKILL in between, restore a rule that stays quiet when the broker redelivers the
reading: a lost alarm. And a key that changes while a save is waiting must be saved next time.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import orjson

from gateway.rules import runtime as runtime_module
from gateway.rules.runtime import (
    _SCHEMA,
    _UPGRADES,
    SCHEMA_VERSION,
    RulesRuntime,
)
from gateway.sqlite import open_database
from tests.unit.test_engine_support import (
    PROFILES,
    SHIPPED_RULES,
    Harness,
    alarms,
    device,
    shipped_rules,
)


async def _runtime(tmp_path: Path, h: Harness) -> RulesRuntime:
    db = await open_database(tmp_path / "engine.sqlite", _SCHEMA, SCHEMA_VERSION)
    return RulesRuntime(h.engine, db, h.topology, SHIPPED_RULES, PROFILES)


async def _saved(runtime: RulesRuntime) -> dict[str, object]:
    async with runtime._db.execute("SELECT key, data FROM engine_state") as rows:
        return {key: orjson.loads(data) async for key, data in rows}


async def _saved_devices(runtime: RulesRuntime) -> set[str]:
    return {key for key in await _saved(runtime) if key.startswith("device:")}


async def test_state_is_written_only_once_the_outcomes_behind_it_are_committed(
    tmp_path: Path,
) -> None:
    h = Harness(shipped_rules(), [device("SD-1", building="B1"), device("SD-2", building="B2")])
    runtime = await _runtime(tmp_path, h)
    try:
        assert alarms(h.send("SD-1", smoke=True), "smoke-fire")
        committed = asyncio.Event()

        async def outcomes_durable() -> None:
            await committed.wait()

        saving = asyncio.create_task(runtime.save(outcomes_durable))
        for _ in range(20):
            await asyncio.sleep(0)
        assert not saving.done() and await _saved(runtime) == {}  # the incident is not in yet

        h.at(5).send("SD-2", smoke=True)  # changes while the save waits
        committed.set()
        await asyncio.wait_for(saving, 5)
        assert await _saved_devices(runtime) == {"device:SD-1"}  # the snapshot, not later state
        assert "device:SD-2" in h.engine.dirty_keys()  # kept for the next save

        await runtime.save(outcomes_durable)
        assert await _saved_devices(runtime) == {"device:SD-1", "device:SD-2"}
        assert h.engine.dirty_keys() == set()
    finally:
        await runtime._db.close()


async def test_a_key_that_changes_during_a_save_is_saved_again(tmp_path: Path) -> None:
    h = Harness(shipped_rules(), [device("SD-1", building="B1")])
    runtime = await _runtime(tmp_path, h)
    try:
        h.send("SD-1", smoke=True)
        gate = asyncio.Event()

        async def outcomes_durable() -> None:
            await gate.wait()

        saving = asyncio.create_task(runtime.save(outcomes_durable))
        await asyncio.sleep(0)
        h.at(60).send("SD-1", smoke=False)  # the alarm ends while the first save waits
        gate.set()
        await asyncio.wait_for(saving, 5)
        assert "device:SD-1" in await _saved(runtime)  # the alarm state, as snapshotted
        assert "device:SD-1" in h.engine.dirty_keys()
        await runtime.save(outcomes_durable)
        now = h.engine.snapshot_key("device:SD-1")  # None: nothing left to keep (deleted)
        saved = (await _saved(runtime)).get("device:SD-1")
        assert saved == (None if now is None else orjson.loads(orjson.dumps(now)))
    finally:
        await runtime._db.close()


async def test_a_failed_save_leaves_its_keys_for_the_next_one(tmp_path: Path) -> None:
    h = Harness(shipped_rules(), [device("SD-1", building="B1")])
    runtime = await _runtime(tmp_path, h)
    try:
        h.send("SD-1", smoke=True)

        async def killed() -> None:
            raise asyncio.CancelledError

        saving = asyncio.create_task(runtime.save(killed))
        await asyncio.gather(saving, return_exceptions=True)
        assert await _saved(runtime) == {}
        assert "device:SD-1" in h.engine.dirty_keys()
        await runtime.save()
        assert await _saved_devices(runtime) == {"device:SD-1"}
    finally:
        await runtime._db.close()


async def test_a_frequent_save_leaves_soft_changes_for_the_complete_one(tmp_path: Path) -> None:
    h = Harness(shipped_rules(), [device("EF-1", "electrical-fire-monitor"), device("SD-1")])
    runtime = await _runtime(tmp_path, h)
    try:
        h.send("EF-1", cable_temp_c_1=40.0)
        await runtime.save()
        first = (await _saved(runtime))["device:EF-1"]
        h.at(60).send("EF-1", cable_temp_c_1=41.0)  # soft: the rate's baseline moves
        assert alarms(h.send("SD-1", smoke=True), "smoke-fire")  # hard
        await runtime.save(soft=False)
        saved = await _saved(runtime)
        assert await _saved_devices(runtime) == {"device:EF-1", "device:SD-1"}
        assert saved["device:EF-1"] == first  # not yet written
        assert h.engine.dirty_keys() == {"device:EF-1"}
        await runtime.save()  # the complete save writes it
        assert (await _saved(runtime))["device:EF-1"] != first
        assert h.engine.dirty_keys() == set()
    finally:
        await runtime._db.close()


async def test_a_save_makes_way_between_its_steps(tmp_path: Path, monkeypatch: Any) -> None:
    """The gateway passes its wait-for-alarms as ``between_steps``: called once per step."""
    monkeypatch.setattr(runtime_module, "KEYS_PER_STEP", 2)
    fleet = [device(f"SD-{i}", building=f"B{i}") for i in range(5)]
    h = Harness(shipped_rules(), fleet)
    runtime = await _runtime(tmp_path, h)
    try:
        for i in range(5):
            h.send(f"SD-{i}", smoke=True)
        dirty = h.engine.dirty_keys()
        keys = len(dirty)
        devices = len([k for k in dirty if k.startswith("device:")])
        calls = 0
        written: list[int] = []

        async def between_steps() -> None:
            nonlocal calls
            calls += 1
            written.append(len(await _saved(runtime)))  # this connection sees its open txn

        await runtime.save(between_steps=between_steps)
        # Each step is written before the next is snapshotted: no save holds a city's JSON.
        assert written[: devices // 2] == [2 * (i + 1) for i in range(devices // 2)]
        assert calls == (devices + 1) // 2 + (keys - devices + 1) // 2  # devices, then groups
        assert len(await _saved(runtime)) == keys
    finally:
        await runtime._db.close()


async def test_a_version_1_state_file_is_upgraded_and_saved_into(tmp_path: Path) -> None:
    path = tmp_path / "engine.sqlite"
    conn = sqlite3.connect(path)  # as version 1 made it: a rowid beside the key
    conn.executescript(
        "CREATE TABLE engine_state (key TEXT PRIMARY KEY, data TEXT NOT NULL);"
        """INSERT INTO engine_state VALUES ('device:sd-0', '{"r": ["x", 1]}');"""
        "PRAGMA user_version = 1;"
    )
    conn.close()
    db = await open_database(path, _SCHEMA, SCHEMA_VERSION, upgrades=_UPGRADES)
    h = Harness(shipped_rules(), [device("SD-1", building="B1")])
    runtime = RulesRuntime(h.engine, db, h.topology, SHIPPED_RULES, PROFILES)
    try:
        h.send("SD-1", smoke=True)
        await runtime.save()
        saved = await _saved(runtime)
        assert saved["device:sd-0"] == {"r": ["x", 1]}  # kept through the upgrade
        assert "device:SD-1" in saved
        sql = "SELECT sql FROM sqlite_master WHERE name = 'engine_state'"
        rows = await db.execute_fetchall(sql)
        assert "WITHOUT ROWID" in next(iter(rows))[0]
    finally:
        await db.close()
