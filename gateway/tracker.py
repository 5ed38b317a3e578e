"""Per-device liveness and latest values, keyed by device id (no cross-device state here).

A device is ``never_seen`` until its first message, ``online`` while messages keep coming
within ``heartbeat × offline_after_missed`` (any message counts as a heartbeat), ``offline``
after that.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from gateway.model import DeviceStatus, FieldValue


@dataclass(slots=True)
class DeviceState:
    last_seen: float | None = None
    online: bool = False
    latest: dict[str, FieldValue] = field(default_factory=dict)
    latest_ts: float | None = None


class DeviceTracker:
    """Liveness bookkeeping; the caller supplies the time (no clock is read here).

    The ids whose state changed since :meth:`take_changed` are kept, so a save writes only
    those (a district's quiet devices cost nothing every save)."""

    def __init__(self) -> None:
        self._states: dict[str, DeviceState] = {}
        self._changed: set[str] = set()

    def seen(self, device_id: str, at: float) -> bool:
        """Record a message; True when the device has just come (back) online."""
        state = self._states.get(device_id)
        if state is None:
            state = self._states[device_id] = DeviceState()
        if state.last_seen is None or at > state.last_seen:
            state.last_seen = at
        came_online = not state.online
        state.online = True
        self._changed.add(device_id)
        return came_online

    def update(self, device_id: str, ts: float, fields: Mapping[str, FieldValue]) -> None:
        state = self._states.setdefault(device_id, DeviceState())
        if state.latest_ts is None or ts >= state.latest_ts:
            state.latest.update(fields)
            state.latest_ts = ts
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
            if state is None or state.last_seen is None:
                never += 1
                continue
            if state.online and now - state.last_seen > limit:
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

    def take_changed(self) -> list[tuple[str, DeviceState]]:
        """The states changed since the last call (the caller saves them)."""
        changed, self._changed = self._changed, set()
        states = self._states
        return [(i, states[i]) for i in changed if i in states]

    def mark_changed(self, device_ids: Iterable[str]) -> None:
        """These were not saved after all: the next :meth:`take_changed` returns them again."""
        self._changed.update(device_ids)
