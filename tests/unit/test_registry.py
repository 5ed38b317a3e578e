"""The installer registry: grid ladder, grid assignment from the map, checks, persistence."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from gateway.model import FireStation, Grid, GridLevel, GridWorker, Location
from gateway.registry import (
    ConflictError,
    DeviceDraft,
    GridRecord,
    InvalidError,
    NotFoundError,
    Registry,
    open_registry,
)
from gateway.tracker import DeviceState, DeviceTracker
from tests.fixtures.registry import (
    IN_G0101,
    IN_G0102,
    IN_G0104,
    OUTSIDE,
    district,
    profiles,
    registry_with_district,
)


def smoke(device_id: str, at: tuple[float, float] | None = None, **kw: Any) -> DeviceDraft:
    lat, lon = at if at else (None, None)
    location = Location("贵州路 101 号", "1 号楼", "3", lat, lon)
    return replace(DeviceDraft(device_id, "smoke-detector", "smoke", location), **kw)


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[Registry]:
    async with registry_with_district(tmp_path / "registry.sqlite") as opened:
        yield opened


async def test_a_nested_district_imports_with_parents_in_any_order(registry: Registry) -> None:
    grids = {r.grid.code: r.grid for r in registry.grids()}
    assert len(grids) == 7
    assert grids["G-0101"] == Grid(
        "G-0101", "贵州社区第1网格", GridLevel.GRID, "C-0101", "w-001", "w-101"
    )
    assert grids["C-0101"].parent == "S-310101-01"
    assert grids["D-310101"].parent is None
    ladder = [g.code for g in registry.ancestors("G-0103")]
    assert ladder == ["G-0103", "C-0101", "S-310101-01", "D-310101"]


async def test_a_device_without_grid_is_placed_by_its_position(registry: Registry) -> None:
    device = await registry.add_device(smoke("sd-1", IN_G0102))
    assert (device.grid, device.community, device.street) == ("G-0102", "C-0101", "S-310101-01")
    assert registry.by_id("sd-1") == device


async def test_a_named_grid_wins_over_the_position(registry: Registry) -> None:
    device = await registry.add_device(smoke("sd-1", IN_G0102, grid="G-0104"))
    assert device.grid == "G-0104"


async def test_a_device_outside_every_grid_is_refused(registry: Registry) -> None:
    with pytest.raises(InvalidError) as refused:
        await registry.add_device(smoke("sd-9", OUTSIDE))
    [problem] = refused.value.problems
    assert problem.field == ("grid",)
    assert problem.message == "device sd-9 at (31.2, 121.4) lies in no grid; name one with grid="
    assert registry.by_id("sd-9") is None


async def test_a_device_outside_every_grid_is_accepted_when_a_grid_is_named(
    registry: Registry,
) -> None:
    device = await registry.add_device(smoke("sd-9", OUTSIDE, grid="G-0101"))
    assert device.grid == "G-0101"


async def test_a_device_with_neither_grid_nor_position_is_refused(registry: Registry) -> None:
    with pytest.raises(InvalidError, match="no lat/lon to find its grid from"):
        await registry.add_device(smoke("sd-1"))


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"profile": "smoke-alarm-x"}, ("profile",), "unknown profile smoke-alarm-x; known: "),
        ({"grid": "G-9999"}, ("grid",), "unknown grid G-9999"),
        ({"grid": "C-0101"}, ("grid",), "C-0101 is a community; a device belongs to a base grid"),
        (
            {"thresholds": {"battery_low_pct": 15, "smoke_ppm": 3}},
            ("thresholds", "smoke_ppm"),
            "profile smoke-detector has no threshold smoke_ppm; it has: battery_low_pct",
        ),
        (
            {"profile": "smoke-detector-z2m"},
            ("external_id",),
            "profile smoke-detector-z2m reports on zigbee2mqtt/{external_id}: give external_id",
        ),
    ],
)
async def test_a_device_that_does_not_fit_is_refused_precisely(
    registry: Registry, change: dict[str, object], field: tuple[str, ...], says: str
) -> None:
    with pytest.raises(InvalidError) as refused:
        await registry.add_device(smoke("sd-1", IN_G0101, **change))
    [problem] = refused.value.problems
    assert (problem.field, problem.conflict) == (field, False)
    assert problem.message.startswith(says)
    assert registry.devices() == []


async def test_threshold_overrides_named_in_the_profile_are_kept(registry: Registry) -> None:
    device = await registry.add_device(smoke("sd-1", IN_G0101, thresholds={"battery_low_pct": 15}))
    assert device.thresholds == {"battery_low_pct": 15}


async def test_ids_and_external_ids_are_unique(registry: Registry) -> None:
    await registry.add_device(smoke("sd-1", IN_G0101, external_id="tag-1"))
    with pytest.raises(ConflictError, match="device sd-1 already exists"):
        await registry.add_device(smoke("sd-1", IN_G0101))
    with pytest.raises(ConflictError, match="external_id tag-1 is already used by device sd-1"):
        await registry.add_device(smoke("sd-2", IN_G0101, external_id="tag-1"))
    # A patrol scan's uid may match an id or an external id: the two must not collide either.
    with pytest.raises(ConflictError, match="id tag-1 is already the external_id of device sd-1"):
        await registry.add_device(smoke("tag-1", IN_G0101))


async def test_a_batch_is_all_or_nothing_and_reports_every_entry(registry: Registry) -> None:
    batch = [smoke("sd-1", IN_G0101), smoke("sd-2", OUTSIDE), smoke("sd-1", IN_G0104)]
    with pytest.raises(InvalidError) as refused:
        await registry.add_devices(batch)
    assert [(p.item, p.field) for p in refused.value.problems] == [(1, ("grid",)), (2, ("id",))]
    assert refused.value.problems[1].message == "id sd-1 is also given by entry 1"
    assert registry.devices() == []


async def test_the_index_follows_adds_and_deletes(registry: Registry) -> None:
    await registry.add_device(smoke("sd-1", IN_G0101, external_id="kitchen-3F"))
    assert registry.by_external_id("kitchen-3F") == registry.by_id("sd-1")
    removed = await registry.delete_device("sd-1")
    assert removed.id == "sd-1"
    assert registry.by_id("sd-1") is None
    assert registry.by_external_id("kitchen-3F") is None
    with pytest.raises(NotFoundError, match="no device sd-1"):
        await registry.delete_device("sd-1")


async def test_everything_survives_a_restart_with_liveness(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite"
    tracker = DeviceTracker()
    async with registry_with_district(path) as registry:
        await registry.add_device(smoke("sd-1", IN_G0101, external_id="e-1", thresholds={}))
        tracker.seen("sd-1", 1767225600.0)
        tracker.update("sd-1", 1767225600.0, {"smoke": True, "battery_pct": 87, "fw": "1.2"})
        tracker.seen("ghost", 1767225600.0)  # no longer registered: not saved
        await registry.save_states(tracker.items())
    async with open_registry(path, profiles()) as reopened:
        device = reopened.by_external_id("e-1")
        assert device is not None and device.community == "C-0101"
        assert len(reopened.grids()) == 7
        states = await reopened.load_states()
    assert list(states) == ["sd-1"]
    state = states["sd-1"]
    assert (state.last_seen, state.online, state.latest_ts) == (1767225600.0, True, 1767225600.0)
    assert state.latest == {"smoke": True, "battery_pct": 87, "fw": "1.2"}
    assert type(state.latest["smoke"]) is bool


def _as_version_1(path: Path) -> None:
    """Rewrite a registry file as version 1 wrote it: device_states with a rowid."""
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE old (
            device_id TEXT PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
            last_seen REAL, online INTEGER NOT NULL, latest TEXT NOT NULL, latest_ts REAL
        );
        INSERT INTO old SELECT * FROM device_states;
        DROP TABLE device_states;
        ALTER TABLE old RENAME TO device_states;
        PRAGMA user_version = 1;
        """
    )
    conn.close()


