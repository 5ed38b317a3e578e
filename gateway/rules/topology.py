"""The cross-device facts the engine reads on a tick, through one small read-only interface.

The registry's in-memory index and the device tracker provide it in the gateway; a unit test
passes a dictionary-backed fake; a later second stage partitioned by grid or building passes a
view of its partition. The engine never writes through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from gateway.model import Device


class Topology(Protocol):
    def devices(self) -> Sequence[Device]:
        """Every registered device this engine is responsible for (visited on each tick, in
        steps across the caller's awaits: a sequence that stays as it is meanwhile)."""

    def device(self, device_id: str) -> Device | None:
        """One device by id; None when it has been deleted (its rule state is then dropped)."""

    def last_seen(self, device_id: str) -> float | None:
        """When the device's latest message arrived (any message is a heartbeat); None: never."""
