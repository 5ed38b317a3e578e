"""``GET /events``: incident transitions pushed live as Server-Sent Events (the web console).

The incident service calls :meth:`EventHub.publish` after every commit
(``IncidentService.subscribe``); each open stream has a bounded queue of its own and sees
only what its caller may see:

- a worker (网格员): the incidents of its own grids, test incidents left out (those go to the
  installer only);
- an installer: test incidents only — the 调试 confirmation that a test button was pressed;
- an officer, a viewer, an admin: everything.

A stream that falls behind (a phone on a bad link) is not allowed to hold memory: its queue
is dropped and it is sent ``event: resync``, after which the client reads the list again.
The first event is ``ready``: a client reads its list *after* it, so nothing falls between.
Browsers' ``EventSource`` cannot send a bearer header, so the console reads the stream with
``fetch`` instead; a token never goes into a URL (URLs end up in logs).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Sequence
from typing import Annotated

import orjson
from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from gateway.api.auth import Principal, Role, require
from gateway.incidents.model import Incident, Transition
from gateway.incidents.views import incident_view, rfc3339

QUEUE_SIZE = 1000  # events a stream may lag behind before it is told to resync
KEEPALIVE_S = 15.0  # a comment line this often: proxies keep the stream, dead clients show

Listener = Annotated[Principal, require(Role.OFFICER, Role.WORKER, Role.INSTALLER, Role.VIEWER)]


def visible(caller: Principal, incident: Incident) -> bool:
    """Whether ``caller``'s stream carries this incident (see the module docstring)."""
    if caller.role is Role.WORKER:
        return not incident.test and caller.sees(incident.grid)
    if caller.role is Role.INSTALLER:
        return incident.test
    return True


def sse(event: str, data: object, event_id: int | None = None) -> bytes:
    head = b"" if event_id is None else f"id: {event_id}\n".encode()
    return head + f"event: {event}\n".encode() + b"data: " + orjson.dumps(data) + b"\n\n"


class _Stream:
    def __init__(self, caller: Principal) -> None:
        self.caller = caller
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE_SIZE)

    def offer(self, message: bytes | None) -> None:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self._resync()
            if message is None:
                self.queue.put_nowait(None)

    def _resync(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(sse("resync", {}))


class EventHub:
    """Fan-out of incident transitions to the open streams; never blocks the incident service."""

    def __init__(self) -> None:
        self._streams: set[_Stream] = set()
        self._ids = itertools.count(1)
        self._closed = False

    @property
    def listeners(self) -> int:
        return len(self._streams)

    def publish(self, transitions: Sequence[Transition]) -> None:
        if not self._streams:
            return  # nobody watching: the incident service's commit pays nothing
        for transition in transitions:
            body = {
                "event": transition.event,
                "at": rfc3339(transition.at),
                "actor": transition.actor,
                "incident": incident_view(transition.incident),
            }
            message = sse("incident", body, next(self._ids))
            for stream in list(self._streams):
                if visible(stream.caller, transition.incident):
                    stream.offer(message)

    def close(self) -> None:
        """End every stream (the server is stopping: an open stream would hold it up)."""
        self._closed = True
        for stream in list(self._streams):
            stream.offer(None)

    async def stream(self, caller: Principal) -> AsyncIterator[bytes]:
        if self._closed:
            return
        mine = _Stream(caller)
        self._streams.add(mine)
        try:
            ready = {"role": caller.role.value, "grids": _grids(caller)}
            yield b"retry: 2000\n" + sse("ready", ready)
            while True:
                try:
                    message = await asyncio.wait_for(mine.queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield b": keepalive\n\n"
                    continue
                if message is None:
                    return
                yield message
        finally:
            self._streams.discard(mine)


def _grids(caller: Principal) -> list[str] | None:
    return None if caller.grids is None else sorted(caller.grids)


def events_router(hub: EventHub) -> APIRouter:
    router = APIRouter(tags=["events"])

    @router.get(
        "/events",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def events(caller: Listener) -> StreamingResponse:
        """Incident transitions as ``text/event-stream``: ``ready`` first, then ``incident``
        events (``{event, at, actor, incident}``), ``resync`` when the stream fell behind."""
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(
            hub.stream(caller), media_type="text/event-stream", headers=headers
        )

    return router
