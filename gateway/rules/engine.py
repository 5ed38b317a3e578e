"""The rules engine: reading + state + time → outcomes (:class:`Alarm` / :class:`Clear`).

Pure: no I/O, no clock. The caller passes the time (``now``) and, on a tick, a read-only
:class:`~gateway.rules.topology.Topology`. A reading is judged at its own time (``reading.ts``,
capped at ``now`` so a device clock running ahead cannot push timers into the future); timers,
inactivity, patrol windows and storms are judged at ``now`` on a tick.

Typical wiring::

    engine = RulesEngine(load_rule_sets(rules_dir, profiles), profiles, commissioning=ids)
    engine.restore(saved)                       # after a restart
    outcomes = engine.on_reading(reading, device, now)      # every accepted reading
    outcomes = engine.on_tick(now, topology)                # every few seconds
    for key in engine.dirty_keys(): save(key, engine.snapshot_key(key))
    engine.mark_clean(saved_keys)
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from typing import Any

from gateway.model import Device, Reading
from gateway.profiles import DeviceProfile
from gateway.rules.base import DeviceRule, Tick
from gateway.rules.compile import CompiledRules, compile_rules
from gateway.rules.outcomes import Outcome
from gateway.rules.ruleset import RuleSet
from gateway.rules.store import DEVICE, Store, Taken
from gateway.rules.topology import Topology

SNAPSHOT_VERSION = 1
DEVICES_PER_STEP = 2000  # ~3 ms of a tick's sweep between two chances for the event loop
Commissioning = Callable[[str], bool] | Collection[str]


def _never(device_id: str) -> bool:
    return False


def _as_predicate(commissioning: Commissioning | None) -> Callable[[str], bool]:
    if commissioning is None:
        return _never
    if callable(commissioning):
        return commissioning
    return commissioning.__contains__  # a live set: later additions count


class RulesEngine:
    """Compiled rules and their state; one instance per partition (today: the whole gateway).

    ``own_id`` maps a device id read back from a saved key to the string the registry already
    holds (one copy per device). ``commissioning`` names devices in commissioning mode (调试): a
    callable ``id → bool`` or a collection of ids; their alarms, like those of a reading with
    ``test: true``, are raised with ``test=True`` (the incident service sends those to the
    installer only).
    Raises :class:`~gateway.yamlfile.ConfigFileError` when the rules do not fit the profiles.
    """

    def __init__(
        self,
        rule_set: RuleSet,
        profiles: Mapping[str, DeviceProfile],
        commissioning: Commissioning | None = None,
        own_id: Callable[[str], str] = str,
    ) -> None:
        self._profiles = dict(profiles)
        rules = compile_rules(rule_set, self._profiles)
        self._store = Store(rules, _as_predicate(commissioning), own_id)
        self._reading: dict[str, tuple[DeviceRule, ...]] = {}
        self._use(rules)

    @property
    def rules(self) -> CompiledRules:
        return self._store.rules

    def on_reading(self, reading: Reading, device: Device, now: float) -> list[Outcome]:
        """Judge one accepted reading; only the rules compiled for its profile run."""
        out: list[Outcome] = []
        store = self._store
        rules = self._reading.get(reading.profile)
        if rules is None:
            return out
        t = reading.ts if reading.ts < now else now
        states = store.states_of_device(device.id)
        for rule in rules:
            rule.on_reading(store, reading, device, states, t, out)
        return out

    def on_tick(self, now: float, topology: Topology) -> list[Outcome]:
        """Due hold/window timers, inactivity, patrol windows, then grid storms: one pass."""
        return [outcome for step in self.tick_in_steps(now, topology) for outcome in step]

    def tick_in_steps(
        self,
        now: float,
        topology: Topology,
        devices_per_step: int = DEVICES_PER_STEP,
        pass_devices: bool = True,
    ) -> Iterator[list[Outcome]]:
        """The same pass cut into steps of at most ``devices_per_step`` devices, each step's
        outcomes final when it is yielded, so a caller on an event loop lets other work — an
        alarm — run between steps instead of waiting for a city's sweep (~1.5 µs a device).

        A device read in between is judged by its next step on the state that reading left; a
        device deleted or re-registered in between is left to the next pass; a rule reload in
        between ends the pass (the next tick starts on the new rules); the
        storms are judged after the last device, on the whole pass's counts.
        ``pass_devices=False``: only the due hold/window timers — no pass over the devices, so no
        storms either (they are judged on a pass's counts). The caller uses it to keep the
        device pass of a large fleet to a small share of the CPU.
        """
        store = self._store
        rules = store.rules
        tick = Tick(now, topology, [])
        self._run_timers(tick)
        if not pass_devices:
            yield tick.out
            return
        ticking = rules.ticking
        if ticking:
            devices = topology.devices()
            for first in range(0, len(devices), devices_per_step):
                if store.rules is not rules:
                    return
                for device in devices[first : first + devices_per_step]:
                    device_rules = ticking.get(device.profile)
                    if device_rules is not None and topology.device(device.id) is device:
                        for rule in device_rules:
                            rule.on_tick(store, tick, device)
                yield tick.out
                tick.out = []
        if store.rules is not rules:
            return
        for storm in rules.storms:
            storm.on_tick(store, tick)
        yield tick.out

    def _run_timers(self, tick: Tick) -> None:
        store = self._store
        due = [key for key, at in store.timers.items() if at <= tick.now]
        for key in due:
            if store.timers.pop(key, None) is None:
                continue  # cancelled by an earlier timer in this pass
            device_id, rule_id = key
            device = tick.topology.device(device_id)
            if device is None:
                self.forget(device_id)
                continue
            rule = store.rules.by_profile.get(device.profile, {}).get(rule_id)
            if rule is None:
                store.drop(device_id, rule_id)
                continue
            rule.on_timer(store, device, tick.now, tick.out)

    def forget(self, device_id: str) -> None:
        """A device was deleted: drop its per-device state (its group entries age out)."""
        self._store.discard_key(DEVICE + device_id)
        self._store.dirty_devices.add(device_id)

    # -- reload ----------------------------------------------------------------------------

    def reload(
        self, rule_set: RuleSet, profiles: Mapping[str, DeviceProfile] | None = None
    ) -> None:
        """Swap in new rules; rules whose id and condition are unchanged keep their state.

        Compiles first: on :class:`~gateway.yamlfile.ConfigFileError` nothing has changed and
        the old rules keep running.
        """
        new_profiles = self._profiles if profiles is None else dict(profiles)
        rules = compile_rules(rule_set, new_profiles)
        old = self._store.rules.fingerprints
        self._store.keep_only({r for r, fp in rules.fingerprints.items() if old.get(r) == fp})
        self._use(rules)
        self._profiles = new_profiles

    def _use(self, rules: CompiledRules) -> None:
        """The rules in force; the rules of each profile's readings also as a plain dict, read
        on every reading (not through the interpreted compiled rules' Mapping attribute)."""
        self._store.rules = rules
        self._reading = dict(rules.reading)

    # -- persistence -----------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Every key's state as JSON-able data (see :meth:`snapshot_key`)."""
        keys = {}
        for key in self._store.all_keys():
            data = self._store.dump_key(key)
            if data is not None:
                keys[key] = data
        return {"version": SNAPSHOT_VERSION, "keys": keys}

    def restore(self, snapshot: Mapping[str, Any]) -> list[str]:
        """Load a :meth:`snapshot`; returns what was left out (a rule changed since, bad data)."""
        if snapshot.get("version") != SNAPSHOT_VERSION:
            return [f"snapshot version {snapshot.get('version')!r} is not {SNAPSHOT_VERSION}"]
        skipped: list[str] = []
        for key, data in snapshot.get("keys", {}).items():
            skipped += self.restore_key(key, data)
        return skipped

    def dirty_keys(self, soft: bool = True) -> set[str]:
        """Keys changed since :meth:`mark_clean`: ``device:<id>``, ``building:<grid>/<b>``,
        ``grid:<code>``, ``worker:<id>``. ``soft=False`` leaves out the keys changed only
        softly (see :meth:`~gateway.rules.base.Context.touch`): the frequent saves skip them."""
        return self._store.dirty(soft)

    def take_dirty_keys(self, soft: bool = True) -> Taken:
        """:meth:`dirty_keys` and :meth:`mark_clean` in one step, for a save that then
        snapshots them step by step (a key changed after this is dirty again;
        :meth:`give_back` returns what failed to save)."""
        return self._store.take_dirty(soft)

    def give_back(self, taken: Taken) -> None:
        """The caller failed to save these keys: they belong to the next save."""
        self._store.give_back(taken)

    def snapshot_key(self, key: str) -> dict[str, Any] | None:
        """One key's state, ``{rule_id: [rule_fingerprint, state]}``; None: nothing (delete it)."""
        return self._store.dump_key(key)

    def restore_key(self, key: str, data: Mapping[str, Any]) -> list[str]:
        return self._store.load_key(key, data)

    def mark_clean(self, keys: Iterable[str]) -> None:
        """The caller saved these keys."""
        self._store.mark_clean(list(keys))
