"""``firegrid demo`` end to end: broker, gateway and REST API, a registered fleet, its traffic.

Start-up follows the data: broker, then the gateway (which subscribes), then the installer
registers the district over REST, then the responders take their tokens and their phones
subscribe (as does the event log, to ``grid/incidents/+/events``), then the devices start
talking and the scripted episodes (:mod:`gateway.sim.scenario`) begin. Shutdown runs
backwards: the phones hang up and the tokens are revoked, the simulator waits for its PUBACKs,
the gateway takes what is still on its way, flushes its sink and saves device state, then the
embedded broker stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
from rich.console import Console

from gateway.app import Gateway, ensure_admin_token
from gateway.config import MqttUrl, Settings, load_settings
from gateway.demo import console as view
from gateway.demo.broker import BrokerError, BrokerKind, embedded_broker
from gateway.demo.feed import IncidentFeed
from gateway.demo.snapshot import Snapshot, rung_of, take, total
from gateway.sim.district import DEMO_DISTRICT, District, build_district
from gateway.sim.fleet import SimDevice, build_fleet
from gateway.sim.installer import api_client, install
from gateway.sim.listener import MqttListener
from gateway.sim.plan import DEMO_PLAN
from gateway.sim.publisher import MqttPublisher
from gateway.sim.responders import Responders
from gateway.sim.scenario import Cast, Script, play
from gateway.sim.traffic import Traffic, drive, reporters

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 30.0
SETTLE_TIMEOUT_S = 5.0
SETTLE_POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class DemoOptions:
    duration_s: float  # 0: until Ctrl-C / SIGTERM
    devices: int
    broker: BrokerKind
    live: bool
    config: Path | None
    overrides: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class DemoResult:
    final: Snapshot
    published: int


def _settings(opts: DemoOptions, **more: object) -> Settings:
    return load_settings(opts.config, **opts.overrides, **more)


def _on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


async def _start(
    opts: DemoOptions, stack: contextlib.AsyncExitStack
) -> tuple[Settings, Gateway, str]:
    """The embedded broker when none is configured, then the gateway, subscribed."""
    settings = _settings(opts)
    note = "configured"
    if settings.mqtt is None:
        broker = await stack.enter_async_context(embedded_broker(opts.broker, settings.data_dir))
        settings = _settings(opts, mqtt_url=broker.url)
        note = f"embedded {broker.name}"
    gw = await stack.enter_async_context(Gateway(settings))
    assert gw.mqtt is not None
    try:
        await asyncio.wait_for(gw.mqtt.wait_connected(), CONNECT_TIMEOUT_S)
    except TimeoutError:
        raise BrokerError(
            f"the gateway could not connect to {settings.mqtt_url} in {CONNECT_TIMEOUT_S:.0f} s"
        ) from None
    return settings, gw, note


def _say(out: Console, line: str) -> None:
    # Unwrapped: the URL and token must stay copyable, also when stdout is a pipe.
    out.print(line, highlight=False, soft_wrap=True)


def _banner(out: Console, settings: Settings, api: str, token: str, broker: str) -> None:
    _say(out, f"[bold]firegrid demo[/] — data in {settings.data_dir.resolve()}")
    # Every route but /healthz needs the token, the OpenAPI spec too: fetch it with curl.
    _say(out, f"  REST API     {api}/api/v1   (OpenAPI: {api}/api/v1/openapi.json)")
    _say(out, f"  admin token  {token}")
    _say(out, f"  MQTT broker  {settings.mqtt_url} ({broker})")
    _say(out, f'  try          curl -H "Authorization: Bearer {token}" {api}/api/v1/devices')


async def _settle(
    gw: Gateway, publisher: MqttPublisher, health: dict[str, Mapping[str, object]]
) -> None:
    """Let the gateway take what is still between the broker and it (a bounded wait), and
    note its health while it runs: once stopped, every component reads as down."""
    # Polled: the gateway counts messages but signals nothing per message.
    for _ in range(int(SETTLE_TIMEOUT_S / SETTLE_POLL_S)):
        if total(gw.metrics.messages) >= publisher.published:
            break
        await asyncio.sleep(SETTLE_POLL_S)
    health.update(gw.health())


def _title(started: float, duration_s: float) -> Callable[[], str]:
    def title() -> str:
        elapsed = time.monotonic() - started
        left = f", {max(0.0, duration_s - elapsed):.0f} s left" if duration_s else ""
        return f"firegrid demo — {elapsed:.0f} s{left} — Ctrl-C to stop"

    return title


async def _responders(
    stack: contextlib.AsyncExitStack,
    mqtt: MqttUrl,
    http: httpx.AsyncClient,
    world: tuple[District, list[SimDevice]],
    feed: IncidentFeed,
    ends_at: float | None,
) -> Responders:
    """The people's phones and the duty officer, subscribed before any device speaks."""
    district, fleet = world
    loop = asyncio.get_running_loop()
    crew = Responders(
        http,
        [p.id for p in district.people],
        names={d.id: d.name for d in fleet},
        narrate=feed.note,
        ends_at=ends_at,
        clock=loop.time,
    )
    await stack.enter_async_context(crew)
    # Unique ids: two demos on one configured broker must not take each other's sessions.
    suffix = secrets.token_hex(3)
    phones = MqttListener(mqtt, f"firegrid-demo-phones-{suffix}", crew.topics, crew.receive)
    console = MqttListener(mqtt, f"firegrid-demo-console-{suffix}", feed.topics, feed.receive)
    await stack.enter_async_context(console)
    await stack.enter_async_context(phones)
    return crew


