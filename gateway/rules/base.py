"""What a compiled rule is, and what it may ask of the engine (the :class:`Context`).

A compiled rule holds no state: every timer, counter and last value lives in a :class:`State`
object the engine keeps per device id (per-device rules) or per group key such as
``building:<grid>/<building>``, ``grid:<code>`` or ``worker:<id>`` (cross-device rules), so it
can be snapshotted, restored and later partitioned by that key.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, Self

from gateway.model import Device, FieldValue, Reading
from gateway.rules.outcomes import IncidentKind, Outcome, Severity
from gateway.rules.topology import Topology

Detail = dict[str, object]


class State:
    """One rule's state for one key; ``dump``/``load`` round-trip through JSON.

    Every kind of state implements both. Not an ``abc.ABC``: rules ask ``isinstance(found,
    LevelState)`` of every reading's states, mostly of ``None``, and a class under ABCMeta
    answers that through Python-level ``__instancecheck__`` (~90 against ~25 ns)."""

    __slots__ = ()

    def dump(self) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.dump")

    @classmethod
    def load(cls, data: Any) -> Self:
        raise NotImplementedError(f"{cls.__name__}.load")

    def due(self) -> float | None:
        """When the engine must call ``on_timer`` (rebuilt from state after a restore)."""
        return None


@dataclass(frozen=True, slots=True)
class RuleMeta:
    """What every outcome of a rule carries, compiled once from the YAML."""

    id: str
    kind: IncidentKind
    severity: Severity
    title: str
    emit: bool
    clears: bool
    notify: str | None
    detail_fields: tuple[str, ...]
    fingerprint: str

    def copy_fields(self, fields: Mapping[str, FieldValue], detail: Detail) -> Detail:
        for name in self.detail_fields:
            value = fields.get(name)
            if value is not None:
                detail[name] = value
        return detail


class Context(Protocol):
    """The engine, as seen by a rule: state by key, timers, and the way out for outcomes."""

    def state(self, device_id: str, rule_id: str) -> State | None: ...

    def put(self, device_id: str, rule_id: str, state: State) -> None: ...

    def drop(self, device_id: str, rule_id: str) -> None: ...

    def touch(self, device_id: str, *, soft: bool = False) -> None:
        """A device's state changed in place: save it next time.

        ``soft``: only a reference moved (the latest reading's time, a rate's baseline) and
        no decision did — nothing raised, cleared, armed or disarmed. Such a change is saved
        with the slower soft saves (:data:`gateway.rules.store.SOFT_SAVE_S`), so a crash may
        lose that much of it, and never an alarm's state."""

    def set_timer(self, device_id: str, rule_id: str, due: float | None) -> None:
        """Call the rule's ``on_timer`` at ``due`` (None cancels)."""

    def group(self, rule_id: str) -> MutableMapping[str, State]:
        """The states of one cross-device rule, by group key."""

    def touch_group(self, key: str, *, soft: bool = False) -> None:
        """A cross-device state changed in place (``soft``: as for :meth:`touch`)."""

    def is_test(self, device_id: str, fields: Mapping[str, FieldValue] | None) -> bool:
        """``test: true`` in the reading, or the device is being commissioned."""

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
        """Raise (when the rule emits) and tell the rules correlating this one.

        ``device`` is the device the condition was seen on; ``device_id`` (default: its id)
        is the one whose location the dispatch uses.
        """

    def clear(
        self, meta: RuleMeta, subject: str, at: float, detail: Detail, out: list[Outcome]
    ) -> None:
        """Emit a Clear when the rule emits and clears."""


@dataclass(slots=True)
class GridCount:
    """One grid in one tick: devices that have reported at least once, and the late ones."""

    seen: int = 0
    late: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Tick:
    """One ``on_tick`` pass: the time, the topology and per-pass scratch."""

    now: float
    topology: Topology
    out: list[Outcome]
    grids: dict[str, dict[str, GridCount]] = field(default_factory=dict)

    def count(self, rule_id: str, grid: str, device_id: str, late: bool) -> None:
        """Storm totals: a device watched by ``rule_id`` that has reported at least once."""
        per_grid = self.grids.get(rule_id)
        if per_grid is None:
            per_grid = self.grids[rule_id] = {}
        counts = per_grid.get(grid)
        if counts is None:
            counts = per_grid[grid] = GridCount()
        counts.seen += 1
        if late:
            counts.late.append(device_id)


class DeviceRule(ABC):
    """A rule compiled for one device profile, with per-device state in the engine."""

    state_type: ClassVar[type[State] | None] = None

    def __init__(self, meta: RuleMeta) -> None:
        self.meta = meta

    @abstractmethod
    def on_reading(
        self,
        ctx: Context,
        reading: Reading,
        device: Device,
        states: Mapping[str, State] | None,
        t: float,
        out: list[Outcome],
    ) -> None:
        """Judge one reading at event time ``t``; ``states`` is the device's state map."""

    ticks: ClassVar[bool] = False  # on_tick is called for each device of the profile

    def on_timer(  # noqa: B027  (a hook: only rules that set timers override it)
        self, ctx: Context, device: Device, now: float, out: list[Outcome]
    ) -> None:
        """A timer set with :meth:`Context.set_timer` is due."""

    def on_tick(self, ctx: Context, tick: Tick, device: Device) -> None:  # noqa: B027  (a hook)
        """Called for every device on every tick, when :attr:`ticks` is true."""
