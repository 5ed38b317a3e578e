"""The InfluxDB sink: one batching writer for both write APIs (v1 ``/write``, v2 ``/api/v2/write``).

Why we batch ourselves: influxdb-client batches and retries only in its threaded synchronous
write API; its asyncio API sends one request per call and neither batches nor retries. So
``write()`` only appends a line to a bounded in-memory buffer, and one background task sends
batches in order, retrying with exponential backoff and jitter (honouring ``Retry-After`` on
429/503). The v2 request goes through influxdb-client's async write API (the supported v2 client;
InfluxDB 2.x/3.x, 1.8+, VictoriaMetrics); the v1 request (InfluxDB 1.x, ``db``/``rp``, basic
auth) is a plain aiohttp POST, which influxdb-client does not offer. aiohttp (~8 MiB of memory)
is imported when a transport opens: a gateway writing to SQLite only never loads it.

When the database refuses data (400, 413, 422: a field type conflict, a point too large)
retrying cannot help: the batch is dropped, counted with its reason in
``firegrid_sink_points_dropped`` and logged with the status and the server's words.

When the database cannot take a batch now (unreachable, 5xx, 429, timeouts, 401/403/404), the
batch goes to a disk spool (:mod:`gateway.sinks.spool`, under ``<data_dir>/spool/influx/``) and
so does every later batch until the spool is replayed, oldest first, once the server answers
again: order is kept, the memory buffer stays small, and a SIGKILL or a restart loses nothing
spooled. The spool is bounded in bytes; beyond it the oldest batches go, counted and logged.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
import re
import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from gateway.config import Settings
from gateway.metrics import Metrics
from gateway.model import Device, Reading
from gateway.ratelog import RateLimitedLogger
from gateway.sinks.base import Sink, SinkHealth
from gateway.sinks.linebuffer import LineBuffer
from gateway.sinks.lineprotocol import LineProtocol
from gateway.sinks.spool import Spool

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger(__name__)

_PARTIAL_WRITE = re.compile(r"dropped=(\d+)")
# Why a refused batch was dropped: the label of firegrid_sink_points_dropped.
# Only a batch the server cannot store is dropped. 401/403/404 (bad token, missing database or
# bucket) are an operator's fix away: keep the points (bounded buffer) and report degraded.
_REFUSED = {400: "bad_data", 413: "too_large", 422: "bad_data"}
_RETRIED = {401, 403, 404, 408, 429}
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class InfluxConfig:
    """Where and how to write. v1 uses ``db``/``rp``/``user``/``password``; v2 the rest.

    ``max_buffer_points`` bounds the points waiting in memory; the batch on the wire (at most
    ``batch_size``) comes on top while its request lasts. ``spool_max_bytes`` bounds the
    batches spooled in ``spool_dir`` while the server cannot take them.
    """

    url: str
    spool_dir: Path
    api: Literal["v1", "v2"] = "v2"
    db: str = "firegrid"
    rp: str | None = None
    user: str | None = None
    password: str | None = None
    org: str = "firegrid"
    bucket: str = "firegrid"
    token: str | None = None
    batch_size: int = 5000
    flush_interval_s: float = 1.0
    max_buffer_points: int = 1_000_000
    retry_initial_s: float = 1.0
    retry_max_s: float = 30.0
    request_timeout_s: float = 10.0
    stop_timeout_s: float = 10.0
    spool_max_bytes: int = 512 * 1024 * 1024


class WriteError(Exception):
    """One write request failed. ``status`` is None when no HTTP answer came back."""

    def __init__(self, status: int | None, detail: str, retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status}: {detail}" if status else detail)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


class _Transport(Protocol):
    async def open(self) -> None: ...

    async def send(self, body: bytes) -> None: ...

    async def close(self) -> None: ...


class _V1Transport:
    """``POST /write?db=&rp=&precision=u`` with basic auth (keeps the password out of URLs)."""

    def __init__(self, config: InfluxConfig) -> None:
        self._url = config.url.rstrip("/") + "/write"
        self._query_url = config.url.rstrip("/") + "/query"
        self._params = {"db": config.db, "precision": "u"}
        if config.rp:
            self._params["rp"] = config.rp
        self._headers = {"Content-Type": "text/plain; charset=utf-8"}
        if config.user:
            login = f"{config.user}:{config.password or ''}".encode()
            self._headers["Authorization"] = "Basic " + base64.b64encode(login).decode()
        self._timeout_s = config.request_timeout_s
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        import aiohttp

        self._timeout = aiohttp.ClientTimeout(total=self._timeout_s)
        self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        await self._create_database()

    async def _create_database(self) -> None:
        """Create the database if it is missing (idempotent), as Telegraf does.

        A user without admin rights cannot: that is fine when the database exists, and when
        it does not the writes fail with 404 and the sink reports itself degraded.
        """
        import aiohttp

        assert self._session is not None
        query = f'CREATE DATABASE "{self._params["db"]}"'
        try:
            async with self._session.post(self._query_url, params={"q": query}) as resp:
                if resp.status >= 300:
                    log.info("could not create InfluxDB database: HTTP %s", resp.status)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.info("could not create InfluxDB database yet: %s", _describe(exc))

    async def send(self, body: bytes) -> None:
        import aiohttp

        assert self._session is not None, "send() before open()"
        try:
            async with self._session.post(self._url, params=self._params, data=body) as resp:
                if resp.status < 300:
                    return
                text = await resp.text(errors="replace")
                raise WriteError(resp.status, text, parse_retry_after(resp.headers))
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise WriteError(None, _describe(exc)) from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class _V2Transport:
    """influxdb-client's async write API: one request per call, so one call per batch.

    influxdb-client is imported here, not at the top: with reactivex under it, it is ~13 MiB
    of memory that a gateway writing to InfluxDB 1.x, or to SQLite, would hold for nothing.
    """

    def __init__(self, config: InfluxConfig) -> None:
        self._config = config
        self._client: Any = None
        self._write_api: Any = None

    async def open(self) -> None:
        from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

        c = self._config
        # The client makes its aiohttp session on creation, so it belongs inside the loop.
        self._client = InfluxDBClientAsync(
            url=c.url, token=c.token or "", org=c.org, timeout=int(c.request_timeout_s * 1000)
        )
        self._write_api = self._client.write_api()

    async def send(self, body: bytes) -> None:
        import aiohttp  # under influxdb-client: loaded with it
        from influxdb_client.client.exceptions import InfluxDBError
        from influxdb_client.domain.write_precision import WritePrecision

        assert self._write_api is not None, "send() before open()"
        c = self._config
        try:
            await self._write_api.write(
                bucket=c.bucket, org=c.org, record=body, write_precision=WritePrecision.US
            )
        except InfluxDBError as exc:
            answer = exc.response.data if exc.response is not None else None
            text = answer.decode(errors="replace") if isinstance(answer, bytes) else exc.message
            status = getattr(exc, "status", None) or None
            retry_after = parse_retry_after(getattr(exc, "headers", None))
            raise WriteError(status, text, retry_after) from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise WriteError(None, _describe(exc)) from exc

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()


class InfluxSink(Sink):
    """Buffers lines in memory and writes them in batches, in order, from one task.

    A batch the server cannot take now goes to the disk spool, and so does everything after it
    until the spool has been replayed: oldest first, so nothing newer overtakes what waits.
    """

    def __init__(
        self,
        config: InfluxConfig,
        metrics: Metrics,
        tag_fields: Collection[str] = (),
        string_fields: Collection[str] = (),
        name: str = "influxdb",
    ) -> None:
        if config.max_buffer_points < config.batch_size:
            raise ValueError("max_buffer_points must be at least batch_size")
        self.name = name
        self._config = config
        self._wake = asyncio.Event()
        self._transport: _Transport = (
            _V1Transport(config) if config.api == "v1" else _V2Transport(config)
        )
        self._points = LineBuffer(
            LineProtocol(tag_fields, string_fields),
            config.max_buffer_points,
            config.batch_size,
            on_batch=self._wake.set,
            on_overflow=self._overflowed,
        )
        self._buffer: deque[str] = self._points.points  # the sender's end of it
        self._in_flight = 0
        self._spool = Spool(config.spool_dir, config.spool_max_bytes, f"{name} spool")
        # Points accepted into / gone out of the sink (written or dropped): flush() waits
        # until everything accepted before it was called has gone out.
        self._gone = 0
        self._closing = asyncio.Event()
        self._progress = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failure: str | None = None
        self._last_ok: float | None = None
        self._attempt = 0  # failed attempts in a row; > 0 while the server is failing
        self._retry_at = 0.0
        self._ratelog = RateLimitedLogger(log)
        self._m_points = metrics.sink_points.labels(name)
        self._m_buffer = metrics.sink_buffer.labels(name)
        self._m_batch = metrics.sink_batch_size.labels(name)
        self._m_seconds = metrics.sink_write_seconds.labels(name)
        self._m_errors = metrics.sink_errors
        self._m_dropped = metrics.sink_dropped
        self._m_buffer_full = metrics.sink_dropped.labels(name, "buffer_full")
        self._spooled = 0  # the spool's depth as of its last operation (which runs in a thread)
        metrics.sink_spool_points.labels(name).set_function(lambda: self._spooled)
        metrics.sink_spool_bytes.labels(name).set_function(lambda: self._spool.bytes)

    @property
    def buffered(self) -> int:
        """Every point not yet written: in memory, on the wire, or spooled."""
        return len(self._buffer) + self._in_flight + self._spooled

    @property
    def spooled(self) -> int:
        return self._spooled

    @property
    def writer(self) -> LineBuffer:
        """The compiled write path (:mod:`gateway.sinks.linebuffer`) the pipeline calls."""
        return self._points

    def write(self, reading: Reading, device: Device) -> None:
        self._points.write(reading, device)

    def _overflowed(self) -> None:
        """The buffer dropped its oldest point to take a new one."""
        self._gone += 1
        self._m_buffer_full.inc()
        self._ratelog.warning(
            "buffer_full",
            "%s buffer full (%d points): dropping the oldest (%s)",
            self.name,
            self._config.max_buffer_points,
            self._failure or "writes too slow",
        )

    def health(self) -> SinkHealth:
        """Degraded while the server fails, and after that until the spool is replayed."""
        buffered, spooled = self.buffered, self.spooled
        if self._task is None or self._task.done():
            return SinkHealth(False, f"{self.name} writer not running", buffered, spooled)
        if self._failure is not None:
            on_disk = f"; {spooled} points spooled to disk" if spooled else ""
            return SinkHealth(False, self._failure + on_disk, buffered, spooled)
        target = self._describe_target()
        if spooled:
            detail = f"{target}: replaying {spooled} spooled points"
            return SinkHealth(False, detail, buffered, spooled)
        if self._last_ok is None:
            return SinkHealth(True, f"{target}: nothing written yet", buffered)
        ago = time.monotonic() - self._last_ok
        return SinkHealth(True, f"{target}: last write {ago:.1f} s ago", buffered)

    async def start(self) -> None:
        """Open the spool (what an earlier run left is sent first), connect, start writing."""
        await self._spool_op(self._spool.load)
        self._points.accepted += self._spooled
        await self._transport.open()
        self._task = asyncio.create_task(self._run(), name=f"{self.name}-writer")

    async def flush(self) -> None:
        """Return once everything accepted before the call is written or dropped."""
        target = self._points.accepted
        while self._gone < target:
            if self._task is None or self._task.done():
                raise RuntimeError(f"{self.name} writer is not running")
            self._wake.set()
            progress = self._progress
            await progress.wait()

    async def stop(self) -> None:
        """Write what is buffered (waiting at most ``stop_timeout_s``), spool the rest, close."""
        if self._task is not None:
            self._closing.set()
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), self._config.stop_timeout_s)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        await self._spool_buffer()
        if self._buffer:
            lost = len(self._buffer)
            self._m_dropped.labels(self.name, "shutdown").inc(lost)
            log.error("%s stopped with %d points unwritten (%s)", self.name, lost, self._failure)
            self._buffer.clear()
        if self._spooled:
            log.warning(
                "%s stopped with %d points spooled in %s: they are written on the next start",
                self.name,
                self._spooled,
                self._spool.directory,
            )
        self._m_buffer.set(0)
        await self._transport.close()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._wait_s())
            self._wake.clear()
            await self._drain()
            self._m_buffer.set(len(self._buffer) + self._in_flight)
            if self._closing.is_set():
                return

    def _wait_s(self) -> float:
        until_retry = self._retry_at - time.monotonic()
        interval = self._config.flush_interval_s
        return min(interval, until_retry) if until_retry > 0 else interval

    async def _drain(self) -> None:
        """Send what waits, oldest first: the spool, then memory.

        While the spool holds anything, memory goes to the spool behind it (so nothing newer
        overtakes it, and a SIGKILL loses at most one flush interval). While InfluxDB takes
        every batch the spool is empty and never touched: no disk I/O on the healthy path.
        """
        while True:
            if self._closing.is_set() and self._attempt:
                return  # failing while stopping: stop() spools the rest at once
            if len(self._spool) and not await self._spool_buffer():
                return
            if time.monotonic() < self._retry_at:
                return
            if len(self._spool):
                sent = await self._replay()
            elif self._buffer:
                sent = await self._send_buffered()
            else:
                return
            if not sent:
                return

    async def _send_buffered(self) -> bool:
        """Send the oldest batch from memory; if the server cannot take it now, spool it."""
        n = min(self._config.batch_size, len(self._buffer))
        batch = [self._buffer.popleft() for _ in range(n)]
        self._in_flight = n
        try:
            done = await self._send("\n".join(batch).encode(), n)
        except BaseException:
            # Cancelled mid-request (stop() timed out): stop() spools it.
            self._requeue(batch)
            raise
        if done:
            self._done(n)
        else:
            await self._to_spool(batch)
        return done

    async def _replay(self) -> bool:
        """Send the oldest spooled batch; take it off the spool once the server has it."""
        batch = await self._spool_op(self._spool.head)
        if batch is None:
            return True
        if not await self._send(batch.body, batch.points):
            return False
        await self._spool_op(self._spool.pop, batch)
        self._done(batch.points)
        return True

    async def _spool_buffer(self) -> bool:
        """Move memory to the spool, behind what is there, a batch per file."""
        while self._buffer:
            n = min(self._config.batch_size, len(self._buffer))
            if not await self._to_spool([self._buffer.popleft() for _ in range(n)]):
                return False
        return True

    async def _to_spool(self, batch: list[str]) -> bool:
        """Append to the spool; if the disk refuses, keep the batch in memory (bounded)."""
        self._in_flight = len(batch)
        try:
            await self._spool_op(self._spool.append, batch, self._failure)
        except OSError as exc:
            self._ratelog.warning(
                "spool_error",
                "%s: cannot spool %d points to %s (%s): keeping them in memory",
                self.name,
                len(batch),
                self._spool.directory,
                _describe(exc),
            )
            self._requeue(batch)
            self._retry_later(None)
            return False
        finally:
            self._in_flight = 0
        return True

    async def _send(self, body: bytes, n: int) -> bool:
        """One write request. True when done with the batch (written or refused: the caller
        counts it gone), False when the server could not take it now (a retry is scheduled)."""
        self._m_batch.observe(n)
        started = time.monotonic()
        try:
            await self._transport.send(body)
        except Exception as exc:
            self._m_seconds.observe(time.monotonic() - started)
            failed = exc if isinstance(exc, WriteError) else WriteError(None, _describe(exc))
            if failed.status is None or failed.status >= 500 or failed.status in _RETRIED:
                self._failed(failed, _retry_reason(failed.status))
                self._retry_later(failed.retry_after)
                return False
            self._refused(failed, n)
            self._attempt, self._retry_at = 0, 0.0
            return True
        self._m_seconds.observe(time.monotonic() - started)
        self._m_points.inc(n)
        self._failure = None
        self._last_ok = time.monotonic()
        self._attempt, self._retry_at = 0, 0.0
        return True

    def _retry_later(self, retry_after: float | None) -> None:
        self._attempt += 1
        self._retry_at = time.monotonic() + (retry_after or self._backoff(self._attempt))

    def _backoff(self, attempt: int) -> float:
        base = min(self._config.retry_max_s, self._config.retry_initial_s * 2.0 ** (attempt - 1))
        return base * random.uniform(0.5, 1.0)

    def _requeue(self, batch: list[str]) -> None:
        """Put a batch back at the head of memory, then shed the oldest beyond the bound."""
        self._in_flight = 0
        self._buffer.extendleft(reversed(batch))
        excess = len(self._buffer) - self._config.max_buffer_points
        if excess > 0:
            for _ in range(excess):
                self._buffer.popleft()
            self._m_buffer_full.inc(excess)
            self._gone += excess
            self._pulse()

    async def _spool_op(self, job: Callable[..., _T], *args: object) -> _T:
        """Run a spool operation in a thread, then take its depth and losses on this loop.

        Cancelled, it still waits for the thread to finish: two operations on the spool never
        overlap, and what was appended stays appended.
        """
        future = asyncio.ensure_future(asyncio.to_thread(job, *args))
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            await asyncio.wait([future])
            raise
        finally:
            self._spooled = self._spool.points
            self._count_spool_losses()

    def _count_spool_losses(self) -> None:
        """What the spool dropped (at its bound) or found damaged: counted, and gone."""
        for reason, points in self._spool.take_lost().items():
            self._m_dropped.labels(self.name, reason).inc(points)
            self._gone += points
            self._pulse()

    def _failed(self, exc: WriteError, reason: str) -> None:
        self._m_errors.labels(self.name, reason).inc()
        what = "unreachable" if exc.status is None else "failing"
        self._failure = f"InfluxDB {what}: {_excerpt(str(exc))}"
        self._ratelog.warning(
            reason,
            "%s: %s; %d points waiting (%d spooled to disk), retrying",
            self.name,
            self._failure,
            self.buffered,
            self.spooled,
        )

    def _refused(self, exc: WriteError, n: int) -> None:
        reason = _REFUSED.get(exc.status or 0, "refused")
        match = _PARTIAL_WRITE.search(exc.detail)
        # A partial write stored the rest of the batch: only the named points are lost.
        dropped = min(int(match.group(1)), n) if match else n
        self._m_errors.labels(self.name, reason).inc()
        self._m_dropped.labels(self.name, reason).inc(dropped)
        self._m_points.inc(n - dropped)
        self._failure = f"InfluxDB refused a batch: HTTP {exc.status}: {_excerpt(exc.detail)}"
        log.error(
            "%s: dropped %d of %d points, HTTP %s from %s: %s",
            self.name,
            dropped,
            n,
            exc.status,
            self._describe_target(),
            _excerpt(exc.detail),
        )

    def _done(self, n: int) -> None:
        self._in_flight = 0
        self._gone += n
        self._pulse()

    def _pulse(self) -> None:
        """Wake every flush() waiting for points to go out."""
        self._progress.set()
        self._progress = asyncio.Event()

    def _describe_target(self) -> str:
        c = self._config
        where = f"db={c.db}" if c.api == "v1" else f"org={c.org} bucket={c.bucket}"
        return f"InfluxDB {c.api} at {c.url} ({where})"


def build_influx_sink(
    settings: Settings,
    metrics: Metrics,
    tag_fields: Collection[str] = (),
    string_fields: Collection[str] = (),
) -> InfluxSink:
    """The sink ``FIREGRID_INFLUX_*`` describes (``field_roles(profiles)`` gives the field sets)."""
    if not settings.influx_url:
        raise ValueError("FIREGRID_INFLUX_URL is not set")
    config = InfluxConfig(
        url=settings.influx_url,
        api=settings.influx_api,
        db=settings.influx_db,
        rp=settings.influx_rp,
        user=settings.influx_user,
        password=settings.influx_password,
        org=settings.influx_org,
        bucket=settings.influx_bucket,
        token=settings.influx_token,
        batch_size=settings.influx_batch_size,
        flush_interval_s=settings.influx_flush_interval_s,
        max_buffer_points=max(settings.influx_max_buffer_points, settings.influx_batch_size),
        spool_dir=settings.data_dir / "spool" / "influx",
        spool_max_bytes=settings.influx_spool_max_bytes,
    )
    return InfluxSink(config, metrics, tag_fields, string_fields)


def parse_retry_after(headers: Any) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date), capped at five minutes."""
    value = headers.get("Retry-After") if headers else None
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), 300.0)


def _retry_reason(status: int | None) -> str:
    if status is None:
        return "unreachable"
    return {
        429: "throttled",
        503: "unavailable",
        401: "unauthorized",
        403: "unauthorized",
        404: "not_found",
    }.get(status, "server_error")


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _excerpt(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"
