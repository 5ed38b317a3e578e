"""The batching InfluxDB writer against a scripted fake endpoint on loopback.

The fake answers each request from a script (status, headers, body), then 204, and records
what arrived, so retries, order and drops can be checked exactly.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from gateway.config import Settings, load_settings
from gateway.metrics import Metrics
from gateway.model import Device, Reading
from gateway.sinks.influx import InfluxConfig, InfluxSink, build_influx_sink
from gateway.sinks.lineprotocol import LineProtocol
from gateway.sinks.spool import Spool
from tests.fixtures.waiting import eventually
from tests.servers.ports import free_port

DEVICE = Device("sd-0001", "smoke-detector", "corridor", "G-0301")
TS = 1767225600.0


@dataclass
class Request:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    lines: list[str]
    at: float
    status: int


@dataclass
class FakeInflux:
    url: str = ""
    script: list[tuple[int, dict[str, str], str]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = (await request.read()).decode()
        status, headers, text = self.script.pop(0) if self.script else (204, {}, "")
        self.requests.append(
            Request(
                request.path,
                dict(request.query),
                dict(request.headers),
                body.split("\n"),
                time.monotonic(),
                status,
            )
        )
        return web.Response(status=status, headers=headers, text=text or None)

    @property
    def stored(self) -> list[int]:
        """Reading numbers (their battery_pct) in the requests answered 2xx, in arrival order."""
        return [_number(line) for r in self.requests if r.status < 300 for line in r.lines]


@pytest.fixture
async def fake() -> AsyncIterator[FakeInflux]:
    server = FakeInflux()
    app = web.Application()
    app.router.add_post("/write", server.handle)
    app.router.add_post("/api/v2/write", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    server.url = f"http://127.0.0.1:{port}"
    yield server
    await runner.cleanup()


def reading(n: int) -> Reading:
    return Reading(DEVICE.id, DEVICE.profile, "smoke", TS + n, {"battery_pct": n})


def line(n: int) -> str:
    return LineProtocol().line(reading(n), DEVICE) or ""


def spool_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "spool").glob("*.lp"))


def _number(line: str) -> int:
    return int(line.split("battery_pct=")[1].split("i")[0])


def config(spool: Path, url: str, **overrides: object) -> InfluxConfig:
    fast: dict[str, object] = {
        "spool_dir": spool / "spool",
        "flush_interval_s": 0.02,
        "retry_initial_s": 0.01,
        "retry_max_s": 0.05,
        "stop_timeout_s": 2.0,
    }
    return InfluxConfig(url=url, **(fast | overrides))  # type: ignore[arg-type]


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, {"sink": "influxdb", **labels})
    return value or 0.0


async def test_v1_posts_to_write_with_db_rp_microseconds_and_basic_auth(
    tmp_path: Path, fake: FakeInflux
) -> None:
    cfg = config(tmp_path, fake.url, api="v1", db="fire", rp="month", user="gw", password="s3cret")
    async with InfluxSink(cfg, Metrics()) as sink:
        sink.write(reading(1), DEVICE)
        sink.write(reading(2), DEVICE)
        await sink.flush()
    [request] = fake.requests
    assert request.path == "/write"
    assert request.query == {"db": "fire", "rp": "month", "precision": "u"}
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"gw:s3cret").decode()
    assert request.lines == [
        "smoke,device=sd-0001,grid=G-0301,profile=smoke-detector battery_pct=1i 1767225601000000",
        "smoke,device=sd-0001,grid=G-0301,profile=smoke-detector battery_pct=2i 1767225602000000",
    ]


async def test_v2_goes_through_influxdb_client_with_token_org_bucket_and_us(
    tmp_path: Path,
    fake: FakeInflux,
) -> None:
    cfg = config(tmp_path, fake.url, api="v2", org="city", bucket="fire", token="t0k")
    async with InfluxSink(cfg, Metrics()) as sink:
        sink.write(reading(1), DEVICE)
        await sink.flush()
    [request] = fake.requests
    assert request.path == "/api/v2/write"
    assert request.query == {"org": "city", "bucket": "fire", "precision": "us"}
    assert request.headers["Authorization"] == "Token t0k"
    assert fake.stored == [1]


async def test_server_errors_are_retried_until_written_once_and_in_order(
    tmp_path: Path,
    fake: FakeInflux,
) -> None:
    fake.script = [(500, {}, "oops"), (500, {}, "oops")]
    metrics = Metrics()
    async with InfluxSink(config(tmp_path, fake.url, api="v1", batch_size=3), metrics) as sink:
        for n in range(7):
            sink.write(reading(n), DEVICE)
        await sink.flush()
        assert sink.health().ok
    assert fake.stored == list(range(7))
    assert [r.status for r in fake.requests][:2] == [500, 500]
    assert sample(metrics, "firegrid_sink_write_errors_total", reason="server_error") == 2
    assert sample(metrics, "firegrid_sink_points_written_total") == 7


@pytest.mark.parametrize("api", ["v1", "v2"])
async def test_throttling_honours_retry_after(tmp_path: Path, fake: FakeInflux, api: str) -> None:
    fake.script = [(429, {"Retry-After": "1"}, '{"message": "slow down"}')]
    metrics = Metrics()
    async with InfluxSink(config(tmp_path, fake.url, api=api), metrics) as sink:
        sink.write(reading(1), DEVICE)
        await sink.flush()
    first, second = fake.requests
    # The backoff alone would have retried after at most 0.05 s.
    assert second.at - first.at >= 0.9
    assert fake.stored == [1]
    assert sample(metrics, "firegrid_sink_write_errors_total", reason="throttled") == 1


@pytest.mark.parametrize("status", [401, 403, 404])
async def test_a_credential_or_database_problem_keeps_the_points_until_it_is_fixed(
    tmp_path: Path, fake: FakeInflux, status: int
) -> None:
    """A wrong token or a missing database is an operator's fix away: nothing is dropped."""
    fake.script = [(status, {}, '{"error":"authorization failed"}')] * 3
    metrics = Metrics()
    async with InfluxSink(config(tmp_path, fake.url, api="v1"), metrics) as sink:
        sink.write(reading(1), DEVICE)
        sink.write(reading(2), DEVICE)
        await eventually(lambda: len(fake.requests) >= 2 and not sink.health().ok)
        await sink.flush()
        assert sink.health().ok
    assert fake.stored == [1, 2]
    assert sample(metrics, "firegrid_sink_points_dropped_total", reason="unauthorized") == 0
    assert sample(metrics, "firegrid_sink_points_written_total") == 2


