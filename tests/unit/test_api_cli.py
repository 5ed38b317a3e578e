"""``firegrid devices add|import`` against the REST API of an in-process gateway."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner, Result

from gateway.cli_devices import default_api, devices_app
from tests.fixtures.registry import FIXTURES, TOKEN, ApiHarness, api_harness


class LoopBridge(httpx.BaseTransport):
    """Carries the CLI's blocking requests (from a worker thread) to the app on the test loop."""

    def __init__(self, app: FastAPI, loop: asyncio.AbstractEventLoop) -> None:
        self._asgi = httpx.ASGITransport(app=app)
        self._loop = loop

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()

        async def call() -> httpx.Response:
            forwarded = httpx.Request(
                request.method, request.url, headers=request.headers, content=body
            )
            response = await self._asgi.handle_async_request(forwarded)
            content = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout=30)


@pytest.fixture
async def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ApiHarness]:
    async with api_harness(tmp_path / "registry.sqlite") as harness:
        bridge = LoopBridge(harness.app, asyncio.get_running_loop())
        real_client = httpx.Client
        monkeypatch.setattr(httpx, "Client", functools.partial(real_client, transport=bridge))
        yield harness


async def firegrid(*args: str, token: str = TOKEN) -> Result:
    env = {"FIREGRID_ADMIN_TOKEN": token, "FIREGRID_API_HOST": "", "FIREGRID_API_PORT": ""}
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, devices_app, list(args), env=env)


KITCHEN = ("add", "--id", "sd-0001", "--profile", "smoke-detector", "--name", "3F kitchen")


async def test_add_registers_a_device_and_says_where_it_landed(api: ApiHarness) -> None:
    result = await firegrid(
        *KITCHEN, "--lat", "31.235", "--lon", "121.465", "--threshold", "battery_low_pct=15"
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == (
        "registered sd-0001 (smoke-detector) in grid G-0101 (C-0101, S-310101-01)"
    )
    device = api.registry.by_id("sd-0001")
    assert device is not None and device.thresholds == {"battery_low_pct": 15}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ("--lat", "31.2", "--lon", "121.4"),
            "refused: grid: device sd-0001 at (31.2, 121.4) lies in no grid; name one with grid=",
        ),
        (
            ("--lat", "95", "--lon", "121.4"),
            "refused: location.lat: Input should be less than or equal to 90",
        ),
        (("--grid", "G-9999"), "refused: grid: unknown grid G-9999"),
    ],
)
async def test_add_prints_the_gateways_reason(
    api: ApiHarness, args: tuple[str, ...], says: str
) -> None:
    result = await firegrid(*KITCHEN, *args)
    assert result.exit_code == 1
    assert result.stderr.strip() == says
    assert api.registry.devices() == []


async def test_a_duplicate_and_a_wrong_token_are_explained(api: ApiHarness) -> None:
    await firegrid(*KITCHEN, "--grid", "G-0101")
    again = await firegrid(*KITCHEN, "--grid", "G-0101")
    assert again.stderr.strip() == "refused: device sd-0001 already exists"
    wrong = await firegrid(*KITCHEN, "--grid", "G-0101", token="guess")
    assert wrong.exit_code == 1
    assert "the gateway refused the token (invalid token)" in wrong.stderr


async def test_import_registers_the_whole_file(api: ApiHarness) -> None:
    result = await firegrid("import", str(FIXTURES / "devices.csv"))
    assert result.exit_code == 0, result.stderr
    assert "imported 4 devices" in result.stdout
    assert len(api.registry.devices()) == 4


async def test_import_lists_every_bad_line_and_imports_nothing(api: ApiHarness) -> None:
    result = await firegrid("import", str(FIXTURES / "devices_bad.csv"))
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "refused:"
    assert lines[1] == "line 3: lat: Input should be less than or equal to 90 (got '95')"
    assert [line.split(":")[0] for line in lines[1:]] == ["line 3", "line 4", "line 5", "line 6"]
    assert api.registry.devices() == []


async def test_import_reads_a_gbk_spreadsheet(api: ApiHarness, tmp_path: Path) -> None:
    path = tmp_path / "devices-gbk.csv"
    path.write_bytes("id,profile,name,grid\nsd-1,smoke-detector,厨房烟感,G-0101\n".encode("gbk"))
    result = await firegrid("import", str(path))
    assert result.exit_code == 0, result.stderr
    assert "reading it as GB18030" in result.stderr
    device = api.registry.by_id("sd-1")
    assert device is not None and device.name == "厨房烟感"


async def test_an_unreachable_gateway_is_named() -> None:
    result = await firegrid(*KITCHEN, "--grid", "G-0101", "--api", "http://127.0.0.1:9")
    assert result.exit_code == 1
    assert "cannot reach the gateway at http://127.0.0.1:9" in result.stderr


async def test_no_token_is_a_clear_refusal() -> None:
    result = await firegrid(*KITCHEN, "--grid", "G-0101", token="")
    assert result.stderr.strip() == "refused: no token: pass --token or set FIREGRID_ADMIN_TOKEN"


def test_a_bad_threshold_flag_is_a_usage_error() -> None:
    result = CliRunner().invoke(devices_app, [*KITCHEN, "--threshold", "battery_low_pct"])
    assert result.exit_code == 2
    assert "is not NAME=VALUE" in result.stderr


@pytest.mark.parametrize(
    ("host", "port", "url"),
    [
        ("", "", "http://127.0.0.1:8080"),
        ("0.0.0.0", "9090", "http://127.0.0.1:9090"),
        ("gw.example", "80", "http://gw.example:80"),
        ("fd00::1", "8080", "http://[fd00::1]:8080"),
    ],
)
def test_the_api_url_defaults_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, host: str, port: str, url: str
) -> None:
    monkeypatch.setenv("FIREGRID_API_HOST", host)
    monkeypatch.setenv("FIREGRID_API_PORT", port)
    assert default_api() == url
