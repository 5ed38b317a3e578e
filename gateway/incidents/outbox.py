"""The outbox: what the incident service hands to the bridge, in the same transaction.

A message is written once, with a per-incident ``seq`` (its delivery order) and a unique
``event_id`` (the idempotency key a retry re-sends). Each delivery *channel* — ``mqtt`` now,
the platform webhook and notification channels with issue 4 — keeps its own bookkeeping per
message (attempts, next attempt, delivered, last error, dead-lettered), so a channel is added
by subscribing it to message types, not by changing the schema.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from gateway.incidents.dispatch import Recipient, events_topic


class MessageType(StrEnum):
    EVENT = "event"  # a lifecycle transition: grid/incidents/{id}/events, the platform webhook
    DISPATCH = "dispatch"  # to one recipient, reminders included: the …/alarms topics, channels


# The contract's MQTT topics carry both; the composition root adds the other channels.
DEFAULT_CHANNELS: Mapping[str, frozenset[MessageType]] = {"mqtt": frozenset(MessageType)}


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """What the incident service writes (one row, whatever the number of channels)."""

    event_id: str
    incident_id: str
    seq: int
    type: MessageType
    created_at: float
    payload: Mapping[str, object]
    recipient: Recipient | None = None  # dispatch messages only


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One message still to deliver on one channel."""

    id: int  # append order; within an incident it follows ``seq``
    event_id: str
    incident_id: str
    seq: int
    type: MessageType
    recipient: Recipient | None
    created_at: float
    body: bytes  # the payload as JSON, exactly as written: a retry sends the same bytes
    attempts: int

    @property
    def topic(self) -> str:
        """The contract MQTT topic of this message."""
        if self.recipient is None:
            return events_topic(self.incident_id)
        return self.recipient.topic


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A row one channel gave up on: after its last attempt, or at once when undeliverable."""

    row: OutboxRow
    channel: str
    last_error: str | None
    dead_at: float


@dataclass(frozen=True, slots=True)
class ChannelBacklog:
    """One channel's undelivered rows, for ``/metrics``: live ones and dead letters."""

    channel: str
    depth: int  # live rows not yet delivered
    oldest_at: float | None  # creation time of the oldest of them
    dead: int


class OutboxReader(Protocol):
    """What a delivery worker needs from the outbox store."""

    def watch(self) -> asyncio.Event:
        """An event of the caller's own, set whenever new messages are committed."""

    async def due(self, channel: str, now: float, limit: int) -> list[OutboxRow]:
        """Undelivered, live rows of ``channel`` whose attempt is due, in append order.

        A row is held back while an earlier row of the same incident waits for a retry:
        deliver the returned rows in order and stop an incident at its first failure.
        """

    async def mark_delivered(self, channel: str, ids: Sequence[int], at: float) -> None: ...

    async def mark_failed(
        self,
        channel: str,
        outbox_id: int,
        *,
        at: float,
        error: str,
        next_attempt_at: float,
        dead: bool = False,
    ) -> None:
        """Count an attempt; ``dead`` moves the row to the dead-letter list (re-drivable)."""