async def test_a_refused_batch_is_dropped_counted_and_logged_not_retried(
    tmp_path: Path, fake: FakeInflux, caplog: pytest.LogCaptureFixture
) -> None:
    conflict = '{"error":"field type conflict: input field \\"battery_pct\\" is type float"}'
    fake.script = [(400, {}, conflict)]
    metrics = Metrics()
    async with InfluxSink(config(tmp_path, fake.url, api="v1", batch_size=2), metrics) as sink:
        sink.write(reading(0), DEVICE)
        sink.write(reading(1), DEVICE)
        with caplog.at_level(logging.ERROR, "gateway.sinks.influx"):
            await sink.flush()
        assert not sink.health().ok
        assert "HTTP 400" in sink.health().detail
        sink.write(reading(2), DEVICE)
        sink.write(reading(3), DEVICE)
        await sink.flush()
        assert sink.health().ok
    assert fake.stored == [2, 3]
    assert len(fake.requests) == 2
    assert sample(metrics, "firegrid_sink_points_dropped_total", reason="bad_data") == 2
    assert "HTTP 400" in caplog.text and "field type conflict" in caplog.text


async def test_a_partial_write_drops_only_the_points_the_database_names(
    tmp_path: Path,
    fake: FakeInflux,
) -> None:
    partial = '{"error":"partial write: field type conflict: ... dropped=1"}'
    fake.script = [(400, {}, partial)]
    metrics = Metrics()
    async with InfluxSink(config(tmp_path, fake.url, api="v2"), metrics) as sink:
        for n in range(3):
            sink.write(reading(n), DEVICE)
        await sink.flush()
    assert sample(metrics, "firegrid_sink_points_dropped_total", reason="bad_data") == 1
    assert sample(metrics, "firegrid_sink_points_written_total") == 2


async def test_a_full_buffer_drops_the_oldest_first(tmp_path: Path, fake: FakeInflux) -> None:
    metrics = Metrics()
    sink = InfluxSink(
        config(tmp_path, fake.url, api="v1", batch_size=5, max_buffer_points=5), metrics
    )
    for n in range(8):
        sink.write(reading(n), DEVICE)
    assert sink.buffered == 5
    assert sample(metrics, "firegrid_sink_points_dropped_total", reason="buffer_full") == 3
    async with sink:
        await sink.flush()
    assert fake.stored == [3, 4, 5, 6, 7]


