"""The pure engine inside the running gateway: topology, ticks, state saves and reloads.

Side effects live here, not in the engine: the engine state is saved per key to SQLite (only
what changed since the last save) so a restart neither loses a running hold timer nor refires
an alarm already raised; rule files are re-read when their fingerprint changes, on SIGHUP or
through the API, and an invalid edit keeps the running rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiosqlite
import orjson

from gateway.model import Device, Reading
from gateway.profiles import DeviceProfile
from gateway.registry.store import Registry
from gateway.rules.engine import RulesEngine
from gateway.rules.loader import fingerprint, load_rule_sets
from gateway.rules.outcomes import Outcome
from gateway.rules.topology import Topology
from gateway.sqlite import open_database, rebuilt
from gateway.tracker import DeviceTracker
from gateway.yamlfile import ConfigFileError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
LOAD_CHUNK = 5000  # saved keys read per thread hop at start-up
KEYS_PER_STEP = 500  # keys snapshotted (and written) between two chances for the event loop (~5 ms)


def _engine_state(table: str) -> str:
    return f"CREATE TABLE {table} (key TEXT PRIMARY KEY, data TEXT NOT NULL) WITHOUT ROWID;"


_SCHEMA = _engine_state("engine_state")
# Version 1 had a rowid beside the key: two B-trees per saved key (see the registry's upgrade).
_UPGRADES = {1: rebuilt("engine_state", _engine_state)}


async def _next_turn() -> None:
    await asyncio.sleep(0)


class RegistryTopology:
    """What the engine may read on a tick: the registered devices and when each was last heard."""

    def __init__(self, registry: Registry, tracker: DeviceTracker) -> None:
        self._registry = registry
        self._by_id = registry.index()[0]
        self._tracker = tracker

    def devices(self) -> Sequence[Device]:
        return self._registry.fleet()

    def device(self, device_id: str) -> Device | None:
        return self._by_id.get(device_id)

    def last_seen(self, device_id: str) -> float | None:
        state = self._tracker.get(device_id)
        return None if state is None else state.last_seen


class RulesRuntime:
    def __init__(
        self,
        engine: RulesEngine,
        db: aiosqlite.Connection,
        topology: Topology,
        rules_dir: Path,
        profiles: Mapping[str, DeviceProfile],
    ) -> None:
        self.engine = engine
        self._db = db
        self._topology = topology
        self._rules_dir = rules_dir
        self._profiles = profiles
        self._fingerprint = fingerprint(rules_dir)

    @classmethod
    async def open(
        cls,
        state_path: Path,
        rules_dir: Path,
        profiles: Mapping[str, DeviceProfile],
        topology: Topology,
        registry: Registry,
        clock: Callable[[], float],
    ) -> RulesRuntime:
        """Load the rule files (an invalid file stops start-up) and the saved engine state."""
        rule_set = load_rule_sets(rules_dir, profiles)
        engine = RulesEngine(
            rule_set,
            profiles,
            commissioning=_commissioning(registry, clock),
            own_id=registry.own_id,
        )
        db = await open_database(state_path, _SCHEMA, SCHEMA_VERSION, upgrades=_UPGRADES)
        skipped: list[str] = []
        # In chunks: a row at a time costs a thread hop each (~1 s at 100k), all at once holds
        # every row's text at the same time (~30 MiB at 100k, kept by the allocator after).
        async with db.execute("SELECT key, data FROM engine_state") as cursor:
            while rows := await cursor.fetchmany(LOAD_CHUNK):
                for key, data in rows:
                    skipped += engine.restore_key(key, orjson.loads(data))
        engine.mark_clean(engine.dirty_keys())
        if skipped:
            log.info("engine state not restored (rules changed since): %s", "; ".join(skipped[:20]))
        return cls(engine, db, topology, rules_dir, profiles)

    def on_reading(self, reading: Reading, device: Device, now: float) -> list[Outcome]:
        return self.engine.on_reading(reading, device, now)

    def on_tick(self, now: float) -> list[Outcome]:
        return self.engine.on_tick(now, self._topology)

    def tick_in_steps(self, now: float, pass_devices: bool = True) -> Iterator[list[Outcome]]:
        return self.engine.tick_in_steps(now, self._topology, pass_devices=pass_devices)

    async def save(
        self,
        outcomes_durable: Callable[[], Awaitable[None]] | None = None,
        soft: bool = True,
        between_steps: Callable[[], Awaitable[None]] = _next_turn,
    ) -> None:
        """Write the keys changed since the last save, in one transaction; ``soft=False``
        leaves the keys changed only softly for a later save (see ``Context.touch``).
        ``between_steps`` is awaited between two steps of KEYS_PER_STEP keys (the gateway's
        waits for alarms in flight).

        ``outcomes_durable`` returns once every outcome handed out so far is committed. State
        that says a rule has fired is never written ahead of its incident: killed in between,
        the gateway would get the reading again (the broker redelivers what was not yet
        acknowledged) but the restored state would say the alarm had already fired.
        """
        taken = self.engine.take_dirty_keys(soft)  # clean from here: later changes go next time
        if not taken:
            return
        try:
            for keys in taken.steps(KEYS_PER_STEP):
                # Snapshot a step, wait for the outcomes behind it, write it: only one step's
                # JSON is ever held (a district's at once stayed as allocator fragmentation).
                rows = [(k, _json(self.engine.snapshot_key(k))) for k in keys]
                if outcomes_durable is not None:
                    await outcomes_durable()  # the outcomes behind this snapshot, not later ones
                await self._db.executemany(
                    "INSERT INTO engine_state (key, data) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET data = excluded.data",
                    [(k, d) for k, d in rows if d is not None],
                )
                await self._db.executemany(
                    "DELETE FROM engine_state WHERE key = ?", [(k,) for k, d in rows if d is None]
                )
                await between_steps()  # a district's worth of keys must not hold up an alarm
            await self._db.commit()
        except BaseException:
            self.engine.give_back(taken)  # not saved: the next save tries again
            with contextlib.suppress(Exception):
                await self._db.rollback()
            raise

    def reload_if_changed(self) -> None:
        """Polled: an edited rule file takes effect within seconds, without a restart."""
        if fingerprint(self._rules_dir) != self._fingerprint:
            with contextlib.suppress(ConfigFileError):  # logged by reload; old rules stay
                self.reload()

    def reload(self) -> str:
        """Re-read the rule files; on an error keep the running rules and say why."""
        self._fingerprint = fingerprint(self._rules_dir)
        try:
            self.engine.reload(load_rule_sets(self._rules_dir, self._profiles), self._profiles)
        except ConfigFileError as exc:
            log.error("rule files not reloaded, the running rules stay:\n%s", exc)
            raise
        log.info("rule files reloaded from %s", self._rules_dir)
        return self._fingerprint

    async def close(self, outcomes_durable: Callable[[], Awaitable[None]] | None = None) -> None:
        await self.save(outcomes_durable)
        await self._db.close()


def _json(data: Mapping[str, Any] | None) -> str | None:
    return None if data is None else orjson.dumps(data).decode()


def _commissioning(registry: Registry, clock: Callable[[], float]) -> Callable[[str], bool]:
    """Devices in their commissioning window: their alarms become test alarms."""

    def commissioning(device_id: str) -> bool:
        device = registry.by_id(device_id)
        return device is not None and device.commissioning(clock())

    return commissioning
