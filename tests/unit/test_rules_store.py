"""The rule state store's compact holding of a device's states: one rule, one small record."""

from __future__ import annotations

import sys
from typing import Any, Self

from gateway.rules.base import State
from gateway.rules.compile import CompiledRules
from gateway.rules.store import DEVICE, OneState, Store


class Count(State):
    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n

    def dump(self) -> Any:
        return self.n

    @classmethod
    def load(cls, data: Any) -> Self:
        return cls(int(data))


RULES = CompiledRules(
    reading={},
    ticking={},
    by_profile={},
    watchers={},
    storms=(),
    device_states={"a": Count, "b": Count},
    group_states={},
    fingerprints={"a": "fa", "b": "fb"},
)


def store() -> Store:
    return Store(RULES, commissioning=lambda _: False)


def test_one_state_is_held_compactly_and_grows_into_a_dict_and_back() -> None:
    s = store()
    s.put("SD-1", "a", Count(1))
    held = s.devices["SD-1"]
    assert isinstance(held, OneState) and dict(held) == {"a": held.state}
    assert s.state("SD-1", "a").n == 1 and s.state("SD-1", "b") is None  # type: ignore[union-attr]
    assert sys.getsizeof(held) < sys.getsizeof({"a": held.state}) / 2

    s.put("SD-1", "a", Count(2))  # the same rule again: still one entry
    assert isinstance(s.devices["SD-1"], OneState) and s.state("SD-1", "a").n == 2  # type: ignore[union-attr]
    s.put("SD-1", "b", Count(3))  # a second rule keeps state: a dict of both
    assert isinstance(s.devices["SD-1"], dict) and set(s.devices["SD-1"]) == {"a", "b"}

    s.set_timer("SD-1", "a", 100.0)
    s.drop("SD-1", "a")  # back to one
    assert isinstance(s.devices["SD-1"], OneState) and list(s.devices["SD-1"]) == ["b"]
    assert ("SD-1", "a") not in s.timers
    s.drop("SD-1", "a")  # absent: nothing changes
    assert list(s.devices["SD-1"]) == ["b"]
    s.drop("SD-1", "b")
    assert "SD-1" not in s.devices


def test_compact_states_save_load_and_survive_a_reload() -> None:
    s = store()
    s.put("SD-1", "a", Count(1))
    s.put("SD-2", "a", Count(2))
    s.put("SD-2", "b", Count(3))
    dumped = {key: s.dump_key(key) for key in s.all_keys()}
    assert dumped == {
        DEVICE + "SD-1": {"a": ["fa", 1]},
        DEVICE + "SD-2": {"a": ["fa", 2], "b": ["fb", 3]},
    }

    fresh = store()
    for key, data in dumped.items():
        assert data is not None and fresh.load_key(key, data) == []
    assert isinstance(fresh.devices["SD-1"], OneState)
    assert {k: fresh.dump_key(k) for k in fresh.all_keys()} == dumped

    fresh.keep_only({"b"})  # rule a removed by a reload
    assert "SD-1" not in fresh.devices
    assert isinstance(fresh.devices["SD-2"], OneState) and list(fresh.devices["SD-2"]) == ["b"]
    assert fresh.dirty_devices == {"SD-1", "SD-2"}
