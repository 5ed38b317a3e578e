"""One read from the broker through the ingest connection: PUBACKs only for what the pipeline
holds, in one write, and an alarm's incident work starting before the telemetry behind it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from gateway.ingest import packets as p
from gateway.ingest.connection import (
    ACK_BATCH,
    ACK_DELAY_S,
    CLOCK_EVERY,
    DEFER_ACKS_AFTER,
    TURN_BUDGET,
    TURN_S,
    YIELD_BUDGET,
    MqttConnection,
)


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.paused = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False


class Session:
    def __init__(self) -> None:
        self.control: list[int] = []
        self.pending: dict[int, asyncio.Future[object]] = {}
        self.connection: MqttConnection | None = None

    def acknowledge_later(self, packet: bytes) -> None:
        assert self.connection is not None
        self.connection.write(packet)
        self.connection.flow()

    def on_control(self, first: int, body: bytes) -> None:
        self.control.append(first)

    def on_lost(self, exc: Exception | None) -> None:
        return None


def acked(transport: FakeTransport) -> list[int]:
    stream = b"".join(transport.writes)
    return [p.packet_id(body) for first, body in p.PacketReader().feed(stream) if first == 0x40]


async def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5.0
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.001)


def telemetry(n: int, first_id: int = 1) -> bytes:
    return b"".join(
        p.publish(f"devices/sd-{i}/up", b'{"battery_pct": 80}', 1, first_id + i) for i in range(n)
    )


def connect(
    handler: object, alarm_in_flight: object = lambda: False, turn_s: float = 60.0
) -> tuple[MqttConnection, FakeTransport]:
    """A connection whose turns end by count only (``turn_s``: a preempted test process must
    not end a turn early), unless a test gives it its time."""
    session = Session()
    connection = MqttConnection(
        session,
        handler,  # type: ignore[arg-type]
        lambda: 1767225600.0,
        1 << 20,
        alarm_in_flight,  # type: ignore[arg-type]
        turn_s=turn_s,
        yield_s=turn_s,
    )
    session.connection = connection
    transport = FakeTransport()
    connection.connection_made(transport)
    return connection, transport


async def test_one_read_of_telemetry_is_acknowledged_in_one_write_after_the_pipeline() -> None:
    seen: list[str] = []
    connection, transport = connect(lambda topic, payload, at: seen.append(topic))
    connection.data_received(telemetry(50))
    assert len(seen) == 50
    assert len(transport.writes) == 1 and acked(transport) == list(range(1, 51))


async def test_an_alarm_starts_its_incident_before_the_telemetry_behind_it_is_handled() -> None:
    handled: list[str] = []
    handled_when_the_incident_started: list[int] = []
    committed = asyncio.Event()

    async def incident() -> None:
        handled_when_the_incident_started.append(len(handled))
        await committed.wait()

    def handler(topic: str, payload: bytes, at: float) -> Awaitable[None] | None:
        handled.append(topic)
        return incident() if topic == "devices/alarm/up" else None

    connection, transport = connect(handler)
    alarm = p.publish("devices/alarm/up", b'{"smoke": true}', 1, 1000)
    connection.data_received(telemetry(3) + alarm + telemetry(600, first_id=2000))
    assert handled == ["devices/sd-0/up", "devices/sd-1/up", "devices/sd-2/up", "devices/alarm/up"]
    assert transport.paused  # the rest waits for a later turn; the broker holds what follows
    assert acked(transport) == [1, 2, 3]  # not the alarm: its incident is not committed yet
    for _ in range(5):
        await asyncio.sleep(0)
    assert handled_when_the_incident_started == [4]  # before any telemetry behind it
    assert len(handled) == 4 + 600 and not transport.paused  # then the rest, a turn at a time
    assert 1000 not in acked(transport)
    committed.set()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert acked(transport)[-1] == 1000  # acknowledged once committed


async def test_a_backlog_is_handed_over_a_turn_budget_at_a_time() -> None:
    seen: list[str] = []
    connection, transport = connect(lambda topic, payload, at: seen.append(topic))
    connection.data_received(telemetry(TURN_BUDGET * 2 + 1))
    assert len(seen) == TURN_BUDGET and transport.paused
    await asyncio.sleep(0)
    assert len(seen) == TURN_BUDGET * 2
    await asyncio.sleep(0)
    assert len(seen) == TURN_BUDGET * 2 + 1 and not transport.paused


async def test_on_a_slow_cpu_a_turn_ends_after_its_time_whatever_its_count() -> None:
    """Messages costing a millisecond each (several times a slow CPU's): a turn stops at the
    first look at the clock past TURN_S, long before TURN_BUDGET, and nothing is lost."""

    def slow(topic: str, payload: bytes, at: float) -> None:
        seen.append(topic)
        busy_until = time.perf_counter() + 0.001
        while time.perf_counter() < busy_until:
            pass

    seen: list[str] = []
    connection, transport = connect(slow, turn_s=TURN_S)
    connection.data_received(telemetry(TURN_BUDGET))
    first_turn = len(seen)
    assert first_turn % CLOCK_EVERY == 0 and TURN_S * 1000 <= first_turn < TURN_BUDGET
    assert transport.paused  # the rest waits in the inbox, the broker holds what follows
    await until(lambda: len(acked(transport)) == TURN_BUDGET)
    assert seen == [f"devices/sd-{n}/up" for n in range(TURN_BUDGET)] and not transport.paused


async def test_telemetry_makes_way_while_an_alarm_is_in_flight() -> None:
    """An incident being committed or dispatched (on the alarm session): the telemetry
    session hands over only YIELD_BUDGET messages a turn, then TURN_BUDGET again."""
    seen: list[str] = []
    in_flight = True
    connection, transport = connect(lambda t, payload, at: seen.append(t), lambda: in_flight)
    connection.data_received(telemetry(TURN_BUDGET * 2))
    assert len(seen) == YIELD_BUDGET and transport.paused
    await asyncio.sleep(0)
    assert len(seen) == YIELD_BUDGET * 2
    in_flight = False  # dispatched
    await asyncio.sleep(0)
    assert len(seen) == YIELD_BUDGET * 2 + TURN_BUDGET
    await asyncio.sleep(0)
    assert len(seen) == TURN_BUDGET * 2 and not transport.paused
    await until(lambda: len(acked(transport)) == TURN_BUDGET * 2)  # nothing lost on the way


async def test_a_redelivered_copy_of_an_alarm_in_progress_is_not_handled_twice() -> None:
    handled: list[str] = []
    committed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def handler(topic: str, payload: bytes, at: float) -> Awaitable[None]:
        handled.append(topic)
        return committed

    connection, transport = connect(handler)
    connection.data_received(p.publish("devices/alarm/up", b"{}", 1, 7))
    connection.data_received(p.publish("devices/alarm/up", b"{}", 1, 7, dup=True))
    assert handled == ["devices/alarm/up"]
    committed.set_result(None)
    await asyncio.sleep(0)
    assert acked(transport) == [7]


async def test_a_failing_handler_is_logged_and_acknowledged_and_ingest_goes_on() -> None:
    def handler(topic: str, payload: bytes, at: float) -> None:
        if topic == "devices/sd-1/up":
            raise RuntimeError("a bug")

    connection, transport = connect(handler)
    connection.data_received(telemetry(3))
    assert acked(transport) == [1, 2, 3]


async def test_pubacks_wait_a_moment_only_once_the_broker_shows_it_does_not_wait_for_them() -> None:
    """A broker holding back for PUBACKs (Mosquitto lets 20 go unacknowledged by default)
    never sends a turn's worth over DEFER_ACKS_AFTER: each read is acknowledged at once. One
    that does send more is acknowledged in batches: ACK_BATCH at once, the rest ACK_DELAY_S on."""
    connection, transport = connect(lambda topic, payload, at: None)
    for i in range(3):
        connection.data_received(telemetry(20, first_id=1 + 20 * i))
        assert len(acked(transport)) == 20 * (i + 1)  # written with the read

    writes = len(transport.writes)
    connection.data_received(telemetry(DEFER_ACKS_AFTER + 1, first_id=61))  # not waiting: defer
    connection.data_received(telemetry(10, first_id=200))
    assert len(transport.writes) == writes  # held…
    started = time.monotonic()
    await until(lambda: len(transport.writes) == writes + 1)  # … a moment, then in one write
    assert time.monotonic() - started >= ACK_DELAY_S * 0.5
    assert acked(transport)[60:] == [*range(61, 61 + DEFER_ACKS_AFTER + 1), *range(200, 210)]

    connection.data_received(telemetry(ACK_BATCH, first_id=300))  # a batch's worth: at once
    assert acked(transport)[-ACK_BATCH:] == list(range(300, 300 + ACK_BATCH))


async def test_pubacks_held_are_written_when_the_connection_closes() -> None:
    connection, transport = connect(lambda topic, payload, at: None)
    connection.data_received(telemetry(DEFER_ACKS_AFTER + 1))
    connection.data_received(telemetry(5, first_id=100))
    assert acked(transport) == []  # held
    transport.abort = lambda: None  # type: ignore[method-assign]
    connection.close()
    assert acked(transport) == [*range(1, DEFER_ACKS_AFTER + 2), *range(100, 105)]
