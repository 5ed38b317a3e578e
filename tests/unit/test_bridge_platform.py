"""The grid-platform connector over a real local HTTP receiver (事件上报), on the fake world."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import jsonschema
import orjson

from bridge.platform import CHANNEL, SUBSCRIBES, PlatformConnector
from bridge.retry import Backoff
from gateway.incidents import DEFAULT_CHANNELS, MessageType
from tests.unit.test_bridge_support import SECRET, Received, Receiver, signed_by
from tests.unit.test_incident_world import World, low_battery, open_world, smoke

CHANNELS = {**DEFAULT_CHANNELS, CHANNEL: SUBSCRIBES}


@asynccontextmanager
async def platform_world(tmp_path: Path) -> AsyncIterator[tuple[World, Receiver]]:
    receiver = await Receiver().start()
    try:
        async with open_world(tmp_path, channels=CHANNELS) as world:
            yield world, receiver
    finally:
        await receiver.stop()


@asynccontextmanager
async def connector(w: World, receiver: Receiver, **kw: object) -> AsyncIterator[PlatformConnector]:
    """The connector, driven by hand with ``run_once`` (its background loop is not started)."""
    options: dict[str, object] = {"clock": w.clock, "backoff": lambda n: 5.0} | kw
    async with httpx.AsyncClient(timeout=5) as client:
        yield PlatformConnector(
            w.store,
            receiver.url + "/events",
            SECRET,
            client=client,
            **options,  # type: ignore[arg-type]
        )


async def test_every_event_is_posted_in_order_signed_with_its_idempotency_key(
    tmp_path: Path,
) -> None:
    async with platform_world(tmp_path) as (w, receiver):
        (fire, _) = await w.service.apply([smoke()])
        await w.service.act(fire.incident.id, "ack", "w-0301")
        written = [r.body for r in await w.pending(CHANNEL)]
        async with connector(w, receiver) as platform:
            assert await platform.run_once() == 3

        got = receiver.accepted
        assert [r.json()["transition"] for r in got] == ["reported", "dispatched", "accepted"]
        assert [r.json()["seq"] for r in got] == [1, 2, 3]
        assert [r.body for r in got] == written  # the bytes the incident service wrote
        assert all(signed_by(SECRET, r) for r in got)
        assert all(r.headers["Idempotency-Key"] == r.event_id for r in got)
        assert all(r.headers["Content-Type"] == "application/json" for r in got)
        assert {r.path for r in got} == {"/events"}
        assert await w.pending(CHANNEL) == []


async def test_only_lifecycle_events_go_to_the_platform(tmp_path: Path) -> None:
    async with platform_world(tmp_path) as (w, _):
        await w.service.apply([smoke()])
        assert {r.type for r in await w.pending(CHANNEL)} == {MessageType.EVENT}
        assert MessageType.DISPATCH in {r.type for r in await w.pending("mqtt")}


async def test_a_refused_event_is_retried_with_the_same_key_and_holds_only_its_incident(
    tmp_path: Path,
) -> None:
    async with platform_world(tmp_path) as (w, receiver):
        (fire, _) = await w.service.apply([smoke()])
        (battery, *_) = await w.service.apply([low_battery("smoke-2")])
        refused_once: set[str] = set()

        def answer(r: Received) -> int:
            body = r.json()
            second_of_the_fire = body["incident_id"] == fire.incident.id and body["seq"] == 2
            if second_of_the_fire and body["event_id"] not in refused_once:
                refused_once.add(body["event_id"])
                return 500
            return 200

        receiver.answer = answer
        async with connector(w, receiver) as platform:
            await platform.run_once()
            per = _per_incident(receiver.accepted)
            assert per[fire.incident.id] == [1]  # held at seq 2
            assert per[battery.incident.id] == [1, 2]  # the other incident went on
            await w.service.act(fire.incident.id, "ack", "w-0301")
            assert await platform.run_once() == 0  # not before the backoff
            w.clock.advance(5)
            assert await platform.run_once() == 2

        assert _per_incident(receiver.accepted)[fire.incident.id] == [1, 2, 3]
        tries = [r for r in receiver.requests if r.event_id in refused_once]
        assert len(tries) == 2 and tries[0].body == tries[1].body
        assert tries[0].headers["Idempotency-Key"] == tries[1].headers["Idempotency-Key"]


async def test_an_unreachable_platform_costs_one_request_a_round_and_loses_nothing(
    tmp_path: Path,
) -> None:
    async with platform_world(tmp_path) as (w, receiver):
        for device in ("smoke-1", "smoke-2", "smoke-3"):
            await w.service.apply([smoke(device)])
        port = receiver.port
        await receiver.stop()
        async with connector(w, receiver) as platform:
            assert await platform.run_once() == 0
            assert platform.failures == 1  # the round stopped at the first refusal
            receiver.port = port
            await receiver.start()
            w.clock.advance(5)
            while await platform.run_once():
                pass

        assert {i: seqs for i, seqs in _per_incident(receiver.accepted).items()} == {
            i: [1, 2] for i in _per_incident(receiver.accepted)
        }
        assert len(_per_incident(receiver.accepted)) == 3


async def test_an_event_refused_max_attempts_times_is_dead_lettered_and_redriven(
    tmp_path: Path,
) -> None:
    async with platform_world(tmp_path) as (w, receiver):
        (fire, _) = await w.service.apply([smoke()])
        receiver.answer = lambda r: 422 if r.json()["seq"] == 1 else 200
        async with connector(w, receiver, max_attempts=2) as platform:
            await platform.run_once()
            w.clock.advance(5)
            await platform.run_once()  # second refusal: dead-lettered
            assert await platform.run_once() == 1  # seq 2 is no longer held behind it
            [dead] = await w.store.dead_letters(CHANNEL)
            assert (dead.row.seq, dead.row.attempts, dead.channel) == (1, 2, CHANNEL)
            assert dead.last_error is not None and "422" in dead.last_error
            receiver.answer = lambda r: 200
            assert await w.store.redrive_row(dead.row.id) == 1
            assert await platform.run_once() == 1

        assert [r.json()["seq"] for r in receiver.accepted] == [2, 1]  # late, and says so
        assert await w.store.dead_letters() == []
        assert fire.incident.id == receiver.accepted[-1].json()["incident_id"]


def _per_incident(requests: list[Received]) -> dict[str, list[int]]:
    order: dict[str, list[int]] = {}
    for r in requests:
        body = orjson.loads(r.body)
        order.setdefault(body["incident_id"], []).append(body["seq"])
    return order


DOCS = Path(__file__).resolve().parents[2] / "docs" / "platform-api.md"


def documented_schema() -> dict[str, object]:
    """The JSON Schema block of docs/platform-api.md (the contract integrators read)."""
    text = DOCS.read_text(encoding="utf-8")
    block = text.split("<!-- event-schema-v1 -->", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    schema: dict[str, object] = orjson.loads(block)
    return schema


def documented_examples() -> list[dict[str, object]]:
    text = DOCS.read_text(encoding="utf-8").split("### Examples", 1)[1]
    return [orjson.loads(part.split("```", 1)[0]) for part in text.split("```json")[1:2]]


async def test_every_event_of_a_whole_closed_loop_matches_the_documented_schema(
    tmp_path: Path,
) -> None:
    validator = jsonschema.Draft202012Validator(
        documented_schema(), format_checker=jsonschema.FormatChecker()
    )
    async with platform_world(tmp_path) as (w, _):
        (fire, _) = await w.service.apply([smoke()])
        for _ in range(13):  # 65 s: the accept limit passes, the fire escalates
            w.clock.advance(5)
            await w.service.tick()
        steps = [("ack", None), ("arrive", None), ("handle", "false_alarm"), ("verify", None)]
        for action, outcome in [*steps, ("close", None)]:
            await w.service.act(fire.incident.id, action, "w-0301", outcome=outcome)
        await w.service.apply([low_battery("smoke-2")])
        events = [orjson.loads(r.body) for r in await w.pending(CHANNEL)]

    transitions = [e["transition"] for e in events if e["incident_id"] == fire.incident.id]
    assert transitions == [
        "reported",
        "dispatched",
        "escalated",
        "accepted",
        "on_site",
        "handled",
        "verified",
        "closed",
    ]
    for event in [*events, *documented_examples()]:
        validator.validate(event)


def test_backoff_doubles_from_the_first_delay_to_the_cap_with_jitter() -> None:
    backoff = Backoff(first_s=1.0, cap_s=300.0)
    for attempts, ceiling in [(0, 1), (1, 2), (2, 4), (8, 256), (9, 300), (500, 300)]:
        delays = [backoff(attempts) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), (attempts, min(delays))
        assert len(set(delays)) > 1  # jittered: rows that failed together spread out