async def run_demo(opts: DemoOptions, out: Console) -> DemoResult:
    """Run until ``duration_s`` has passed or a signal arrives; return the final counts."""
    stop = asyncio.Event()
    _on_signals(stop)
    health: dict[str, Mapping[str, object]] = {}
    async with contextlib.AsyncExitStack() as stack:
        settings, gw, broker = await _start(opts, stack)
        assert settings.mqtt is not None
        api = f"http://{settings.api_host}:{gw.api_port}"
        token = ensure_admin_token(settings)
        _banner(out, settings, api, token, broker)

        district = build_district(DEMO_DISTRICT)
        fleet = build_fleet(district, opts.devices)
        http = await stack.enter_async_context(api_client(api, token))
        installed = await install(http, district, fleet)
        _say(
            out,
            f"  registered   {len(fleet)} devices in {len(district.base_grids())} grids, "
            f"{len(district.people)} workers and leaders, {len(district.stations)} micro fire "
            f"stations ({installed.created} created, {installed.existing} already registered)",
        )

        publisher = MqttPublisher(settings.mqtt)
        # Runs after the publisher has its PUBACKs and before the gateway stops (LIFO).
        stack.push_async_callback(_settle, gw, publisher, health)
        await stack.enter_async_context(publisher)
        loop = asyncio.get_running_loop()
        ends_at = loop.time() + opts.duration_s if opts.duration_s else None
        feed = IncidentFeed(rung_of(gw.registry))
        await _responders(stack, settings.mqtt, http, (district, fleet), feed, ends_at)
        _say(
            out,
            f"  responders   {len(district.people)} phones (worker tokens) on "
            "grid/workers/+/alarms and a duty officer (officer token), through the REST API",
        )
        found = reporters(district, fleet, gw.profiles, DEMO_PLAN)
        traffic = Traffic(found, DEMO_PLAN, time.time())
        script = Script(Cast.of(found), time.time())
        if opts.duration_s:
            loop.call_later(opts.duration_s, stop.set)

        def published() -> int:
            return publisher.published

        title = _title(time.monotonic(), opts.duration_s)
        shown = (
            view.watch_live(gw, feed, stop, published, title, out)
            if opts.live
            else view.watch_plain(gw, feed, stop, published)
        )
        await asyncio.gather(
            drive(traffic, publisher.publish, stop), play(script, stop, feed.note), shown
        )
    # Read after the gateway has stopped, so the sink's counts include its final flush.
    final = take(gw, time.time(), feed)
    return DemoResult(replace(final, health=health), publisher.published)
