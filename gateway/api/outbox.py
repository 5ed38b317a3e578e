"""``/outbox``: the dead-letter list, and putting dead letters back in the queue (admin only).

A row is dead-lettered on one channel when that channel gave up on it — after
``FIREGRID_OUTBOX_MAX_ATTEMPTS`` failed attempts, or at once when it cannot be addressed (no
contact for the recipient). The other channels are not affected. A re-driven row goes back
to the head of its incident's queue with its attempts reset; the rows of that incident that
were delivered meanwhile stay delivered, so a receiver sees it late — and can tell by its
``seq`` and drop a repeat by its ``event_id``.
"""

from __future__ import annotations

from typing import Annotated, Any, Protocol

import orjson
from fastapi import APIRouter, Path, Query

from gateway.api.auth import ADMIN
from gateway.incidents.outbox import DeadLetter
from gateway.incidents.views import rfc3339
from gateway.registry import NotFoundError

SQLITE_MAX_INT = 2**63 - 1  # larger numbers overflow SQLite's INTEGER: a 422, not a 500


class DeadLetters(Protocol):
    """What the routes need of the outbox (``SqliteIncidentStore`` fits)."""

    async def dead_letters(
        self, channel: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[DeadLetter]: ...

    async def redrive_row(self, outbox_id: int, channel: str | None = None) -> int: ...

    async def redrive(self, channel: str, ids: list[int] | None = None) -> int: ...


def dead_letter_view(dead: DeadLetter) -> dict[str, Any]:
    row = dead.row
    recipient = row.recipient
    return {
        "id": row.id,
        "channel": dead.channel,
        "event_id": row.event_id,
        "incident_id": row.incident_id,
        "seq": row.seq,
        "type": row.type.value,
        "recipient": None if recipient is None else {"role": recipient.role, "id": recipient.id},
        "created_at": rfc3339(row.created_at),
        "attempts": row.attempts,
        "last_error": dead.last_error,
        "dead_at": rfc3339(dead.dead_at),
        "payload": orjson.loads(row.body),
    }


def outbox_router(outbox: DeadLetters) -> APIRouter:
    router = APIRouter(prefix="/outbox", tags=["outbox"], dependencies=[ADMIN])

    @router.get("/dead")
    async def dead(
        channel: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=SQLITE_MAX_INT)] = 0,
    ) -> list[dict[str, Any]]:
        """Dead letters, oldest message first; ``channel`` narrows to one channel."""
        return [dead_letter_view(d) for d in await outbox.dead_letters(channel, limit, offset)]

    @router.post("/dead/redrive")
    async def redrive_channel(channel: str) -> dict[str, int]:
        """Every dead letter of ``channel`` back in the queue (the platform is back up)."""
        return {"redriven": await outbox.redrive(channel)}

    @router.post("/{outbox_id}/redrive")
    async def redrive(
        outbox_id: Annotated[int, Path(ge=1, le=SQLITE_MAX_INT)], channel: str | None = None
    ) -> dict[str, int]:
        """One message back in the queue of ``channel`` (default: every channel that gave up
        on it); 404 when it is not dead-lettered there."""
        count = await outbox.redrive_row(outbox_id, channel)
        if count == 0:
            where = f" on channel {channel}" if channel else ""
            raise NotFoundError(f"no dead letter {outbox_id}{where}")
        return {"redriven": count}

    return router
