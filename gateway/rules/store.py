"""The engine's state, and the :class:`~gateway.rules.base.Context` the rules act through.

Per-device states by rule id then device id (read per device through :class:`DeviceStates`),
cross-device states by rule id then group key, hold/window timers by (device id, rule id), and
the keys changed since the last save. Nothing here reads a
clock or does I/O; :mod:`gateway.rules.engine` drives it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any

from gateway.keyorder import in_key_steps
from gateway.model import Device, FieldValue
from gateway.rules.base import Detail, RuleMeta, State
from gateway.rules.compile import CompiledRules
from gateway.rules.outcomes import Alarm, Clear, Outcome

DEVICE = "device:"
SOFT_SAVE_S = 30.0  # soft changes (Context.touch) are saved at least this often


class DeviceStates(Mapping[str, State]):
    """One device's states, by rule id: a view of :attr:`Store.by_rule` (states are kept by
    rule, then device — one dict entry per state, where a dict per device cost ~200 bytes)."""

    __slots__ = ("_by_rule", "_device_id")

    def __init__(self, by_rule: Mapping[str, Mapping[str, State]], device_id: str) -> None:
        self._by_rule = by_rule
        self._device_id = device_id

    def get(self, key: str, default: Any = None) -> Any:
        states = self._by_rule.get(key)
        return default if states is None else states.get(self._device_id, default)

    def __getitem__(self, key: str) -> State:
        found: State | None = self.get(key)
        if found is None:
            raise KeyError(key)
        return found

    def __iter__(self) -> Iterator[str]:
        device_id = self._device_id
        return (rule_id for rule_id, states in self._by_rule.items() if device_id in states)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class Taken:
    """The keys a save took: device ids and group keys, prefixed only as each step needs them
    (a district's worth of ``device:<id>`` strings held through a whole save would leave the
    allocator's pools fragmented long after)."""

    __slots__ = ("devices", "groups")

    def __init__(self, devices: list[str], groups: list[str]) -> None:
        self.devices = devices
        self.groups = groups

    def __len__(self) -> int:
        return len(self.devices) + len(self.groups)

    def steps(self, size: int) -> Iterator[list[str]]:
        """The keys, ``size`` at a time, in sorted runs (see :func:`in_key_steps`)."""
        for step in in_key_steps(self.devices, size):
            yield [DEVICE + d for d in step]
        yield from in_key_steps(self.groups, size)


class Store:
    def __init__(
        self,
        rules: CompiledRules,
        commissioning: Callable[[str], bool],
        own_id: Callable[[str], str] = str,
    ) -> None:
        self.rules = rules
        self.commissioning = commissioning
        # A restored device id as the registry holds it: one string per device, not two.
        self.own_id = own_id
        # rule id → device id → state: one dict entry per device state (see DeviceStates)
        self.by_rule: dict[str, dict[str, State]] = {}
        self.groups: dict[str, dict[str, State]] = {}
        self.timers: dict[tuple[str, str], float] = {}
        self.dirty_devices: set[str] = set()
        self.dirty_groups: set[str] = set()
        # Changed softly (see Context.touch): saved by the slower, complete saves.
        self.soft_devices: set[str] = set()
        self.soft_groups: set[str] = set()

    # -- Context ---------------------------------------------------------------------------

    def state(self, device_id: str, rule_id: str) -> State | None:
        states = self.by_rule.get(rule_id)
        return None if states is None else states.get(device_id)

    def states_of_device(self, device_id: str) -> DeviceStates:
        return DeviceStates(self.by_rule, device_id)

    def put(self, device_id: str, rule_id: str, state: State) -> None:
        self._put(device_id, rule_id, state)
        self.dirty_devices.add(device_id)

    def _put(self, device_id: str, rule_id: str, state: State) -> None:
        states = self.by_rule.get(rule_id)
        if states is None:
            states = self.by_rule[rule_id] = {}
        states[device_id] = state

    def drop(self, device_id: str, rule_id: str) -> None:
        states = self.by_rule.get(rule_id)
        if states is not None and states.pop(device_id, None) is not None:
            self.dirty_devices.add(device_id)
        self.timers.pop((device_id, rule_id), None)

    def touch(self, device_id: str, *, soft: bool = False) -> None:
        (self.soft_devices if soft else self.dirty_devices).add(device_id)

    def set_timer(self, device_id: str, rule_id: str, due: float | None) -> None:
        if due is None:
            self.timers.pop((device_id, rule_id), None)
        else:
            self.timers[(device_id, rule_id)] = due

    def group(self, rule_id: str) -> MutableMapping[str, State]:
        states = self.groups.get(rule_id)
        if states is None:
            states = self.groups[rule_id] = {}
        return states

    def touch_group(self, key: str, *, soft: bool = False) -> None:
        (self.soft_groups if soft else self.dirty_groups).add(key)

    def is_test(self, device_id: str, fields: Mapping[str, FieldValue] | None) -> bool:
        return (fields is not None and fields.get("test") is True) or self.commissioning(device_id)

    def alarm(
        self,
        meta: RuleMeta,
        subject: str,
        device: Device,
        at: float,
        detail: Detail,
        test: bool,
        out: list[Outcome],
        *,
        device_id: str | None = None,
        supersedes: tuple[str, ...] = (),
    ) -> None:
        if meta.notify is not None:
            detail["notify"] = meta.notify
        alarm = None
        if meta.emit:
            alarm = Alarm(
                meta.id,
                subject,
                device_id or device.id,
                meta.kind,
                meta.severity,
                meta.title,
                at,
                detail,
                test,
                supersedes,
            )
        watchers = self.rules.watchers.get(meta.id)
        extra: list[Outcome] = []
        if watchers and not test:
            for watcher in watchers:
                alarm = watcher.observe(self, meta.id, device, at, alarm, extra)
        if alarm is not None:
            out.append(alarm)
        out.extend(extra)

    def clear(
        self, meta: RuleMeta, subject: str, at: float, detail: Detail, out: list[Outcome]
    ) -> None:
        if meta.emit and meta.clears:
            out.append(Clear(meta.id, subject, at, detail))

    # -- persistence -----------------------------------------------------------------------

    def states_of(self, key: str) -> dict[str, State]:
        if key.startswith(DEVICE):
            return dict(self.states_of_device(key[len(DEVICE) :]))
        return {rule_id: g[key] for rule_id, g in self.groups.items() if key in g}

    def all_keys(self) -> list[str]:
        keys = {DEVICE + d for states in self.by_rule.values() for d in states}
        for states in self.groups.values():
            keys.update(states)
        return sorted(keys)

    def dirty(self, soft: bool) -> set[str]:
        """The keys changed since they were saved; with ``soft``, the softly changed too."""
        devices = self.dirty_devices | self.soft_devices if soft else self.dirty_devices
        groups = self.dirty_groups | self.soft_groups if soft else self.dirty_groups
        return {DEVICE + d for d in devices} | groups

    def take_dirty(self, soft: bool) -> Taken:
        """The keys to save now, clean from here on (a key changed after this is dirty again).
        Swaps the sets rather than emptying them key by key: a city's worth in one go."""
        devices, self.dirty_devices = self.dirty_devices, set()
        groups, self.dirty_groups = self.dirty_groups, set()
        if soft:
            devices |= self.soft_devices
            groups |= self.soft_groups
            self.soft_devices, self.soft_groups = set(), set()
        else:  # saved with their decisions now: soft no longer
            self.soft_devices -= devices
            self.soft_groups -= groups
        return Taken(list(devices), list(groups))

    def give_back(self, taken: Taken) -> None:
        """A save that failed: what it took is dirty again."""
        self.dirty_devices.update(taken.devices)
        self.dirty_groups.update(taken.groups)

    def mark_clean(self, keys: set[str] | frozenset[str] | list[str]) -> None:
        for key in keys:
            if key.startswith(DEVICE):
                self.dirty_devices.discard(key[len(DEVICE) :])
                self.soft_devices.discard(key[len(DEVICE) :])
            else:
                self.dirty_groups.discard(key)
                self.soft_groups.discard(key)

    def dump_key(self, key: str) -> dict[str, Any] | None:
        # A device's states are read through a view (states_of copies): saves dump thousands a
        # second.
        states: Mapping[str, State] = (
            self.states_of_device(key[len(DEVICE) :])
            if key.startswith(DEVICE)
            else self.states_of(key)
        )
        if not states:
            return None
        prints = self.rules.fingerprints
        return {rule_id: [prints.get(rule_id, ""), st.dump()] for rule_id, st in states.items()}

    def load_key(self, key: str, data: Mapping[str, Any]) -> list[str]:
        """Replace a key's states; return why entries were left out (changed rule, bad data)."""
        self.discard_key(key)
        skipped = []
        for rule_id, entry in data.items():
            try:
                fingerprint, dumped = entry
                if fingerprint != self.rules.fingerprints.get(rule_id):
                    skipped.append(f"{key} {rule_id}: the rule changed or is gone")
                    continue
                self._load_one(key, rule_id, dumped)
            except (TypeError, ValueError, KeyError, IndexError) as exc:
                skipped.append(f"{key} {rule_id}: unreadable state: {exc}")
        return skipped

    def _load_one(self, key: str, rule_id: str, dumped: Any) -> None:
        if key.startswith(DEVICE):
            device_id = self.own_id(key[len(DEVICE) :])
            state = self.rules.device_states[rule_id].load(dumped)
            self._put(device_id, rule_id, state)
            due = state.due()
            if due is not None:
                self.timers[(device_id, rule_id)] = due
        else:
            self.group(rule_id)[key] = self.rules.group_states[rule_id].load(dumped)

    def discard_key(self, key: str) -> None:
        if key.startswith(DEVICE):
            device_id = key[len(DEVICE) :]
            for rule_id, states in self.by_rule.items():
                if states.pop(device_id, None) is not None:
                    self.timers.pop((device_id, rule_id), None)
        else:
            for states in self.groups.values():
                states.pop(key, None)

    def keep_only(self, rule_ids: set[str]) -> None:
        """Drop the state of every rule not in ``rule_ids`` (reload: changed or removed)."""
        for rule_id in [r for r in self.by_rule if r not in rule_ids]:
            for device_id in self.by_rule.pop(rule_id):
                self.timers.pop((device_id, rule_id), None)
                self.dirty_devices.add(device_id)
        for rule_id in [r for r in self.groups if r not in rule_ids]:
            self.dirty_groups.update(self.groups.pop(rule_id))