async def test_during_an_outage_batches_go_to_disk_and_replay_in_order_before_newer_points(
    tmp_path: Path, fake: FakeInflux
) -> None:
    fake.script = [(503, {}, "down")] * 1000
    metrics = Metrics()
    cfg = config(tmp_path, fake.url, api="v1", batch_size=4)
    async with InfluxSink(cfg, metrics) as sink:
        for n in range(20):
            sink.write(reading(n), DEVICE)
            await asyncio.sleep(0.005)
        await eventually(lambda: sink.spooled == 20)
        health = sink.health()
        assert not health.ok and health.buffered == health.spooled == 20
        assert "HTTP 503" in health.detail and "20 points spooled to disk" in health.detail
        assert spool_files(tmp_path) and sample(metrics, "firegrid_sink_buffer_points") == 0
        assert sample(metrics, "firegrid_sink_spool_points") == 20
        assert sample(metrics, "firegrid_sink_spool_bytes") == sum(
            f.stat().st_size for f in spool_files(tmp_path)
        )
        for n in range(20, 25):  # newer points wait behind the spooled ones
            sink.write(reading(n), DEVICE)
        fake.script.clear()
        await sink.flush()
        assert sink.health().ok
    assert fake.stored == list(range(25))
    assert spool_files(tmp_path) == []
    assert sample(metrics, "firegrid_sink_spool_points") == 0
    assert sample(metrics, "firegrid_sink_points_dropped_total", reason="buffer_full") == 0


