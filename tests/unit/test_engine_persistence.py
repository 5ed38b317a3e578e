"""Restart and reload: a running hold survives, a held alarm never fires twice."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest

from gateway.rules import RulesEngine, fingerprint, load_rule_sets
from gateway.yamlfile import ConfigFileError
from tests.unit.test_engine_support import (
    PROFILES,
    SHIPPED_RULES,
    T0,
    Harness,
    alarms,
    clears,
    device,
    shipped_rules,
)

FLEET = [
    device("EF-1", "electrical-fire-monitor", building="B1"),
    device("SD-1", building="B1"),
    device("SD-2", building="B1"),
    device("TAG-1", "nfc-patrol-tag", lat=31.23, lon=121.47),
]


def restarted(h: Harness, snapshot: dict[str, object]) -> Harness:
    """A new process: a new engine fed the saved state through JSON, same topology and time."""
    fresh = Harness(h.rule_set, list(h.topology.by_id.values()), now=h.now)
    fresh.topology.seen = dict(h.topology.seen)
    assert fresh.engine.restore(orjson.loads(orjson.dumps(snapshot))) == []
    return fresh


def test_a_hold_running_at_restart_fires_once_at_the_right_time() -> None:
    h = Harness(shipped_rules(), FLEET)
    h.send("EF-1", cable_temp_c_1=80.0)  # 20 s hold starts at T0
    assert h.at(12).tick() == []
    h = restarted(h.at(15), h.engine.snapshot())
    assert h.at(19).tick() == []
    [alarm] = alarms(h.at(20).tick(), "cable-overheat")
    assert alarm.at == T0 + 20 and alarm.detail["since"] == T0
    assert h.at(30).tick() == [] and h.at(40).send("EF-1", cable_temp_c_1=81.0) == []


def test_held_alarms_do_not_fire_again_after_a_restart() -> None:
    h = Harness(shipped_rules(), FLEET)
    h.send("EF-1", cable_temp_c_1=80.0)
    assert alarms(h.at(20).tick())
    assert alarms(h.send("SD-1", smoke=True, fault=True))
    assert alarms(h.at(30).send("SD-2", smoke=True), "fire-confirmed-building")
    h.topology.seen["EF-1"] = T0 + 20
    assert alarms(h.at(700).tick(), "device-offline")

    h = restarted(h, h.engine.snapshot())
    assert h.at(800).tick() == []  # offline still held, hold already fired
    again = h.at(810).send("SD-1", smoke=True, fault=True)
    again += h.send("SD-2", smoke=True)
    assert again == []  # smoke, fault, and the building's confirmed fire: all held
    [back] = clears(h.send("EF-1", cable_temp_c_1=80.0), "device-offline")  # still hot: held
    assert back.subject == "EF-1"
    assert clears(h.at(820).send("EF-1", cable_temp_c_1=60.0), "cable-overheat")


def test_dirty_keys_allow_saving_only_what_changed() -> None:
    h = Harness(shipped_rules(), FLEET)
    engine = h.engine
    h.send("SD-1", smoke=False, fault=False, battery_pct=90.0)
    assert engine.dirty_keys() == set()  # a healthy heartbeat changes no state
    h.send("SD-1", smoke=True)
    h.at(10).send("SD-2", smoke=True)
    h.at(20).send("TAG-1", worker_id="W-1", result="ok")
    assert engine.dirty_keys() == {
        "device:SD-1",
        "device:SD-2",
        "device:TAG-1",
        "building:G-0301/B1",
        "worker:W-1",
    }
    saved = {key: engine.snapshot_key(key) for key in engine.dirty_keys()}
    engine.mark_clean(saved)
    assert engine.dirty_keys() == set()
    h.at(30).send("SD-1", smoke=False)  # the fire condition resets (silently)
    assert engine.dirty_keys() == {"device:SD-1"}
    assert engine.snapshot_key("device:SD-1") is None  # nothing left: delete the saved row
    saved["device:SD-1"] = None

    fresh = RulesEngine(shipped_rules(), PROFILES)
    for key, data in saved.items():
        if data is not None:
            assert fresh.restore_key(key, orjson.loads(orjson.dumps(data))) == []
    assert fresh.snapshot() == engine.snapshot()


def test_state_of_a_rule_changed_while_down_is_left_out(tmp_path: Path) -> None:
    h = Harness(shipped_rules(), FLEET)
    h.send("EF-1", cable_temp_c_1=80.0)
    snapshot = h.engine.snapshot()
    rules = _copy_rules(
        tmp_path, 'for_s: hold_s\n\n  # DOMAIN.md: "arc', 'for_s: 30\n\n  # DOMAIN.md: "arc'
    )
    fresh = RulesEngine(load_rule_sets(rules, PROFILES), PROFILES)
    assert fresh.restore(snapshot) == ["device:EF-1 cable-overheat: the rule changed or is gone"]
    assert fresh.restore({"version": 99}) == ["snapshot version 99 is not 1"]


def _copy_rules(tmp_path: Path, old: str = "", new: str = "") -> Path:
    target = tmp_path / "rules"
    shutil.copytree(SHIPPED_RULES, target, dirs_exist_ok=True)
    if old:
        path = target / "electrical.yaml"
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new, 1))
    return target


def test_reload_keeps_unchanged_rules_running_and_drops_changed_ones(tmp_path: Path) -> None:
    directory = _copy_rules(tmp_path)
    h = Harness(load_rule_sets(directory, PROFILES), FLEET)
    h.send("EF-1", cable_temp_c_1=80.0, residual_current_ma=400.0)  # two holds start
    before = fingerprint(directory)
    path = directory / "electrical.yaml"
    text = path.read_text()
    text = text.replace(
        "above: residual_current_ma, hysteresis: 30}", "above: 350, hysteresis: 30}"
    )
    text = text.replace("Cable temperature too high", "Cable overheating")  # wording only
    path.write_text(text)
    assert fingerprint(directory) != before

    h.engine.reload(load_rule_sets(directory, PROFILES))
    out = h.at(20).tick()
    [cable] = alarms(out)  # the cable hold survived; the changed residual rule starts over
    assert cable.rule_id == "cable-overheat" and cable.title.endswith("Cable overheating")
    h.at(21).send("EF-1", residual_current_ma=400.0)
    assert alarms(h.at(41).tick(), "residual-current-high")


def test_an_invalid_file_on_reload_keeps_the_old_rules(tmp_path: Path) -> None:
    directory = _copy_rules(tmp_path)
    h = Harness(load_rule_sets(directory, PROFILES), FLEET)
    h.send("EF-1", cable_temp_c_1=80.0)
    path = directory / "electrical.yaml"
    path.write_text(path.read_text().replace("severity: critical", "severity: dire", 1))
    with pytest.raises(ConfigFileError, match=r"electrical.yaml:\d+: rules.3.severity: Input"):
        h.engine.reload(load_rule_sets(directory, PROFILES))
    assert alarms(h.at(20).tick(), "cable-overheat")  # still running, state intact


def test_reload_dropping_the_storm_rule_releases_suppressed_offline_alarms(tmp_path: Path) -> None:
    directory = _copy_rules(tmp_path)
    monitors = [device(f"EF-{i}", "electrical-fire-monitor") for i in range(6)]
    h = Harness(load_rule_sets(directory, PROFILES), monitors)
    for m in monitors:
        h.send(m.id, voltage_v=230.0)
    assert [a.rule_id for a in alarms(h.at(460).tick())] == ["grid-outage"]
    assert h.at(700).tick() == []  # offline alarms suppressed by the outage
    (directory / "liveness.yaml").write_text(
        (directory / "liveness.yaml").read_text().split("  # A power cut")[0]
    )
    h.engine.reload(load_rule_sets(directory, PROFILES))
    assert len(alarms(h.at(710).tick(), "device-offline")) == 6


def test_a_patrol_scan_is_saved_once_and_not_again_by_the_next_tick() -> None:
    """The scan works out when the tag falls due; the tick after it has nothing to change."""
    h = Harness(shipped_rules(), FLEET)
    h.send("TAG-1", worker_id="W-1", result="ok")
    assert "device:TAG-1" in h.engine.dirty_keys()
    h.engine.mark_clean(h.engine.dirty_keys())
    assert h.at(2).tick() == []
    assert "device:TAG-1" not in h.engine.dirty_keys()
    [saved] = h.engine.snapshot_key("device:TAG-1").values()  # type: ignore[union-attr]
    assert saved[1][3] is not None  # overdue_at, from the scan


def test_soft_changes_wait_for_a_complete_save_and_decisions_do_not() -> None:
    """A moved baseline or timestamp is saved with the slower complete saves; anything that
    raises, clears, arms or disarms is in the next frequent save (``soft=False``)."""
    h = Harness(shipped_rules(), FLEET)
    engine = h.engine
    h.send("EF-1", cable_temp_c_1=40.0)  # cable-temp-rising starts its baseline: new state
    assert engine.dirty_keys(soft=False) == {"device:EF-1"}
    engine.mark_clean(engine.dirty_keys())
    h.at(60).send("EF-1", cable_temp_c_1=41.0)  # the baseline moves, nothing is decided
    assert engine.dirty_keys(soft=False) == set()
    assert engine.dirty_keys() == {"device:EF-1"}

    h.at(70).send("EF-1", cable_temp_c_1=80.0)  # cable-overheat arms its 20 s hold
    assert "device:EF-1" in engine.dirty_keys(soft=False)
    engine.mark_clean(engine.dirty_keys())
    h.at(75).send("EF-1", cable_temp_c_1=80.5)  # still holding: only the time moved
    assert engine.dirty_keys(soft=False) == set()
    assert alarms(h.at(90).send("EF-1", cable_temp_c_1=81.0), "cable-overheat")
    assert "device:EF-1" in engine.dirty_keys(soft=False)  # fired: saved at once
    engine.mark_clean(engine.dirty_keys())

    h.at(100).send("TAG-1", worker_id="W-1", result="ok")
    assert engine.dirty_keys(soft=False) == {"device:TAG-1"}  # the tag's patrol window
    assert engine.dirty_keys() == {"device:TAG-1", "worker:W-1"}  # the worker's last scan
    engine.mark_clean(engine.dirty_keys())
    assert engine.dirty_keys() == set()
