"""``firegrid simulate`` against a running gateway: install the district over REST, then
publish its traffic (and play the named scenarios) until the duration ends or a signal comes.

Memory stays bounded by the fleet: one model per device in a heap of due times, no history;
the publisher's in-flight store holds only what the broker has not acknowledged yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson

from gateway.config import MqttUrl
from gateway.profiles import load_profiles
from gateway.sim.bulk import install_bulk
from gateway.sim.district import District
from gateway.sim.diurnal import apply_diurnal
from gateway.sim.fleet import SimDevice
from gateway.sim.installer import api_client
from gateway.sim.listener import MqttListener
from gateway.sim.plan import Message
from gateway.sim.publisher import MqttPublisher
from gateway.sim.responders import Responders
from gateway.sim.scale import build_world, sim_plan
from gateway.sim.scenario import Step
from gateway.sim.scripted import Mute, scripted
from gateway.sim.traffic import Traffic, drive, reporters

Say = Callable[[str], None]
API_SUFFIX = "/api/v1"
MAX_PENDING = 20_000  # unacknowledged publishes before new ones are dropped


@dataclass(frozen=True, slots=True)
class SimOptions:
    api_url: str
    token: str
    mqtt: MqttUrl
    profiles_dir: Path
    scale: float = 0.01
    duration_s: float = 0.0  # 0: until Ctrl-C / SIGTERM
    speed: float = 60.0
    scenarios: Sequence[str] = ()
    geojson_out: Path | None = None
    responders: bool = True
    summary_every_s: float = 10.0
    connections: int = 4
    seed: int = 2026


@dataclass(slots=True)
class SimResult:
    devices: int = 0
    grids: int = 0
    created: int = 0
    existing: int = 0
    published: int = 0
    dropped: int = 0  # not sent: the broker was too far behind
    notes: list[str] = field(default_factory=list)


def base_url(api_url: str) -> str:
    """``http://host:8080`` whether given with ``/api/v1`` (as compose does) or without."""
    url = api_url.rstrip("/")
    return url.removesuffix(API_SUFFIX)


async def _play(steps: Sequence[Step], start: float, stop: asyncio.Event, say: Say) -> None:
    for step in steps:
        wait = start + step.at - time.monotonic()
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
        if stop.is_set():
            return
        step.act()
        say(f"scenario: {step.note}")


def _bounded(publisher: MqttPublisher, result: SimResult) -> Callable[[Message], None]:
    """Publish unless the broker is :data:`MAX_PENDING` acknowledgements behind: then drop the
    message (counted), as a device with a full buffer does, so memory stays bounded."""

    def send(message: Message) -> None:
        if publisher.pending >= MAX_PENDING:
            result.dropped += 1
        else:
            publisher.publish(message)

    return send


async def _summaries(
    publisher: MqttPublisher, result: SimResult, every_s: float, stop: asyncio.Event, say: Say
) -> None:
    started, last = time.monotonic(), 0
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)
        now, count = time.monotonic(), publisher.published
        say(
            f"{now - started:.0f} s: {count} messages published "
            f"({(count - last) / every_s:.1f}/s over the last {every_s:.0f} s), "
            f"{publisher.pending} awaiting the broker, {result.dropped} dropped"
        )
        last = count


async def _crew(
    stack: contextlib.AsyncExitStack,
    opts: SimOptions,
    http: httpx.AsyncClient,
    world: tuple[District, list[SimDevice]],
    say: Say,
) -> None:
    district, fleet = world
    crew = Responders(
        http, [p.id for p in district.people], names={d.id: d.name for d in fleet}, narrate=say
    )
    await stack.enter_async_context(crew)
    client_id = f"firegrid-sim-phones-{secrets.token_hex(3)}"
    await stack.enter_async_context(MqttListener(opts.mqtt, client_id, crew.topics, crew.receive))


def _on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


async def run_simulation(
    opts: SimOptions, say: Say = print, stop: asyncio.Event | None = None
) -> SimResult:
    """Install, then publish until ``duration_s`` passes or ``stop`` is set."""
    if stop is None:
        stop = asyncio.Event()
        _on_signals(stop)
    district, fleet = build_world(opts.scale, opts.seed)
    if opts.geojson_out is not None:
        opts.geojson_out.write_bytes(geojson_bytes(district))
    profiles = load_profiles(opts.profiles_dir)
    plan = sim_plan(profiles, opts.speed)
    result = SimResult(devices=len(fleet), grids=len(district.base_grids()))
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(api_client(base_url(opts.api_url), opts.token))
        installed = await install_bulk(http, district, fleet)
        result.created, result.existing = installed.created, installed.existing
        say(
            f"registered {len(fleet)} devices in {result.grids} grids, {len(district.people)} "
            f"workers and leaders, {len(district.stations)} micro fire stations "
            f"({installed.created} created, {installed.existing} already there)"
        )
        if opts.responders:
            await _crew(stack, opts, http, (district, fleet), say)
        client_id = f"firegrid-sim-{secrets.token_hex(3)}"
        publisher = MqttPublisher(opts.mqtt, client_id, opts.connections)
        await stack.enter_async_context(publisher)
        found = reporters(district, fleet, profiles, plan)
        apply_diurnal(found, time.time(), opts.speed)
        mute = Mute()
        send = mute.gate(_bounded(publisher, result))
        steps = scripted(opts.scenarios, found, mute, lambda r: send(r.report(time.time())))
        traffic = Traffic(found, plan, time.time(), opts.seed)
        if opts.duration_s:
            asyncio.get_running_loop().call_later(opts.duration_s, stop.set)
        await asyncio.gather(
            drive(traffic, send, stop),
            _play(steps, time.monotonic(), stop, lambda line: _note(result, say, line)),
            _summaries(publisher, result, opts.summary_every_s, stop, say),
        )
        result.published = publisher.published
    return result


def _note(result: SimResult, say: Say, line: str) -> None:
    result.notes.append(line)
    say(line)


def geojson_bytes(district: District) -> bytes:
    return orjson.dumps(district.feature_collection(), option=orjson.OPT_INDENT_2)
