"""The MQTT delivery worker: the outbox drained at least once, in order per incident."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import orjson
import pytest

from bridge.mqtt_dispatch import MqttDispatcher
from gateway.incidents import MessageType
from tests.unit.test_incident_world import low_battery, open_world, smoke


class FakeBroker:
    """A ``publish`` that records (topic, payload) and fails while ``down`` says so."""

    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, object]]] = []
        self.down_for: set[str] = set()  # topics refused
        self.refusals = 0

    def publish(self, topic: str, payload: bytes, qos: int) -> None:
        assert qos == 1
        if any(topic.startswith(prefix) for prefix in self.down_for):
            self.refusals += 1
            raise ConnectionError(f"broker refused {topic}")
        self.published.append((topic, orjson.loads(payload)))

    def ids(self) -> list[str]:
        return [str(p["event_id"]) for _, p in self.published]


def per_incident(published: Sequence[tuple[str, dict[str, object]]]) -> dict[str, list[str]]:
    order: dict[str, list[str]] = {}
    for _, payload in published:
        order.setdefault(str(payload["incident_id"]), []).append(str(payload["event_id"]))
    return order


async def test_the_outbox_is_published_in_order_and_marked_delivered(tmp_path: Path) -> None:
    async with open_world(tmp_path) as w:
        await w.service.apply([smoke("smoke-1"), low_battery("smoke-2")])
        expected = per_incident([(r.topic, orjson.loads(r.body)) for r in await w.pending()])
        broker = FakeBroker()
        dispatcher = MqttDispatcher(w.store, broker.publish, clock=w.clock)

        assert await dispatcher.run_once() == 4 + 3
        assert per_incident(broker.published) == expected
        topics = [t for t, _ in broker.published]
        assert "grid/workers/w-0301/alarms" in topics
        assert "grid/stations/ST-NEAR/alarms" in topics
        assert await w.pending() == []
        assert await dispatcher.run_once() == 0


async def test_a_failed_publish_is_retried_after_backoff_and_holds_only_its_incident(
    tmp_path: Path,
) -> None:
    async with open_world(tmp_path) as w:
        (fire, _) = await w.service.apply([smoke("smoke-1")])
        await w.service.apply([low_battery("smoke-2")])
        expected = per_incident([(r.topic, orjson.loads(r.body)) for r in await w.pending()])
        broker = FakeBroker()
        broker.down_for = {"grid/stations/"}  # the fire's 3rd message fails
        dispatcher = MqttDispatcher(w.store, broker.publish, clock=w.clock, backoff=lambda n: 5.0)

        await dispatcher.run_once()
        fire_id = fire.incident.id
        done = per_incident(broker.published)
        assert len(done[fire_id]) == 2  # reported, worker dispatch; held at the station
        assert [len(ids) for i, ids in done.items() if i != fire_id] == [3]  # it went on
        await w.service.act(fire_id, "ack", "w-0301")  # a newer row queues behind the held one
        assert await dispatcher.run_once() == 0  # not due before the backoff
        broker.down_for = set()
        w.clock.advance(5)

        assert await dispatcher.run_once() == 3
        delivered = per_incident(broker.published)
        assert delivered[fire_id][:4] == expected[fire_id]
        assert len(delivered[fire_id]) == 5
        assert len(broker.ids()) == len(set(broker.ids()))  # nothing twice
        assert broker.refusals == 1 and dispatcher.failures == 1


async def test_a_crash_before_the_bookkeeping_redelivers_with_the_same_event_ids(
    tmp_path: Path,
) -> None:
    async with open_world(tmp_path) as w:
        await w.service.apply([smoke()])
        broker = FakeBroker()

        class CrashingStore:
            """The outbox, except the 'delivered' mark is lost: the process died there."""

            def __getattr__(self, name: str) -> object:
                return getattr(w.store, name)

            async def mark_delivered(self, channel: str, ids: Sequence[int], at: float) -> None:
                raise RuntimeError("killed")

        with pytest.raises(RuntimeError, match="killed"):
            await MqttDispatcher(CrashingStore(), broker.publish, clock=w.clock).run_once()  # type: ignore[arg-type]
        first = broker.ids()
        await MqttDispatcher(w.store, broker.publish, clock=w.clock).run_once()

        assert broker.ids() == first + first  # at least once: the same idempotency keys
        assert await w.pending() == []


async def test_rows_wait_while_the_client_is_not_connected(tmp_path: Path) -> None:
    async with open_world(tmp_path) as w:
        await w.service.apply([smoke()])
        broker = FakeBroker()
        connected = False
        dispatcher = MqttDispatcher(
            w.store, broker.publish, ready=lambda: connected, clock=w.clock, backoff=lambda n: 1
        )

        assert await dispatcher.run_once() == 0
        assert broker.published == []
        connected = True
        w.clock.advance(1)
        assert await dispatcher.run_once() == 4


async def test_a_row_that_keeps_failing_is_dead_lettered_and_can_be_redriven(
    tmp_path: Path,
) -> None:
    async with open_world(tmp_path) as w:
        await w.service.apply([smoke()])
        broker = FakeBroker()
        broker.down_for = {"grid/workers/"}
        dispatcher = MqttDispatcher(
            w.store, broker.publish, clock=w.clock, backoff=lambda n: 1, max_attempts=2
        )
        await dispatcher.run_once()
        w.clock.advance(1)
        await dispatcher.run_once()  # the second failure: dead-lettered
        await dispatcher.run_once()  # the rest of the incident is no longer held

        events = f"grid/incidents/{broker.published[0][1]['incident_id']}/events"
        assert [t for t, _ in broker.published] == [
            events,
            "grid/stations/ST-NEAR/alarms",
            events,
        ]
        assert await w.store.backlog("mqtt") == (0, None)
        assert await w.store.redrive("mqtt") == 1
        broker.down_for = set()
        assert await dispatcher.run_once() == 1
        assert broker.published[-1][0] == "grid/workers/w-0301/alarms"


async def test_an_awaitable_publish_is_awaited(tmp_path: Path) -> None:
    async with open_world(tmp_path) as w:
        await w.service.apply([low_battery()])
        seen: list[str] = []

        async def publish(topic: str, payload: bytes, qos: int) -> None:
            await asyncio.sleep(0)
            seen.append(topic)

        assert await MqttDispatcher(w.store, publish, clock=w.clock).run_once() == 3
        assert len(seen) == 3


async def test_a_row_is_delivered_only_once_the_broker_acknowledges_it(tmp_path: Path) -> None:
    """The round publishes its rows together (a dispatch does not wait a round trip behind the
    incident's event) and marks none delivered before its PUBACK."""
    async with open_world(tmp_path) as w:
        await w.service.apply([low_battery()])
        pubacks: list[asyncio.Future[None]] = []

        def publish(topic: str, payload: bytes, qos: int) -> asyncio.Future[None]:
            pubacks.append(asyncio.get_running_loop().create_future())
            return pubacks[-1]

        round_ = asyncio.create_task(MqttDispatcher(w.store, publish, clock=w.clock).run_once())
        await _until(lambda: len(pubacks) == 3)  # all three out before any PUBACK
        for puback in pubacks:
            assert len(await w.pending()) == 3 and not round_.done()  # none marked delivered
            puback.set_result(None)
        assert await round_ == 3
        assert await w.pending() == []


async def test_a_row_without_puback_takes_the_rows_behind_it_back_to_the_queue(
    tmp_path: Path,
) -> None:
    """Sent together, acknowledged but for one: that row and the later rows of its incident
    go out again, in order, on the next round; the rows before it stay delivered."""
    async with open_world(tmp_path) as w:
        await w.service.apply([smoke("smoke-1")])
        before = [r.event_id for r in await w.pending()]
        sent: list[str] = []
        lost = {before[1]}  # the worker's dispatch gets no PUBACK

        def publish(topic: str, payload: bytes, qos: int) -> asyncio.Future[None]:
            event_id = str(orjson.loads(payload)["event_id"])
            sent.append(event_id)
            puback: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            if event_id not in lost:
                puback.set_result(None)
            return puback

        dispatcher = MqttDispatcher(
            w.store, publish, clock=w.clock, backoff=lambda n: 5.0, ack_timeout_s=0.05
        )
        assert await dispatcher.run_once() == 1  # the "reported" event only
        assert sent == before  # everything went out at once
        assert [r.event_id for r in await w.pending()] == before[1:]
        lost.clear()
        w.clock.advance(5)
        assert await dispatcher.run_once() == len(before) - 1
        assert sent[len(before) :] == before[1:]  # again, in order
        assert await w.pending() == []


async def test_no_puback_in_time_keeps_the_row_queued_and_it_is_retried(tmp_path: Path) -> None:
    """The broker took the PUBLISH and died before its PUBACK: the dispatch is not lost."""
    async with open_world(tmp_path) as w:
        await w.service.apply([low_battery()])
        silent = True
        sent: list[str] = []

        def publish(topic: str, payload: bytes, qos: int) -> asyncio.Future[None]:
            sent.append(topic)
            puback: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            if not silent:
                puback.set_result(None)
            return puback

        dispatcher = MqttDispatcher(
            w.store, publish, clock=w.clock, backoff=lambda n: 5.0, ack_timeout_s=0.05
        )
        assert await dispatcher.run_once() == 0
        assert len(sent) == 3 and dispatcher.failures == 1  # one failure stops the round
        assert len(await w.pending()) == 3
        silent = False
        w.clock.advance(5)
        assert await dispatcher.run_once() == 3
        assert sent[3:] == sent[:3]  # the same rows again, in order
        assert await w.pending() == []


async def test_the_running_worker_publishes_a_new_alarm_at_once(tmp_path: Path) -> None:
    async with open_world(tmp_path) as w:
        broker, all_four = FakeBroker(), asyncio.Event()

        def publish(topic: str, payload: bytes, qos: int) -> None:
            broker.publish(topic, payload, qos)
            if len(broker.published) == 4:
                all_four.set()

        async with MqttDispatcher(w.store, publish, poll_s=30):  # no polling: woken by commit
            await asyncio.sleep(0.05)
            await w.service.apply([smoke()])
            await asyncio.wait_for(all_four.wait(), 2)
        assert [t for t, _ in broker.published][1] == "grid/workers/w-0301/alarms"


async def test_a_channel_is_a_subscription_not_a_schema_change(tmp_path: Path) -> None:
    async with open_world(tmp_path) as w:
        await w.service.apply([smoke()])  # before the platform channel existed
    channels = {"mqtt": frozenset(MessageType), "platform": frozenset({MessageType.EVENT})}
    async with open_world(tmp_path, channels=channels) as w:
        (opened, _) = await w.service.apply([low_battery()])

        platform = await w.pending("platform")
        assert [r.type for r in platform] == [MessageType.EVENT, MessageType.EVENT]
        assert {r.incident_id for r in platform} == {opened.incident.id}
        assert len(await w.pending("mqtt")) == 4 + 3


async def test_busy_from_a_commit_until_its_messages_are_delivered(tmp_path: Path) -> None:
    """What the telemetry session makes way for (Gateway._alarm_in_flight)."""
    async with open_world(tmp_path) as w:
        acks: list[asyncio.Future[None]] = []

        def publish(topic: str, payload: bytes, qos: int) -> asyncio.Future[None]:
            acks.append(asyncio.get_running_loop().create_future())
            return acks[-1]

        async with MqttDispatcher(w.store, publish, clock=w.clock, poll_s=60) as dispatcher:
            await _until(lambda: not dispatcher.busy)
            await w.service.apply([smoke("smoke-1")])
            assert dispatcher.busy  # committed, not yet taken
            await _until(lambda: bool(acks))
            assert dispatcher.busy  # published, no PUBACK yet
            while await w.pending():  # PUBACK each publish, including later rows
                for ack in acks:
                    if not ack.done():
                        ack.set_result(None)
                await asyncio.sleep(0.01)
            await _until(lambda: not dispatcher.busy)


async def _until(condition: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)
