"""The rule state store keeps states by rule, then device: no dict per device."""

from __future__ import annotations

from gateway.rules.base import State
from gateway.rules.compile import CompiledRules
from gateway.rules.conditions.storm import OutageState
from gateway.rules.store import DEVICE, Store

RULES = CompiledRules(
    reading={},
    ticking={},
    by_profile={},
    watchers={},
    storms=(),
    device_states={"a": OutageState, "b": OutageState},
    group_states={},
    fingerprints={"a": "fa", "b": "fb"},
)


def store() -> Store:
    return Store(RULES, commissioning=lambda _: False)


def test_states_are_kept_by_rule_and_read_per_device_through_a_view() -> None:
    s = store()
    s.put("SD-1", "a", OutageState(1))
    assert s.by_rule == {"a": {"SD-1": s.state("SD-1", "a")}}  # no dict per device
    assert s.state("SD-1", "a").since == 1 and s.state("SD-1", "b") is None  # type: ignore[union-attr]
    s.put("SD-1", "b", OutageState(3))
    view = s.states_of_device("SD-1")
    assert dict(view) == {"a": s.state("SD-1", "a"), "b": s.state("SD-1", "b")}
    assert view.get("a") is s.state("SD-1", "a") and view.get("c") is None and len(view) == 2
    assert dict(s.states_of_device("SD-2")) == {}

    s.set_timer("SD-1", "a", 100.0)
    s.drop("SD-1", "a")
    assert list(s.states_of_device("SD-1")) == ["b"] and ("SD-1", "a") not in s.timers
    s.dirty_devices.clear()
    s.drop("SD-1", "a")  # absent: nothing changes, nothing to save
    assert s.dirty_devices == set()
    s.drop("SD-1", "b")
    assert dict(s.states_of_device("SD-1")) == {} and s.all_keys() == []


def test_compact_states_save_load_and_survive_a_reload() -> None:
    s = store()
    s.put("SD-1", "a", OutageState(1))
    s.put("SD-2", "a", OutageState(2))
    s.put("SD-2", "b", OutageState(3))
    dumped = {key: s.dump_key(key) for key in s.all_keys()}
    assert dumped == {
        DEVICE + "SD-1": {"a": ["fa", 1]},
        DEVICE + "SD-2": {"a": ["fa", 2], "b": ["fb", 3]},
    }

    fresh = store()
    for key, data in dumped.items():
        assert data is not None and fresh.load_key(key, data) == []
    assert fresh.state("SD-1", "a").since == 1  # type: ignore[union-attr]
    assert {k: fresh.dump_key(k) for k in fresh.all_keys()} == dumped

    fresh.keep_only({"b"})  # rule a removed by a reload
    assert dict(fresh.states_of_device("SD-1")) == {}
    assert list(fresh.states_of_device("SD-2")) == ["b"]
    assert fresh.dirty_devices == {"SD-1", "SD-2"}


def test_a_save_writes_its_keys_in_key_order() -> None:
    """The upserts then walk the state table's B-tree front to back (see gateway.keyorder)."""
    s = store()
    ids = [f"SD-{n:05d}" for n in range(2000, 0, -7)]
    for device_id in ids:
        s.put(device_id, "a", OutageState(1))
        s.touch_group(f"grid:{device_id}")
    taken = s.take_dirty(soft=False)
    keys = [key for step in taken.steps(100) for key in step]
    assert keys == sorted(DEVICE + i for i in ids) + sorted(f"grid:{i}" for i in ids)


def test_every_kind_of_state_saves_and_loads_itself() -> None:
    """``State`` is a plain base (see its docstring), so nothing but this checks that a new
    kind of state implements both halves of the round trip."""
    import gateway.rules.compile  # noqa: F401  (imports every condition module)

    kinds: list[type[State]] = []
    todo = list(State.__subclasses__())
    while todo:
        kind = todo.pop()
        kinds.append(kind)
        todo += kind.__subclasses__()
    shipped = [k for k in kinds if k.__module__.startswith("gateway.")]
    assert len(shipped) >= 7
    for kind in shipped:
        own = vars(kind)  # (compiled, a classmethod has no __func__ to compare)
        assert "dump" in own, f"{kind.__name__} does not dump"
        assert "load" in own, f"{kind.__name__} does not load"
