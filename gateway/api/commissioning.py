"""``/devices/{id}/commissioning``: 调试 — the installer presses the test button, the gateway
confirms it heard it, and the device is recorded as commissioned.

The proof is the device's own test message: a ``test: true`` uplink becomes a test incident
(sent to the installer only, never to the grid). Marking a device commissioned needs such an
incident from the last :data:`WINDOW_S`; it closes the device's open test incidents (outcome
``test``), ends the device's commissioning window (``commissioning_until``) when it has one — its
alarms are real from then on — and records who commissioned it and when, in
``<data_dir>/console.sqlite``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import aiosqlite
from fastapi import APIRouter, HTTPException
from fastapi import status as http
from pydantic import BaseModel

from gateway.api.auth import VIEWER, Principal, Role, require
from gateway.api.context import Context
from gateway.api.incidents import service
from gateway.api.views import rfc3339
from gateway.incidents.errors import InvalidTransitionError
from gateway.incidents.model import Action, Outcome
from gateway.registry import NotFoundError
from gateway.registry.devices import draft_of
from gateway.sqlite import open_database

WINDOW_S = 30 * 60.0  # a test press older than this proves nothing about today's install

_SCHEMA = """
CREATE TABLE commissioned (
    device_id TEXT PRIMARY KEY,
    at REAL NOT NULL,
    by TEXT NOT NULL,
    incident_id TEXT NOT NULL
);
"""

Installer = Annotated[Principal, require(Role.INSTALLER)]


class CommissionedView(BaseModel):
    device_id: str
    commissioned_at: str
    by: str
    incident_id: str  # the test incident that proved the device talks


class CommissioningLog:
    """Which devices were commissioned, by whom, on the strength of which test incident."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    @classmethod
    async def open(cls, path: Path) -> CommissioningLog:
        return cls(await open_database(path, _SCHEMA, 1))

    async def close(self) -> None:
        await self._db.close()

    async def record(self, view: CommissionedView, at: float) -> None:
        await self._db.execute(
            "INSERT OR REPLACE INTO commissioned (device_id, at, by, incident_id)"
            " VALUES (?, ?, ?, ?)",
            (view.device_id, at, view.by, view.incident_id),
        )
        await self._db.commit()

    async def get(self, device_id: str) -> CommissionedView | None:
        async with self._db.execute(
            "SELECT device_id, at, by, incident_id FROM commissioned WHERE device_id = ?",
            (device_id,),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        return CommissionedView(
            device_id=row[0], commissioned_at=rfc3339(row[1]) or "", by=row[2], incident_id=row[3]
        )


def commissioning_router(
    log: CommissioningLog, clock: Callable[[], float] = time.time
) -> APIRouter:
    router = APIRouter(prefix="/devices/{device_id}/commissioning", tags=["devices"])

    @router.post("")
    async def commission(device_id: str, ctx: Context, caller: Installer) -> CommissionedView:
        """Mark the device commissioned: 409 until its test message has been received."""
        if ctx.registry.by_id(device_id) is None:
            raise NotFoundError(f"no device {device_id}")
        incidents = service(ctx)
        tests = await incidents.list(device=device_id, test=True, limit=20)
        now = clock()
        recent = [i for i in tests if now - i.last_seen <= WINDOW_S]
        if not recent:
            raise HTTPException(
                http.HTTP_409_CONFLICT,
                f"no test message from {device_id} in the last {int(WINDOW_S // 60)} minutes:"
                " press the device's test button, then try again",
            )
        for incident in recent:
            if incident.is_open:
                # Closed meanwhile (a test incident expires by itself): nothing left to do.
                with contextlib.suppress(InvalidTransitionError):
                    await incidents.act(
                        incident.id, Action.CLOSE, caller.actor, "commissioned", Outcome.TEST
                    )
        device = ctx.registry.by_id(device_id)  # as it is now, after the awaits above
        if device is not None and device.commissioning_until is not None:
            ended = replace(draft_of(device), commissioning_until=None)
            await ctx.registry.replace_device(device_id, ended)
        view = CommissionedView(
            device_id=device_id,
            commissioned_at=rfc3339(now) or "",
            by=caller.actor,
            incident_id=recent[0].id,
        )
        await log.record(view, now)
        return view

    @router.get("", dependencies=[VIEWER])
    async def commissioned(device_id: str) -> CommissionedView:
        found = await log.get(device_id)
        if found is None:
            raise NotFoundError(f"device {device_id} has not been commissioned")
        return found

    return router
