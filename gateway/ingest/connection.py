"""One connection to the broker as an :class:`asyncio.Protocol`: packets in, handler, PUBACKs out.

Every complete packet of a read is parsed at once; the handler runs on each PUBLISH in order,
and the PUBACKs of the messages it finished synchronously go out in one ``transport.write``
after them. A message whose handler returns an awaitable (an alarm: its incident being
committed) is acknowledged when that completes, never before.

**Alarm lane.** When the handler returns an awaitable, the rest of the read is handed over on
a later turn of the event loop (``call_soon``), so the alarm's incident work — already a task —
takes its first step before any telemetry queued behind it; the queue is also handed over at
most :data:`TURN_BUDGET` messages per turn, and for :data:`TURN_S` at the most, so the
commit's thread hops never wait behind a whole socket read of telemetry. While
``alarm_in_flight()`` says an alarm is between its message and its dispatch (an incident being
committed, a dispatch being published), a turn takes only :data:`YIELD_BUDGET` messages or
:data:`YIELD_S`: the alarm's every step waits behind well under a millisecond of telemetry,
and the telemetry is not starved (the broker queues the rest). The time limits keep that true
on a slower CPU, where a message costs several times as much: a count alone was tuned on
one machine.
Reading pauses while a backlog is being handed over and while :data:`MAX_PENDING_ACKS`
incidents await their commit (flow control: the broker holds the rest).

**PUBACKs together.** Each write to the socket is a system call that, on loopback, also runs
the broker's side of TCP: one per socket read was 8 % of the gateway's CPU at 20k msg/s. Once a
turn has acknowledged more than :data:`DEFER_ACKS_AFTER` messages — proof that the broker lets
that many go unacknowledged (Mosquitto's default lets 20) — PUBACKs are held until
:data:`ACK_BATCH` of them are waiting or :data:`ACK_DELAY_S` has passed. A broker that holds
back for acknowledgements never sees that many in one turn, and gets its PUBACKs at once. Only
telemetry is held: an alarm's PUBACK goes when its incident is committed, as ever.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

from gateway.ingest import packets as p

log = logging.getLogger(__name__)

TURN_BUDGET = 256  # messages handed over per event-loop turn at the most…
TURN_S = 0.004  # … and for this long at the most (256 took ~5 ms on one machine, ~20 on another)
YIELD_BUDGET = 16  # … and while an alarm is in flight
YIELD_S = 0.0005
CLOCK_EVERY = 8  # messages between two looks at the clock (a look costs ~0.1 µs)
MAX_PENDING_ACKS = 1000  # incidents awaiting their commit before reading pauses
DEFER_ACKS_AFTER = 64  # messages acknowledged in one turn that show the broker does not wait
ACK_BATCH = 256  # PUBACKs written together at the latest…
ACK_DELAY_S = 0.002  # … or after this long (what the broker may redeliver after a crash)

MessageHandler = Callable[[str, bytes, float], Awaitable[object] | None]


def _never() -> bool:
    return False


class Session(Protocol):
    """The client that owns the MQTT session, and outlives any one connection of it."""

    # Alarms whose incident is being committed, by packet id: packet ids belong to the session,
    # so a PUBACK that completes after a reconnect is sent on the new connection, and the
    # broker's redelivered copy (DUP) of an alarm still being committed is not handled twice.
    pending: dict[int, asyncio.Future[object]]

    def on_control(self, first: int, body: bytes) -> None: ...

    def on_lost(self, exc: Exception | None) -> None: ...

    def acknowledge_later(self, packet: bytes) -> None:
        """Write a late PUBACK on whatever connection is current."""


class MqttConnection(asyncio.Protocol):
    def __init__(
        self,
        session: Session,
        handler: MessageHandler,
        clock: Callable[[], float],
        max_packet: int,
        alarm_in_flight: Callable[[], bool] = _never,
        turn_s: float = TURN_S,
        yield_s: float = YIELD_S,
    ) -> None:
        self._session = session
        self._turn_s = turn_s
        self._yield_s = yield_s
        self._alarm_in_flight = alarm_in_flight
        self._handler = handler
        self._clock = clock
        self._reader = p.PacketReader(max_packet)
        self._inbox: deque[tuple[int, bytes]] = deque()
        self._acks = bytearray()  # PUBACKs not written yet (see "PUBACKs together")
        self._ack_timer: asyncio.TimerHandle | None = None
        self._defer_acks = False
        self._pending = session.pending
        self._paused = False
        self._scheduled = False
        self.transport: asyncio.Transport | None = None
        self.last_received = time.monotonic()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.last_received = time.monotonic()
        try:
            self._inbox.extend(self._reader.feed(data))
        except p.MalformedPacketError as exc:
            log.error("MQTT broker sent a malformed packet (%s): reconnecting", exc)
            self.close()
            return
        if not self._scheduled:
            self._hand_over()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._inbox.clear()  # unacknowledged: the broker redelivers them on the next connection
        self._acks.clear()  # … and these too (handled already: at-least-once)
        if self._ack_timer is not None:
            self._ack_timer.cancel()
            self._ack_timer = None
        if not self.closed.done():
            self.closed.set_result(None)
        self._session.on_lost(exc)

    # -- writing ------------------------------------------------------------------------------

    def write(self, data: bytes) -> bool:
        """False when the connection is gone (the caller keeps what it meant to send)."""
        if self.transport is None or self.transport.is_closing():
            return False
        self.transport.write(data)
        return True

    def close(self) -> None:
        if self.transport is not None:
            self.flush_acks()  # what was handled is acknowledged: nothing redelivered for it
            self.transport.abort()

    # -- handing messages over ----------------------------------------------------------------

    def _hand_over(self) -> None:
        """Up to TURN_BUDGET packets from the inbox or TURN_S (YIELD_BUDGET or YIELD_S while
        an alarm is in flight); stops early after an alarm."""
        self._scheduled = False
        acks = self._acks
        held = len(acks)
        inbox = self._inbox
        yielding = self._alarm_in_flight()
        budget = YIELD_BUDGET if yielding else TURN_BUDGET
        deadline = time.perf_counter() + (self._yield_s if yielding else self._turn_s)
        handed = 0
        while inbox and budget:
            if handed == CLOCK_EVERY:
                if time.perf_counter() >= deadline:
                    break
                handed = 0
            handed += 1
            first, body = inbox.popleft()
            budget -= 1
            if first & 0xF0 == p.PUBLISH:
                try:
                    if self._deliver(p.parse_publish(first, body), acks):
                        break
                except p.MalformedPacketError as exc:
                    log.error("MQTT broker sent a malformed PUBLISH (%s): reconnecting", exc)
                    self.close()
                    return
            else:
                self._session.on_control(first, body)
        if len(acks) - held > DEFER_ACKS_AFTER * p.PUBACK_SIZE:
            self._defer_acks = True
        if acks:
            if not self._defer_acks or len(acks) >= ACK_BATCH * p.PUBACK_SIZE:
                self.flush_acks()
            elif self._ack_timer is None:
                loop = asyncio.get_running_loop()
                self._ack_timer = loop.call_later(ACK_DELAY_S, self.flush_acks)
        if inbox:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._hand_over)
        self.flow()

    def flush_acks(self) -> None:
        """Write the PUBACKs waiting (see "PUBACKs together")."""
        if self._ack_timer is not None:
            self._ack_timer.cancel()
            self._ack_timer = None
        if self._acks:
            self.write(bytes(self._acks))
            self._acks.clear()

    def _deliver(self, message: p.Publish, acks: bytearray) -> bool:
        """Run the handler; True when it started an alarm (so the rest waits a turn)."""
        if message.dup and message.packet_id in self._pending:
            return False  # the first copy is still being committed; its PUBACK covers both
        try:
            pending = self._handler(message.topic, message.payload, self._clock())
        except Exception:
            # A bug in one message must not stop ingest, nor make the broker redeliver it
            # forever: log it with the topic and acknowledge.
            log.exception("pipeline failed on a message from %s", message.topic)
            pending = None
        if pending is None:
            self._acknowledge(message, acks)
            return False
        future = asyncio.ensure_future(pending)
        if message.qos:
            self._pending[message.packet_id] = future
        future.add_done_callback(lambda done: self._committed(message, done))
        return True

    def _acknowledge(self, message: p.Publish, acks: bytearray) -> None:
        if message.qos == 1:
            acks += p.puback(message.packet_id)
        elif message.qos == 2:
            acks += p.ack(p.PUBREC, message.packet_id)

    def _committed(self, message: p.Publish, done: asyncio.Future[object]) -> None:
        self._pending.pop(message.packet_id, None)
        if done.cancelled():
            return  # shutting down: unacknowledged, so the broker redelivers it
        if done.exception() is not None:
            log.error(
                "pipeline failed on a message from %s", message.topic, exc_info=done.exception()
            )
        acks = bytearray()
        self._acknowledge(message, acks)
        self._session.acknowledge_later(bytes(acks))

    def flow(self) -> None:
        """Pause reading while a backlog is handed over or too many alarms are in flight."""
        if self.transport is None:
            return
        busy = self._scheduled or len(self._pending) >= MAX_PENDING_ACKS
        if busy and not self._paused:
            self.transport.pause_reading()
            self._paused = True
        elif not busy and self._paused:
            self.transport.resume_reading()
            self._paused = False
