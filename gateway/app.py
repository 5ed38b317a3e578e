"""The composition root: wires profiles, registry, sinks, pipeline, MQTT ingest and the REST API.

Nothing else constructs services. Shutdown runs in the reverse order of the data flow: stop
taking messages, flush the sinks, save device state, close the registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Self

import uvicorn

from bridge.mqtt_dispatch import MqttDispatcher, OutboxDelivery
from bridge.wiring import Bridge, registry_phones
from gateway import compiled
from gateway.api.ack import AckSigner, ack_router, ack_secret
from gateway.api.app import create_app
from gateway.api.outbox import outbox_router
from gateway.api.platform import platform_router
from gateway.api.rules import rules_router
from gateway.audit import AuditLog
from gateway.config import Settings
from gateway.console import Console
from gateway.dashboards.points import incident_point, sink_field_roles
from gateway.flow import MessageFlow
from gateway.heap import SETTLE_S, HeapSteward, LoopLag
from gateway.incidents import IncidentService, Transition, load_incident_config
from gateway.incidents.store import SqliteIncidentStore
from gateway.ingest.mqtt import MqttIngest
from gateway.ingest.topics import alarm_lane
from gateway.keyorder import in_key_runs
from gateway.metrics import Metrics
from gateway.model import DeviceStatus
from gateway.pipeline import Pipeline
from gateway.profiles import DeviceProfile, load_profiles
from gateway.ratelimit import DeviceRateLimit
from gateway.registry.store import Registry
from gateway.rules.engine import DEVICES_PER_STEP  # the step of every job over the fleet
from gateway.rules.outcomes import Outcome
from gateway.rules.runtime import KEYS_PER_STEP, RegistryTopology, RulesRuntime
from gateway.rules.store import SOFT_SAVE_S
from gateway.selfmetrics import SelfMetrics
from gateway.sinks.base import Sink
from gateway.sinks.history import HistorySink
from gateway.sinks.influx import build_influx_sink
from gateway.stallwatch import StallWatch
from gateway.tokens import TokenStore
from gateway.tracker import DeviceTracker
from gateway.unregistered import UnregisteredLog
from gateway.yamlfile import ConfigFileError

log = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 10.0
STATE_SAVE_INTERVAL_S = 30.0
RULES_TICK_S = 2.0
DEVICE_PASS_SHARE = 0.02  # the rules' pass over every device: at most this share of a core
INCIDENT_TICK_S = 0.5
ENGINE_SAVE_S = 2.0
RULES_POLL_S = 2.0
PURGE_EVERY_S = 3600.0
OUTBOX_KEEP_S = 7 * 24 * 3600.0  # delivered messages kept a week for inspection
SELF_METRICS_S = 15.0
ALARM_WAY_MAX_S = 0.5  # bulk work waits at most this long for an alarm's dispatch
ALARM_WAY_POLL_S = 0.002
# How often Python hands the GIL to a thread waiting for it (its default: 5 ms). An alarm's
# commit and its dispatch each take a trip to SQLite's thread, and while telemetry keeps the
# event loop busy each trip waits for the GIL twice (there and back): up to 20 ms an alarm.
GIL_SWITCH_S = 0.001


def ensure_admin_token(settings: Settings) -> str:
    """The configured admin token, or one generated once and kept (0600) in the data dir."""
    if settings.admin_token:
        return settings.admin_token
    path = settings.data_dir / "admin-token"
    if path.exists():
        return path.read_text().strip()
    token = secrets.token_urlsafe(32)
    path.touch(mode=0o600)
    path.write_text(token + "\n")
    log.warning("no FIREGRID_ADMIN_TOKEN set: generated one in %s", path)
    return token


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside our event loop: the gateway, not uvicorn, owns SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Gateway:
    """``async with Gateway(settings) as gw:`` runs everything until the block exits."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.metrics = Metrics()
        self.tracker = DeviceTracker()
        self.unregistered = UnregisteredLog()
        self.profiles: dict[str, DeviceProfile] = {}
        self.mqtt: MqttIngest | None = None  # telemetry, and every outbound publish
        self.mqtt_alarm: MqttIngest | None = None  # devices' event uplinks (alarm topics)
        self.api_port: int | None = None
        self._stack = contextlib.AsyncExitStack()
        self._tasks: list[asyncio.Task[None]] = []
        self._applying: set[asyncio.Future[object]] = set()  # outcomes not yet committed
        self._next_device_pass = 0.0  # loop time of the rules' next pass over every device
        self._dispatcher: OutboxDelivery | None = None
        self._next_soft_save = 0.0  # clock time of the next engine save with soft changes

    def _build_sink(self) -> Sink:
        s = self.settings
        if s.influx_url:
            tags, strings = sink_field_roles(self.profiles.values())
            return build_influx_sink(s, self.metrics, tags, strings)
        return HistorySink(s.data_dir / "history.sqlite", self.metrics, s.history_retention_days)

    async def __aenter__(self) -> Self:
        try:
            return await self._start()
        except BaseException:
            # What started is stopped again (connections closed, the collector re-enabled).
            await self._stack.aclose()
            raise

    async def _start(self) -> Self:
        s = self.settings
        log.info(compiled.describe())
        self._stack.callback(sys.setswitchinterval, sys.getswitchinterval())
        sys.setswitchinterval(GIL_SWITCH_S)
        s.data_dir.mkdir(parents=True, exist_ok=True)
        self.heap = self._stack.enter_context(HeapSteward(self.metrics.registry))
        self.profiles = load_profiles(s.profiles_dir)
        self.registry = await Registry.open(s.data_dir / "registry.sqlite", self.profiles)
        self._stack.push_async_callback(self.registry.close)
        for device_id, state in (await self.registry.load_states()).items():
            self.tracker.restore(device_id, state)
        self._stack.push_async_callback(self._save_states)
        self.sink = await self._stack.enter_async_context(self._build_sink())
        self.rate_limit = DeviceRateLimit(s.device_rate_per_s, s.device_burst)
        self.pipeline = Pipeline(
            self.profiles,
            self.registry,
            [self.sink],
            self.tracker,
            self.unregistered,
            self.metrics,
            s.max_payload_bytes,
            self.rate_limit,
        )
        await self._open_rules_and_incidents()
        await self._start_api()
        deliveries: list[OutboxDelivery] = []
        if s.mqtt is not None:
            topics = self.pipeline.router.subscriptions()
            self.mqtt = MqttIngest(
                s.mqtt,
                s.mqtt_client_id,
                [t for t in topics if not alarm_lane(t)],
                self.on_message,
                self.metrics,
                s.mqtt_session_expiry_s,
                self.clock,
                alarm_in_flight=self._alarm_in_flight,
            )
            await self._stack.enter_async_context(self.mqtt)
            alarm_topics = [t for t in topics if alarm_lane(t)]
            if alarm_topics:
                # Devices' event uplinks on a session of their own: the broker queues them
                # apart, so an alarm never waits behind the telemetry queued for the gateway.
                self.mqtt_alarm = MqttIngest(
                    s.mqtt,
                    f"{s.mqtt_client_id}-alarm",
                    alarm_topics,
                    self.on_message,
                    self.metrics,
                    s.mqtt_session_expiry_s,
                    self.clock,
                    alarm_session=True,
                )
                await self._stack.enter_async_context(self.mqtt_alarm)
            # The outbox's MQTT channel: dispatches and lifecycle events, in order per incident.
            # A row is delivered on the broker's PUBACK. Sent on the alarm session where there
            # is one: its socket carries no telemetry, so the PUBACK does not queue behind any.
            outbound = self.mqtt_alarm or self.mqtt
            dispatcher = MqttDispatcher(
                self.outbox,
                outbound.publish_acked,
                ready=lambda: outbound.connected,
                clock=self.clock,
            )
            await self._stack.enter_async_context(dispatcher)
            deliveries.append(dispatcher)
            self._dispatcher = dispatcher
        # The grid platform and the people channels (issue 4), and delivery health on /metrics.
        await self._stack.enter_async_context(
            self.bridge.running(self.outbox, deliveries, self.metrics.registry)
        )
        self._tasks.append(asyncio.create_task(self._every(SWEEP_INTERVAL_S, self.sweep)))
        self._tasks.append(asyncio.create_task(self._every(RULES_TICK_S, self.rules_tick)))
        self._tasks.append(asyncio.create_task(self._incident_timers()))
        self._tasks.append(asyncio.create_task(self._every(ENGINE_SAVE_S, self._save_rules)))
        self._tasks.append(
            asyncio.create_task(self._every(RULES_POLL_S, self.rules.reload_if_changed))
        )
        self._tasks.append(asyncio.create_task(self._every(PURGE_EVERY_S, self._purge_outbox)))
        if s.influx_url:
            # What the Grafana dashboards read besides readings: incident transitions (考核评价)
            # and the gateway's own health, written to the same InfluxDB.
            self.incidents.subscribe(self._write_incident_points)
            health = SelfMetrics(self.metrics.registry, [self.sink], s.mqtt_client_id, self.clock)
            self._tasks.append(asyncio.create_task(self._every(SELF_METRICS_S, health.write)))
        self._tasks.append(
            asyncio.create_task(self._every(STATE_SAVE_INTERVAL_S, self._save_states))
        )
        self._tasks.append(asyncio.create_task(LoopLag(self.metrics.registry).run()))
        if s.stall_log_ms:
            watch = StallWatch(self.metrics.registry, s.stall_log_ms / 1000)
            self._tasks.append(asyncio.create_task(watch.run()))
        # What was loaded lives as long as the gateway: out of the cycle collector's walks.
        self.heap.ready()
        self._tasks.append(asyncio.create_task(self._every(SETTLE_S, self.heap.settle)))
        return self

    def _write_incident_points(self, transitions: Sequence[Transition]) -> None:
        for transition in transitions:
            point = incident_point(transition, self.registry.by_id(transition.incident.device_id))
            if point is not None:
                self.sink.write(*point)

    async def _open_rules_and_incidents(self) -> None:
        s = self.settings
        self.rules = await RulesRuntime.open(
            s.data_dir / "engine.sqlite",
            s.rules_dir,
            self.profiles,
            RegistryTopology(self.registry, self.tracker),
            self.registry,
            self.clock,
        )
        self._stack.push_async_callback(self.rules.close, self._outcomes_durable)
        # What the MQTT clients call for each message (gateway.flow).
        self.on_message = MessageFlow(self.pipeline, self.rules, self._apply)
        self.ack_signer = AckSigner(ack_secret(s.ack_secret, s.data_dir), self.clock)
        self.bridge = Bridge(
            s,
            self.ack_signer,
            lambda: s.public_url or f"http://{s.api_host}:{self.api_port}",
            registry_phones(self.registry),
            self.clock,
        )
        self.outbox = await SqliteIncidentStore.open(
            s.data_dir / "incidents.sqlite", self.bridge.subscriptions()
        )
        self._stack.push_async_callback(self.outbox.close)
        config = load_incident_config(s.incidents_file) if s.incidents_file else None
        self.incidents = await IncidentService.open(
            self.outbox, self.registry, clock=self.clock, config=config
        )
        self.tokens = await TokenStore.open(s.data_dir / "tokens.sqlite")
        self._stack.push_async_callback(self.tokens.close)
        self.audit = await AuditLog.open(s.data_dir / "audit.sqlite")
        self._stack.push_async_callback(self.audit.close)
        # The web console (/console): its live stream is fed by every incident transition.
        self.console = await Console.open(s, self.metrics, self.clock)
        self._stack.push_async_callback(self.console.close)
        self.incidents.subscribe(self.console.events.publish)

    async def _make_way(self) -> None:
        """Between two steps of bulk work (sweeps, rule passes, saves): let the loop run, and
        while an alarm is in flight wait for its dispatch (at most ALARM_WAY_MAX_S)."""
        await asyncio.sleep(0)
        if not self._alarm_in_flight():
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ALARM_WAY_MAX_S
        # Polled: "in flight" spans commits and the dispatcher's round, no one event says it.
        while self._alarm_in_flight() and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(ALARM_WAY_POLL_S)

    def _alarm_in_flight(self) -> bool:
        """An incident is being committed or its dispatch published: telemetry makes way."""
        return bool(self._applying) or (self._dispatcher is not None and self._dispatcher.busy)

    def _apply(self, outcomes: Sequence[Outcome]) -> asyncio.Future[object]:
        """Hand outcomes to the incident service, tracked until they are committed."""
        applying: asyncio.Future[object] = asyncio.ensure_future(self.incidents.apply(outcomes))
        self._applying.add(applying)
        applying.add_done_callback(self._applying.discard)
        return applying

    async def _outcomes_durable(self) -> None:
        """Returns once every outcome handed to the incident service so far is committed."""
        if self._applying:
            await asyncio.wait(set(self._applying))

    async def _save_rules(self) -> None:
        """Every ENGINE_SAVE_S what decides alarms; every SOFT_SAVE_S the soft changes too."""
        now = self.clock()
        soft = now >= self._next_soft_save
        if soft:
            self._next_soft_save = now + SOFT_SAVE_S
        await self.rules.save(self._outcomes_durable, soft, self._make_way)

    def reload_rules(self) -> None:
        with contextlib.suppress(ConfigFileError):  # logged; the running rules stay
            self.rules.reload()

    async def rules_tick(self) -> None:
        """Time-driven conditions: holds, inactivity, patrol windows, grid outages.

        Due hold timers run on every tick. The pass over every device (inactivity, patrol
        windows, then grid outages on its counts) runs on every tick too while it is cheap,
        and is spaced out so that it takes at most :data:`DEVICE_PASS_SHARE` of the CPU: with
        10k devices (~20 ms) that is still about every tick, with 100k (~0.2 s) every ~10 s —
        nothing a minutes-long offline limit or patrol window can notice.
        """
        loop = asyncio.get_running_loop()
        pass_devices = loop.time() >= self._next_device_pass
        steps = self.rules.tick_in_steps(self.clock(), pass_devices)
        spent = 0.0
        while True:
            started = time.perf_counter()
            outcomes = next(steps, None)
            spent += time.perf_counter() - started
            if outcomes is None:
                break
            if outcomes:
                await self._apply(outcomes)
            await self._make_way()  # an alarm never waits for the whole fleet's pass
        if pass_devices:
            self._next_device_pass = loop.time() + spent * (1 / DEVICE_PASS_SHARE - 1)

    async def _incident_timers(self) -> None:
        """Time limits and reminders: sleep until the next one is due (at most a second, so a
        clock that is not wall time — the tests' fast clock — is followed closely)."""
        while True:
            try:
                await self.incidents.tick()
            except Exception:
                log.exception("incident time limits failed")
            await asyncio.sleep(INCIDENT_TICK_S)

    async def _purge_outbox(self) -> None:
        await self.outbox.purge_delivered(self.clock() - OUTBOX_KEEP_S)

    async def _start_api(self) -> None:
        s = self.settings
        app = create_app(
            registry=self.registry,
            profiles=self.profiles,
            tracker=self.tracker,
            unregistered=self.unregistered,
            metrics=self.metrics,
            admin_token=ensure_admin_token(s),
            health=self.health,
            tokens=self.tokens,
            incidents=self.incidents,
            audit=self.audit,
            routers=[
                rules_router(self.rules.reload),
                platform_router(s.platform_secret),
                ack_router(self.ack_signer),
                outbox_router(self.outbox),
                *self.console.api_routers(),
            ],
        )
        self.console.mount(app)
        # No route speaks WebSocket (the console streams by SSE): ws="none" spares every
        # gateway process the websockets library.
        config = uvicorn.Config(
            app, host=s.api_host, port=s.api_port, log_level="warning", lifespan="off", ws="none"
        )
        server = _EmbeddedServer(config)
        task = asyncio.create_task(server.serve(), name="api")
        while not server.started:
            if task.done():
                task.result()  # raises the bind error, e.g. port in use
                raise RuntimeError("REST API stopped during start-up")
            await asyncio.sleep(0.01)
        self.api_port = server.servers[0].sockets[0].getsockname()[1]
        log.info("REST API on http://%s:%s/api/v1", s.api_host, self.api_port)

        async def stop_api() -> None:
            self.console.events.close()  # an open event stream would hold the server up
            server.should_exit = True
            await task

        self._stack.push_async_callback(stop_api)

    def health(self) -> dict[str, dict[str, object]]:
        """Per-component state for ``/healthz``: truthful, so a dead InfluxDB shows as degraded."""
        sink = self.sink.health()
        parts: dict[str, dict[str, object]] = {
            "sink": {
                "ok": sink.ok,
                "detail": sink.detail,
                "buffered": sink.buffered,
                "spooled": sink.spooled,
            },
        }
        if self.mqtt is not None:
            down = [
                name
                for name, session in (("telemetry", self.mqtt), ("alarm", self.mqtt_alarm))
                if session is not None and not session.connected
            ]
            detail = f"{' and '.join(down)} session disconnected" if down else "connected"
            parts["mqtt"] = {"ok": not down, "detail": detail}
        return parts

    async def sweep(self) -> None:
        """Mark devices silent for longer than their profile allows as offline, in steps of
        :data:`DEVICES_PER_STEP` so an alarm never waits behind the whole fleet."""
        now = self.clock()
        counts: Counter[DeviceStatus] = Counter()
        offline_after = {name: p.offline_after_s for name, p in self.profiles.items()}
        devices = self.registry.fleet()
        for start in range(0, len(devices), DEVICES_PER_STEP):
            step = devices[start : start + DEVICES_PER_STEP]
            limits = {d.id: offline_after[d.profile] for d in step}
            for device_id in self.tracker.sweep(now, limits, counts):
                device = self.registry.by_id(device_id)
                if device is not None:
                    self.pipeline.status_change(device, online=False, at=now)
            await self._make_way()
        for status in DeviceStatus:
            self.metrics.devices.labels(status.value).set(counts[status])

    async def _save_states(self) -> None:
        """Save the liveness of the devices heard (or gone offline) since the last save, in
        steps: a save of a whole district must not hold up the event loop."""
        changed = self.tracker.take_changed()
        tracker = self.tracker
        saved = 0
        for run in in_key_runs(changed):  # in key order: see gateway.keyorder
            for start in range(0, len(run), KEYS_PER_STEP):  # a save's step, as the engine's
                step = run[start : start + KEYS_PER_STEP]
                try:
                    await self.registry.save_states(
                        (i, state) for i in step if (state := tracker.get(i)) is not None
                    )
                except BaseException:  # this run from its start (saved twice is harmless) on
                    tracker.mark_changed(changed[saved:])
                    raise
                await self._make_way()
            saved += len(run)

    async def _every(self, interval: float, job: Callable[[], object]) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                result = job()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:
                log.exception("periodic job %s failed", getattr(job, "__name__", job))

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._stack.aclose()


async def run_until_signalled(settings: Settings) -> None:
    """``firegrid run``: start, then stop cleanly on SIGTERM or SIGINT."""
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with Gateway(settings) as gateway:
        # SIGHUP re-reads the rule files (as most daemons re-read their configuration).
        loop.add_signal_handler(signal.SIGHUP, gateway.reload_rules)
        await stop.wait()
        log.info("stopping: flushing sinks and saving state")
