"""Per-device liveness and latest values, keyed by device id (no cross-device state here).

A device is ``never_seen`` until its first message, ``online`` while messages keep coming
within ``heartbeat × offline_after_missed`` (any message counts as a heartbeat), ``offline``
after that.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import orjson

from gateway.model import DeviceStatus, FieldValue

NEVER = -math.inf  # DeviceState's time of something that has not happened yet


class DeviceState:
    """When a device was last heard, whether it is online, and the latest value of each field.

    The latest values are kept as compact JSON of the values alone (``[12.5,31.2,true]``),
    beside a tuple of their names shared by every device reporting the same fields: a dict
    per device would cost ~300 bytes more, a tuple of value objects ~100 (an electrical-fire
    monitor's eight floats are 256 bytes as objects, 50 as text). They are read back only by
    the REST API and the saves.

    The two times are plain floats, :data:`NEVER` until set, behind ``float | None``
    properties: compiled (``gateway.compiled``), a ``float`` attribute is stored in the object
    itself, where an optional one is a float object of its own per value — 48 bytes per
    device, and an allocation per message.
    """

    __slots__ = ("_heard_at", "_latest_at", "_names", "_values", "full_at", "online")

    def __init__(
        self,
        last_seen: float | None = None,
        online: bool = False,
        latest: Mapping[str, FieldValue] | None = None,
        latest_ts: float | None = None,
    ) -> None:
        self._heard_at: float = NEVER if last_seen is None else last_seen
        self._latest_at: float = NEVER if latest_ts is None else latest_ts
        self.online = online
        # The device's message bucket, full again at this time (gateway.ratelimit): a bucket
        # in the past is full. Not saved: after a restart every bucket starts full.
        self.full_at: float = NEVER
        self._names: tuple[str, ...] = ()
        self._values: str | tuple[FieldValue, ...] = "[]"
        if latest:
            self.merge(latest)

    @property
    def last_seen(self) -> float | None:
        """When the device was last heard (receive time); None if never."""
        return None if self._heard_at == NEVER else self._heard_at

    @property
    def latest_ts(self) -> float | None:
        """The time of the reading the latest values came with; None before any."""
        return None if self._latest_at == NEVER else self._latest_at

    def heard(self, at: float) -> bool:
        """A message received at ``at``; True when it brings the device (back) online."""
        if at > self._heard_at:
            self._heard_at = at
        came_online = not self.online
        self.online = True
        return came_online

    def take(self, ts: float, fields: Mapping[str, FieldValue]) -> bool:
        """A reading's values, unless they are older than the latest; True if taken."""
        if ts < self._latest_at:
            return False
        self.merge(fields)
        self._latest_at = ts
        return True

    @property
    def latest(self) -> dict[str, FieldValue]:
        """The latest value of each field heard, as a new dict."""
        stored = self._values
        values: Sequence[FieldValue] = orjson.loads(stored) if type(stored) is str else stored
        return dict(zip(self._names, values, strict=True))

    def merge(self, fields: Mapping[str, FieldValue]) -> None:
        """Take the values in ``fields``; the fields it lacks keep theirs."""
        names = tuple(fields)
        if names != self._names:  # not the fields of the last message (that is the usual case)
            if self._names:
                fields = {**self.latest, **fields}
                names = tuple(fields)
            self._names = _NAMES.setdefault(names, names)
        values = tuple(fields.values())
        try:
            # As text: orjson's bytes are a shrunk 4 KiB buffer each, which the C allocator
            # cannot reuse (100k of them held ~390 MiB); the str copy is exactly its size.
            self._values = orjson.dumps(values).decode()
        except TypeError:  # an integer beyond 64 bits: kept as objects, exactly
            self._values = values


# Every names tuple in use, one copy each. They come from the profiles' fields, so there are few.
_NAMES: dict[tuple[str, ...], tuple[str, ...]] = {}


class DeviceTracker:
    """Liveness bookkeeping; the caller supplies the time (no clock is read here).

    The ids whose state changed since :meth:`take_changed` are kept, so a save writes only
    those (a district's quiet devices cost nothing every save)."""

    def __init__(self) -> None:
        self._states: dict[str, DeviceState] = {}
        self._changed: set[str] = set()

    def seen(self, device_id: str, at: float) -> bool:
        """Record a message; True when the device has just come (back) online."""
        self.changed(device_id)
        return self.state(device_id).heard(at)

    def update(self, device_id: str, ts: float, fields: Mapping[str, FieldValue]) -> None:
        state = self.state(device_id)
        if state.take(ts, fields):
            self._changed.add(device_id)

    def state(self, device_id: str) -> DeviceState:
        """The device's state, made on its first message: the one record of a device that
        every message reaches (liveness, latest values, message bucket), one lookup per
        message; :meth:`changed` once the message is kept."""
        state = self._states.get(device_id)
        if state is None:
            state = self._states[device_id] = DeviceState()
        return state

    def changed(self, device_id: str) -> None:
        """The device's state changed: the next save writes it."""
        self._changed.add(device_id)

    def sweep(
        self,
        now: float,
        offline_after: Mapping[str, float],
        counts: Counter[DeviceStatus] | None = None,
    ) -> list[str]:
        """Mark the silent ones of ``offline_after``'s devices offline (each with its own
        limit, in seconds); return the ids that have just gone offline. ``counts``, if given,
        is added each of these devices' status after the sweep (one pass for both)."""
        gone = []
        states = self._states
        online = offline = never = 0
        for device_id, limit in offline_after.items():
            state = states.get(device_id)
            last_seen = None if state is None else state.last_seen
            if state is None or last_seen is None:
                never += 1
                continue
            if state.online and now - last_seen > limit:
                state.online = False
                gone.append(device_id)
                self._changed.add(device_id)
            if state.online:
                online += 1
            else:
                offline += 1
        if counts is not None:
            counts[DeviceStatus.ONLINE] += online
            counts[DeviceStatus.OFFLINE] += offline
            counts[DeviceStatus.NEVER_SEEN] += never
        return gone

    def status(self, device_id: str) -> DeviceStatus:
        state = self._states.get(device_id)
        if state is None or state.last_seen is None:
            return DeviceStatus.NEVER_SEEN
        return DeviceStatus.ONLINE if state.online else DeviceStatus.OFFLINE

    def get(self, device_id: str) -> DeviceState | None:
        return self._states.get(device_id)

    def forget(self, device_id: str) -> None:
        self._states.pop(device_id, None)
        self._changed.discard(device_id)

    def items(self) -> Iterable[tuple[str, DeviceState]]:
        return self._states.items()

    def restore(self, device_id: str, state: DeviceState) -> None:
        self._states[device_id] = state

    def take_changed(self) -> list[str]:
        """The ids of the states changed since the last call (the caller saves them, reading
        each with :meth:`get` when it does: a city's (id, state) pairs held across the save's
        awaits would be walked by every full cycle collection meanwhile)."""
        changed, self._changed = self._changed, set()
        return list(changed)

    def mark_changed(self, device_ids: Iterable[str]) -> None:
        """These were not saved after all: the next :meth:`take_changed` returns them again."""
        self._changed.update(device_ids)
