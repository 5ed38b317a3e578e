"""The composition root: wires profiles, registry, sinks, pipeline, MQTT ingest and the REST API.

Nothing else constructs services. Shutdown runs in the reverse order of the data flow: stop
taking messages, flush the sinks, save device state, close the registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from types import TracebackType
from typing import Self

import uvicorn

from gateway.api.app import create_app
from gateway.config import Settings
from gateway.ingest.mqtt import MqttIngest
from gateway.metrics import Metrics
from gateway.model import DeviceStatus
from gateway.pipeline import Pipeline
from gateway.profiles import DeviceProfile, load_profiles
from gateway.registry.store import Registry
from gateway.sinks.base import Sink
from gateway.sinks.history import HistorySink
from gateway.sinks.influx import build_influx_sink
from gateway.sinks.lineprotocol import field_roles
from gateway.tracker import DeviceTracker
from gateway.unregistered import UnregisteredLog

log = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 10.0
STATE_SAVE_INTERVAL_S = 30.0


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
        self.mqtt: MqttIngest | None = None
        self.api_port: int | None = None
        self._stack = contextlib.AsyncExitStack()
        self._tasks: list[asyncio.Task[None]] = []

    def _build_sink(self) -> Sink:
        s = self.settings
        if s.influx_url:
            tags, strings = field_roles(self.profiles.values())
            return build_influx_sink(s, self.metrics, tags, strings)
        return HistorySink(s.data_dir / "history.sqlite", self.metrics, s.history_retention_days)

    async def __aenter__(self) -> Self:
        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True)
        self.profiles = load_profiles(s.profiles_dir)
        self.registry = await Registry.open(s.data_dir / "registry.sqlite", self.profiles)
        self._stack.push_async_callback(self.registry.close)
        for device_id, state in (await self.registry.load_states()).items():
            self.tracker.restore(device_id, state)
        self._stack.push_async_callback(self._save_states)
        self.sink = await self._stack.enter_async_context(self._build_sink())
        self.pipeline = Pipeline(
            self.profiles,
            self.registry,
            [self.sink],
            self.tracker,
            self.unregistered,
            self.metrics,
            s.max_payload_bytes,
        )
        await self._start_api()
        if s.mqtt is not None:
            self.mqtt = MqttIngest(
                s.mqtt,
                s.mqtt_client_id,
                self.pipeline.router.subscriptions(),
                self.on_message,
                self.metrics,
                s.mqtt_session_expiry_s,
                self.clock,
            )
            await self._stack.enter_async_context(self.mqtt)
        self._tasks.append(asyncio.create_task(self._every(SWEEP_INTERVAL_S, self.sweep)))
        self._tasks.append(
            asyncio.create_task(self._every(STATE_SAVE_INTERVAL_S, self._save_states))
        )
        return self

    def on_message(
        self, topic: str, payload: bytes, received_at: float
    ) -> Awaitable[object] | None:
        """One MQTT message through the pipeline; the PUBACK follows when this returns."""
        self.pipeline.handle(topic, payload, received_at)
        return None

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
        )
        config = uvicorn.Config(
            app, host=s.api_host, port=s.api_port, log_level="warning", lifespan="off"
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
            server.should_exit = True
            await task

        self._stack.push_async_callback(stop_api)

    def health(self) -> dict[str, dict[str, object]]:
        """Per-component state for ``/healthz``: truthful, so a dead InfluxDB shows as degraded."""
        sink = self.sink.health()
        parts: dict[str, dict[str, object]] = {
            "sink": {"ok": sink.ok, "detail": sink.detail, "buffered": sink.buffered},
        }
        if self.mqtt is not None:
            up = self.mqtt.connected
            parts["mqtt"] = {"ok": up, "detail": "connected" if up else "disconnected"}
        return parts

    def sweep(self) -> None:
        """Mark devices silent for longer than their profile allows as offline."""
        now = self.clock()
        limits = {d.id: self.profiles[d.profile].offline_after_s for d in self.registry.devices()}
        for device_id in self.tracker.sweep(now, limits):
            device = self.registry.by_id(device_id)
            if device is not None:
                self.pipeline.status_change(device, online=False, at=now)
        counts = Counter(self.tracker.status(device_id).value for device_id in limits)
        for status in DeviceStatus:
            self.metrics.devices.labels(status.value).set(counts[status.value])

    async def _save_states(self) -> None:
        await self.registry.save_states(list(self.tracker.items()))

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
    async with Gateway(settings):
        await stop.wait()
        log.info("stopping: flushing sinks and saving state")