async def test_while_influxdb_takes_every_batch_the_spool_is_never_touched(
    tmp_path: Path, fake: FakeInflux, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_disk(*_: object) -> None:
        raise AssertionError("the spool was touched on the healthy path")

    monkeypatch.setattr(Spool, "append", no_disk)
    monkeypatch.setattr(Spool, "head", no_disk)
    async with InfluxSink(config(tmp_path, fake.url, api="v1", batch_size=10), Metrics()) as sink:
        for n in range(55):
            sink.write(reading(n), DEVICE)
        await sink.flush()
        assert sink.health().ok
    assert fake.stored == list(range(55))
    assert spool_files(tmp_path) == []


async def test_a_full_spool_drops_the_oldest_batches_counts_and_logs_them(
    tmp_path: Path, fake: FakeInflux, caplog: pytest.LogCaptureFixture
) -> None:
    fake.script = [(503, {}, "down")] * 1000
    metrics = Metrics()
    numbers = range(10, 50)  # same line length each, so a batch of 4 is always the same size
    batch_bytes = len("\n".join(line(n) for n in numbers[:4]).encode())
    cfg = config(tmp_path, fake.url, api="v1", batch_size=4, spool_max_bytes=3 * batch_bytes + 10)
    with caplog.at_level(logging.WARNING, "gateway.sinks.spool"):
        async with InfluxSink(cfg, metrics) as sink:
            for n in numbers:
                sink.write(reading(n), DEVICE)
            await eventually(lambda: sink.buffered == 12)
            assert sink.spooled == 12 and len(spool_files(tmp_path)) == 3
            fake.script.clear()
            await sink.flush()
    assert fake.stored == list(range(38, 50))  # exactly the newest
    assert sample(metrics, "firegrid_sink_points_dropped_total", reason="spool_full") == 28
    logged = [r.getMessage() for r in caplog.records if "spool full" in r.getMessage()]
    assert sum(int(m.split("dropped the ")[1].split()[0]) for m in logged) == 28
    assert all("HTTP 503" in m for m in logged)


async def test_spooled_points_survive_a_restart_and_are_written_before_new_ones(
    tmp_path: Path, fake: FakeInflux
) -> None:
    down = config(tmp_path, f"http://127.0.0.1:{free_port()}", api="v1", batch_size=4)
    async with InfluxSink(down, Metrics()) as before:
        for n in range(10):
            before.write(reading(n), DEVICE)
        await eventually(lambda: before.spooled == 10)  # on disk before any shutdown
    assert len(spool_files(tmp_path)) == 3
    metrics = Metrics()
    after = InfluxSink(config(tmp_path, fake.url, api="v1", batch_size=4), metrics)
    await after.start()
    try:
        assert sample(metrics, "firegrid_sink_spool_points") == 10
        for n in range(10, 14):
            after.write(reading(n), DEVICE)
        await after.flush()
        assert after.health().ok
    finally:
        await after.stop()
    assert fake.stored == list(range(14))
    assert spool_files(tmp_path) == []


async def test_a_disk_that_refuses_the_spool_keeps_the_points_in_memory(
    tmp_path: Path, fake: FakeInflux, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Spool, "append", disk_full)
    fake.script = [(503, {}, "down")] * 3
    metrics = Metrics()
    async with InfluxSink(config(tmp_path, fake.url, api="v1", batch_size=2), metrics) as sink:
        for n in range(5):
            sink.write(reading(n), DEVICE)
        await sink.flush()
    assert fake.stored == list(range(5))
    assert sample(metrics, "firegrid_sink_points_dropped_total", reason="shutdown") == 0


@pytest.mark.parametrize("api", ["v1", "v2"])
async def test_health_says_unreachable_while_writes_fail(tmp_path: Path, api: str) -> None:
    metrics = Metrics()
    cfg = config(tmp_path, f"http://127.0.0.1:{free_port()}", api=api, stop_timeout_s=0.2)
    async with InfluxSink(cfg, metrics) as sink:
        sink.write(reading(1), DEVICE)
        await eventually(lambda: not sink.health().ok)
        health = sink.health()
        assert health.detail.startswith("InfluxDB unreachable:")
        assert health.buffered == 1
        assert sample(metrics, "firegrid_sink_write_errors_total", reason="unreachable") >= 1


async def test_a_full_batch_is_sent_without_waiting_for_the_interval(
    tmp_path: Path, fake: FakeInflux
) -> None:
    cfg = config(tmp_path, fake.url, api="v1", batch_size=3, flush_interval_s=60)
    async with InfluxSink(cfg, Metrics()) as sink:
        for n in range(3):
            sink.write(reading(n), DEVICE)
        await eventually(lambda: fake.stored == [0, 1, 2])


async def test_batches_never_exceed_the_batch_size(tmp_path: Path, fake: FakeInflux) -> None:
    metrics = Metrics()
    sink = InfluxSink(config(tmp_path, fake.url, api="v1", batch_size=10), metrics)
    for n in range(25):
        sink.write(reading(n), DEVICE)
    async with sink:
        await sink.flush()
    assert [len(r.lines) for r in fake.requests] == [10, 10, 5]
    assert fake.stored == list(range(25))
    assert (
        metrics.registry.get_sample_value("firegrid_sink_batch_points_count", {"sink": "influxdb"})
        == 3
    )


async def test_stop_writes_what_is_buffered(tmp_path: Path, fake: FakeInflux) -> None:
    sink = InfluxSink(config(tmp_path, fake.url, api="v1", flush_interval_s=60), Metrics())
    async with sink:
        sink.write(reading(1), DEVICE)
        sink.write(reading(2), DEVICE)
    assert fake.stored == [1, 2]


async def test_stop_while_influxdb_is_down_spools_what_is_in_memory(tmp_path: Path) -> None:
    metrics = Metrics()
    cfg = config(tmp_path, f"http://127.0.0.1:{free_port()}", api="v1", flush_interval_s=60)
    sink = InfluxSink(cfg, metrics)
    await sink.start()
    for n in range(3):
        sink.write(reading(n), DEVICE)
    started = time.monotonic()
    await sink.stop()
    assert time.monotonic() - started < 2
    assert sink.spooled == 3 and len(spool_files(tmp_path)) == 1
    assert sample(metrics, "firegrid_sink_points_dropped_total", reason="shutdown") == 0
    assert not sink.health().ok


async def test_stop_gives_up_on_a_silent_server_after_its_timeout_and_spools_the_batch(
    tmp_path: Path,
) -> None:
    silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    # v2: opening it sends nothing (v1 would wait to create its database first)
    cfg = config(tmp_path, f"http://127.0.0.1:{port}", api="v2", stop_timeout_s=0.3)
    metrics = Metrics()
    sink = InfluxSink(cfg, metrics)
    await sink.start()
    for n in range(3):
        sink.write(reading(n), DEVICE)
    started = time.monotonic()
    await sink.stop()
    silent.close()
    assert time.monotonic() - started < 2
    assert sink.spooled == 3
    assert sample(metrics, "firegrid_sink_points_dropped_total", reason="shutdown") == 0


def test_the_spool_lives_in_the_data_dir_and_its_bound_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIREGRID_INFLUX_URL", "http://influxdb:8086")
    monkeypatch.setenv("FIREGRID_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FIREGRID_INFLUX_SPOOL_MAX_BYTES", "1048576")
    sink = build_influx_sink(load_settings(), Metrics())
    assert sink._config.spool_dir == tmp_path / "spool" / "influx"
    assert sink._config.spool_max_bytes == 1048576
    assert Settings().influx_spool_max_bytes == 512 * 1024 * 1024