def _table_sql(path: Path, table: str) -> str:
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()
        return str(row[0])
    finally:
        conn.close()


async def test_a_version_1_file_is_upgraded_with_its_states(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite"
    async with registry_with_district(path) as registry:
        await registry.add_device(smoke("sd-1", IN_G0101))
        await registry.save_states([("sd-1", _seen_at(1767225600.0))])
    _as_version_1(path)
    assert "WITHOUT ROWID" not in _table_sql(path, "device_states")
    async with open_registry(path, profiles()) as reopened:
        states = await reopened.load_states()
        assert list(states) == ["sd-1"] and states["sd-1"].last_seen == 1767225600.0
        await reopened.delete_device("sd-1")  # the foreign key still cascades
        assert await reopened.load_states() == {}
    assert "WITHOUT ROWID" in _table_sql(path, "device_states")


async def test_a_building_of_detectors_read_back_shares_its_texts(tmp_path: Path) -> None:
    """What keeps 100k devices small: the repeated texts are held once, not once per row."""
    path = tmp_path / "registry.sqlite"
    async with registry_with_district(path) as registry:
        await registry.add_devices([smoke("sd-1", IN_G0101), smoke("sd-2", IN_G0101)])
        await registry.save_states([("sd-1", DeviceState(last_seen=1767225600.0))])
    async with open_registry(path, profiles()) as reopened:
        one, two = reopened.by_id("sd-1"), reopened.by_id("sd-2")
        assert one is not None and two is not None
        assert one.location.address is two.location.address
        assert (one.profile, one.grid, one.name) == (two.profile, two.grid, two.name)
        assert one.grid is two.grid and one.name is two.name and one.profile is two.profile
        assert one.thresholds is two.thresholds == {}
        [saved_id] = await reopened.load_states()
        assert saved_id is one.id  # the state is keyed by the registry's own id


async def test_a_device_whose_profile_is_gone_is_kept_but_not_served(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite"
    async with registry_with_district(path) as registry:
        await registry.add_device(smoke("sd-1", IN_G0101))
    fewer = {n: p for n, p in profiles().items() if n != "smoke-detector"}
    async with open_registry(path, fewer) as reopened:
        assert reopened.by_id("sd-1") is None
    async with open_registry(path, profiles()) as restored:
        assert restored.by_id("sd-1") is not None


async def test_workers_and_stations_are_kept_and_unique(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite"
    async with open_registry(path, profiles()) as registry:
        await registry.add_worker(GridWorker("w-001", "张伟", "13800000001"))
        await registry.add_station(FireStation("ms-01", "贵州路微型消防站", 31.232, 121.472))
        with pytest.raises(ConflictError):
            await registry.add_worker(GridWorker("w-001", "李娜"))
    async with open_registry(path, profiles()) as reopened:
        assert reopened.worker("w-001") == GridWorker("w-001", "张伟", "13800000001")
        assert [s.id for s in reopened.stations()] == ["ms-01"]


def _unit(code: str, level: GridLevel, parent: str | None) -> GridRecord:
    return GridRecord(Grid(code, code, level, parent), None)


async def test_a_grid_import_with_a_broken_ladder_is_refused_whole(tmp_path: Path) -> None:
    async with open_registry(tmp_path / "r.sqlite", profiles()) as registry:
        bad = [
            _unit("S-1", GridLevel.STREET, "D-404"),
            _unit("C-1", GridLevel.COMMUNITY, None),
            _unit("S-2", GridLevel.STREET, "C-1"),
            _unit("G-1", GridLevel.GRID, "C-1"),
            _unit("C-1", GridLevel.COMMUNITY, None),
        ]
        with pytest.raises(InvalidError) as refused:
            await registry.import_grids(bad)
        found = {(p.field[1:], p.message) for p in refused.value.problems}
        assert found == {
            ((0, "properties", "parent"), "parent D-404 of S-1 is neither registered nor here"),
            (
                (2, "properties", "parent"),
                "parent C-1 is a community; a street must sit under a higher level",
            ),
            ((3, "geometry"), "grid G-1 has no boundary"),
            ((4, "properties", "code"), "code C-1 repeats feature 1"),
        }
        assert registry.grids() == []


async def test_moving_a_community_retags_its_devices(registry: Registry) -> None:
    await registry.add_device(smoke("sd-1", IN_G0101))
    street = GridRecord(Grid("S-310101-02", "外滩街道", GridLevel.STREET, "D-310101"))
    community = next(r for r in district() if r.grid.code == "C-0101")
    moved = replace(community, grid=replace(community.grid, parent="S-310101-02"))
    assert await registry.import_grids([street, moved]) == (1, 1)
    device = registry.by_id("sd-1")
    assert device is not None and device.street == "S-310101-02"


async def test_a_unit_cannot_drop_below_what_hangs_under_it(registry: Registry) -> None:
    community = next(r for r in district() if r.grid.code == "C-0101")
    lowered = replace(community, grid=replace(community.grid, level=GridLevel.GRID))
    with pytest.raises(InvalidError, match="C-0101 would be a grid above the grid G-0101"):
        await registry.import_grids([lowered])


# -- editing a registered device ------------------------------------------------------------


async def test_a_moved_device_is_placed_in_the_grid_under_its_new_position(
    registry: Registry,
) -> None:
    await registry.add_device(smoke("sd-1", IN_G0101, external_id="kitchen-3F"))
    await registry.save_states([("sd-1", _seen_at(1767225600.0))])
    moved = await registry.replace_device(
        "sd-1", smoke("sd-1", IN_G0104, name="lobby", external_id="kitchen-3F")
    )
    assert (moved.grid, moved.name, moved.location.lat) == ("G-0104", "lobby", IN_G0104[0])
    assert registry.by_id("sd-1") == moved == registry.by_external_id("kitchen-3F")
    assert [d.id for d in registry.devices()] == ["sd-1"]
    # Its liveness stays: a move is not a new device.
    assert (await registry.load_states())["sd-1"].last_seen == 1767225600.0


async def test_an_edit_may_keep_its_own_external_id_but_not_take_another(
    registry: Registry,
) -> None:
    await registry.add_device(smoke("sd-1", IN_G0101, external_id="kitchen-3F"))
    await registry.add_device(smoke("sd-2", IN_G0101, external_id="hall-1F"))
    with pytest.raises(ConflictError, match="external_id hall-1F is already used by device sd-2"):
        await registry.replace_device("sd-1", smoke("sd-1", IN_G0101, external_id="hall-1F"))
    with pytest.raises(ConflictError, match="external_id sd-2 is already the id of another"):
        await registry.replace_device("sd-1", smoke("sd-1", IN_G0101, external_id="sd-2"))
    assert registry.by_external_id("kitchen-3F") == registry.by_id("sd-1")
    renamed = await registry.replace_device("sd-1", smoke("sd-1", IN_G0101, external_id="k-3"))
    assert registry.by_external_id("k-3") == renamed
    assert registry.by_external_id("kitchen-3F") is None
    # The freed external id is free for another device again.
    await registry.add_device(smoke("sd-3", IN_G0101, external_id="kitchen-3F"))


async def test_another_profile_is_another_device_and_is_refused(registry: Registry) -> None:
    await registry.add_device(smoke("sd-1", IN_G0101))
    water = replace(smoke("sd-1", IN_G0101), profile="water-pressure-sensor")
    with pytest.raises(ConflictError, match="delete this one and register the replacement"):
        await registry.replace_device("sd-1", water)
    kept = registry.by_id("sd-1")
    assert kept is not None and kept.profile == "smoke-detector"


async def test_an_edit_is_checked_like_a_registration(registry: Registry) -> None:
    await registry.add_device(smoke("sd-1", IN_G0101))
    before = registry.by_id("sd-1")
    with pytest.raises(NotFoundError, match="no device sd-9"):
        await registry.replace_device("sd-9", smoke("sd-9", IN_G0101))
    with pytest.raises(InvalidError, match="lies in no grid"):
        await registry.replace_device("sd-1", smoke("sd-1", OUTSIDE))
    with pytest.raises(InvalidError, match="has no threshold residual_current_ma"):
        await registry.replace_device(
            "sd-1", smoke("sd-1", IN_G0101, thresholds={"residual_current_ma": 300})
        )
    with pytest.raises(InvalidError, match="the id is sd-1, not sd-2"):
        await registry.replace_device("sd-1", smoke("sd-2", IN_G0101))
    assert registry.by_id("sd-1") == before


async def test_an_edit_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite"
    async with registry_with_district(path) as registry:
        await registry.add_device(smoke("sd-1", IN_G0101, installer="inst-01"))
        await registry.save_states([("sd-1", _seen_at(1767225600.0))])
        edited = smoke(
            "sd-1", IN_G0102, name="hall", thresholds={"battery_low_pct": 15}, external_id="e-1"
        )
        await registry.replace_device("sd-1", edited)
    async with open_registry(path, profiles()) as reopened:
        device = reopened.by_external_id("e-1")
        assert device is not None and device == reopened.by_id("sd-1")
        assert (device.grid, device.community, device.name) == ("G-0102", "C-0101", "hall")
        assert device.thresholds == {"battery_low_pct": 15} and device.installer is None
        assert list(await reopened.load_states()) == ["sd-1"]


def _seen_at(at: float) -> DeviceState:
    return DeviceState(last_seen=at, online=True)


async def test_the_fleet_is_one_tuple_until_a_device_is_added_changed_or_deleted(
    registry: Registry,
) -> None:
    """The sweeps and rule ticks walk this tuple in steps: it must not be copied per pass,
    and must never miss a change."""
    await registry.add_device(smoke("sd-1", IN_G0101))
    fleet = registry.fleet()
    assert [d.id for d in fleet] == ["sd-1"] and registry.fleet() is fleet
    await registry.add_device(smoke("sd-2", IN_G0102))
    assert sorted(d.id for d in registry.fleet()) == ["sd-1", "sd-2"]
    moved = await registry.replace_device("sd-1", smoke("sd-1", IN_G0102))
    assert moved in registry.fleet() and registry.by_id("sd-1") is moved
    await registry.delete_device("sd-2")
    assert registry.fleet() == (moved,)
