"""MQTT delivery of the incident outbox: dispatches and lifecycle events on the contract topics.

``grid/workers/{id}/alarms``, ``grid/stations/{id}/alarms``, ``grid/centre/alarms``,
``grid/installers/{id}/alarms`` and ``grid/incidents/{id}/events``, QoS 1, JSON exactly as
the incident service wrote it. At least once, in order per incident: a row is marked
delivered only once the broker has acknowledged it (its PUBACK), a failed row is retried with
backoff and holds the later rows of its incident back (other incidents go on), and a restart
resumes from the outbox. Receivers drop a redelivered copy by its ``event_id``.

:class:`OutboxDelivery` is the channel-independent loop; the platform webhook and the
notification channels (issue 4) reuse it with their own ``send``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

from gateway.incidents.outbox import OutboxReader, OutboxRow
from gateway.ingest.mqtt import backoff_delay

log = logging.getLogger(__name__)

# (topic, payload, qos) → an awaitable done on the broker's PUBACK (``MqttIngest.publish_acked``).
# A publish returning None is taken as delivered once it returns: fire-and-forget transports.
Publish = Callable[[str, bytes, int], object]
Send = Callable[[OutboxRow], Awaitable[None]]


class DeliveryError(RuntimeError):
    """The transport is not ready; the row stays queued and is retried."""


class ChannelDownError(DeliveryError):
    """The whole channel is unreachable (connection refused, 503): the row is retried later
    and the round stops, since every row behind it would only fail the same way."""


class UndeliverableError(DeliveryError):
    """Retrying cannot help (e.g. no contact for the recipient): the row goes straight to the
    dead-letter list, where it is visible and re-drivable once the cause is fixed."""


class OutboxDelivery:
    """Drains one channel of the outbox: ``async with OutboxDelivery(...):`` runs it.

    ``max_attempts`` moves a row that keeps failing to the dead-letter list (``None``:
    retry for ever — right for a broker that is merely down). ``backoff(attempts)`` gives
    the delay before the next attempt.
    """

    def __init__(
        self,
        outbox: OutboxReader,
        send: Send,
        *,
        channel: str,
        clock: Callable[[], float] = time.time,
        backoff: Callable[[int], float] = backoff_delay,
        max_attempts: int | None = None,
        batch: int = 200,
        poll_s: float = 0.5,
    ) -> None:
        self._outbox = outbox
        self._send = send
        self.channel = channel
        self._clock = clock
        self._backoff = backoff
        self._max_attempts = max_attempts
        self._batch = batch
        self._poll_s = poll_s
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._in_round = False
        self.delivered = 0
        self.failures = 0

    async def run_once(self) -> int:
        """Deliver what is due now, in order per incident; returns how many were delivered."""
        now = self._clock()
        rows = await self._outbox.due(self.channel, now, self._batch)
        held: set[str] = set()
        done: list[int] = []
        for row in rows:
            if row.incident_id in held:
                continue
            try:
                await self._send(row)
            except Exception as exc:  # any transport failure: keep the row, retry later
                if await self._held_back(row, exc, now, held):
                    break
            else:
                done.append(row.id)
        return await self._delivered(done)

    async def _held_back(self, row: OutboxRow, exc: Exception, now: float, held: set[str]) -> bool:
        """Record a failed attempt and hold its incident back; True: the channel is down (the
        round stops, the rest stay queued with their attempts not counted)."""
        held.add(row.incident_id)
        await self._failed(row, exc, now)
        return isinstance(exc, ChannelDownError)

    async def _delivered(self, done: list[int]) -> int:
        if done:
            await self._outbox.mark_delivered(self.channel, done, self._clock())
            self.delivered += len(done)
        return len(done)

    @property
    def busy(self) -> bool:
        """New messages were committed and are not yet delivered (or a round is running)."""
        return self._in_round or (self._wake is not None and self._wake.is_set())

    async def run(self) -> None:
        """Until cancelled: drain, then wait for new messages or the next retry poll."""
        wake = self._wake = self._outbox.watch()
        while True:
            wake.clear()
            self._in_round = True
            try:
                count = await self.run_once()
            except Exception:
                log.exception("outbox channel %s: delivery round failed", self.channel)
                count = 0
            finally:
                self._in_round = False
            if count >= self._batch:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), self._poll_s)

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self.run(), name=f"outbox-{self.channel}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task = self._task
        if task is not None:
            # Cancelled again until it ends: on Python 3.11 a cancel that races the end of an
            # inner wait (asyncio.wait_for) can be swallowed, and the loop would run on.
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=1.0)
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _failed(self, row: OutboxRow, exc: Exception, now: float) -> None:
        self.failures += 1
        attempts = row.attempts + 1
        dead = isinstance(exc, UndeliverableError) or (
            self._max_attempts is not None and attempts >= self._max_attempts
        )
        log.warning(
            "outbox channel %s: %s (incident %s seq %d) attempt %d failed: %s%s",
            self.channel,
            row.event_id,
            row.incident_id,
            row.seq,
            attempts,
            exc,
            "; dead-lettered" if dead else "",
        )
        await self._outbox.mark_failed(
            self.channel,
            row.id,
            at=now,
            error=str(exc) or type(exc).__name__,
            next_attempt_at=now + self._backoff(row.attempts),
            dead=dead,
        )


class MqttDispatcher(OutboxDelivery):
    """The ``mqtt`` channel: each row published on its contract topic with QoS 1.

    A row counts as delivered when the awaitable ``publish`` returns completes — the broker's
    PUBACK — not when the PUBLISH left: a broker that crashes between the two has not taken
    the message. No PUBACK within ``ack_timeout_s`` and the row stays queued, retried after
    its backoff, and the round stops (a broker that acknowledges nothing would fail the rest
    the same way). A late PUBACK only means a duplicate, which receivers drop by ``event_id``.

    ``ready`` (e.g. ``lambda: mqtt.connected``) keeps rows queued while the client is down,
    instead of handing them to a client that would only hold them in memory.

    A round publishes all its rows first, then waits for their PUBACKs: a fire's worker
    dispatch does not wait a broker round trip behind the incident's "reported" event. Order
    per incident holds — one connection delivers in the order it was written — and a row whose
    PUBACK fails takes the later rows of its incident back to the queue with it (sent again,
    in order; receivers drop the copies by ``event_id``).
    """

    def __init__(
        self,
        outbox: OutboxReader,
        publish: Publish,
        *,
        ready: Callable[[], bool] | None = None,
        qos: int = 1,
        ack_timeout_s: float = 10.0,
        channel: str = "mqtt",
        clock: Callable[[], float] = time.time,
        backoff: Callable[[int], float] = backoff_delay,
        max_attempts: int | None = None,
        batch: int = 200,
        poll_s: float = 0.5,
    ) -> None:
        self._publish = publish
        self._ready = ready
        self._qos = qos
        self._ack_timeout_s = ack_timeout_s
        super().__init__(
            outbox,
            self._publish_row,
            channel=channel,
            clock=clock,
            backoff=backoff,
            max_attempts=max_attempts,
            batch=batch,
            poll_s=poll_s,
        )

    async def run_once(self) -> int:
        now = self._clock()
        rows = await self._outbox.due(self.channel, now, self._batch)
        held: set[str] = set()
        sent: list[tuple[OutboxRow, asyncio.Future[object] | None]] = []
        for row in rows:
            if row.incident_id in held:
                continue
            try:
                sent.append((row, self._start(row)))
            except Exception as exc:
                await self._held_back(row, exc, now, held)
        done: list[int] = []
        unacked: set[str] = set()  # incidents with a row whose PUBACK failed
        deadline = asyncio.get_running_loop().time() + self._ack_timeout_s
        for row, puback in sent:
            if row.incident_id in unacked:
                continue  # behind a row that failed: queued again, to go out after it
            try:
                await self._acked(puback, deadline)
            except Exception as exc:
                if await self._held_back(row, exc, now, unacked):
                    break
            else:
                done.append(row.id)
        return await self._delivered(done)

    def _start(self, row: OutboxRow) -> asyncio.Future[object] | None:
        """Publish; the PUBACK to wait for (None: a fire-and-forget transport took it)."""
        if self._ready is not None and not self._ready():
            raise DeliveryError("MQTT client not connected")
        result = self._publish(row.topic, row.body, self._qos)
        if not inspect.isawaitable(result):
            return None
        # Shielded when waited for: the client keeps its own state of the publish (resent on
        # reconnect).
        puback = asyncio.ensure_future(result)
        puback.add_done_callback(_consume)
        return puback

    async def _acked(self, puback: asyncio.Future[object] | None, deadline: float) -> None:
        if puback is None:
            return
        timeout = max(0.0, deadline - asyncio.get_running_loop().time())
        try:
            await asyncio.wait_for(asyncio.shield(puback), timeout)
        except TimeoutError:
            raise ChannelDownError(f"no PUBACK within {self._ack_timeout_s:g} s") from None

    async def _publish_row(self, row: OutboxRow) -> None:
        """One row, alone (what OutboxDelivery's ``send`` is)."""
        puback = self._start(row)
        await self._acked(puback, asyncio.get_running_loop().time() + self._ack_timeout_s)


def _consume(future: asyncio.Future[object]) -> None:
    """Retrieve the outcome of a PUBACK nobody waits for any more (no "never retrieved")."""
    if not future.cancelled():
        future.exception()
