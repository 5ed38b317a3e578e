"""``firegrid broker-config`` against the REST API of an in-process gateway."""

from __future__ import annotations

import asyncio
import functools
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner, Result

from gateway.broker_config import parse_passwd, password_matches
from gateway.cli_broker import broker_config
from tests.fixtures.registry import TOKEN
from tests.unit.test_api_cli import LoopBridge
from tests.unit.test_api_support import Access, access

GATEWAY_URL = "mqtt://firegrid:gw-pw@mosquitto:1883"
DISTRICT_PEOPLE = {f"worker/w-00{n}" for n in range(1, 5)} | {"worker/w-101"}


@pytest.fixture
async def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Access]:
    async with access(tmp_path) as harness:
        bridge = LoopBridge(harness.app, asyncio.get_running_loop())
        real_client = httpx.Client
        monkeypatch.setattr(httpx, "Client", functools.partial(real_client, transport=bridge))
        for body in (
            {"id": "sd-1", "profile": "smoke-detector", "name": "3F", "grid": "G-0101"},
            {
                "id": "z2m-1",
                "profile": "smoke-detector-z2m",
                "name": "lobby",
                "grid": "G-0102",
                "external_id": "lobby 1F",
                "installer": "inst-7",
            },
        ):
            assert (await harness.admin.post("/devices", json=body)).status_code == 201
        station = {"id": "ms-1", "name": "贵州路站", "lat": 31.23, "lon": 121.46}
        assert (await harness.admin.post("/stations", json=station)).status_code == 201
        yield harness


async def firegrid(*args: str) -> Result:
    app = typer.Typer()
    app.command()(broker_config)
    env = {
        "FIREGRID_ADMIN_TOKEN": TOKEN,
        "FIREGRID_API_HOST": "",
        "FIREGRID_API_PORT": "",
        "FIREGRID_MQTT_URL": GATEWAY_URL,
    }
    return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)


async def test_accounts_for_everyone_in_the_registry_and_their_passwords_once(
    api: Access, tmp_path: Path
) -> None:
    out = tmp_path / "mosquitto"
    result = await firegrid("--out", str(out))
    assert result.exit_code == 0, result.stderr
    issued = dict(line.split(",", 1) for line in result.stdout.splitlines())
    expected = {"sd-1", "z2m-1", "station/ms-1", "installer/inst-7"} | DISTRICT_PEOPLE
    assert set(issued) == expected  # the gateway's password is its own, never issued
    hashes = parse_passwd((out / "passwd").read_text())
    assert set(hashes) == expected | {"firegrid"}
    assert password_matches("gw-pw", hashes["firegrid"])
    assert all(password_matches(issued[name], hashes[name]) for name in issued)
    acl = (out / "acl").read_text()
    assert "user z2m-1\ntopic write zigbee2mqtt/lobby 1F\n" in acl
    for path in (out / "passwd", out / "acl"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "10 accounts, 9 new" in result.stderr and "SIGHUP" in result.stderr

    # The operator let the broker's group read the files: a re-run keeps that.
    (out / "acl").chmod(0o640)
    again = await firegrid("--out", str(out))
    assert again.exit_code == 0 and again.stdout == ""  # nobody new, no secret shown again
    assert parse_passwd((out / "passwd").read_text()) == hashes
    assert stat.S_IMODE((out / "acl").stat().st_mode) == 0o640


async def test_a_bad_token_writes_nothing(api: Access, tmp_path: Path) -> None:
    result = await firegrid("--out", str(tmp_path / "m"), "--token", "wrong")
    assert result.exit_code == 1 and "refused the token" in result.stderr
    assert not (tmp_path / "m").exists()


async def test_the_first_start_needs_only_the_gateway_account(tmp_path: Path) -> None:
    """No gateway running yet: the local profiles give its topics, no token is needed."""
    out = tmp_path / "mosquitto"
    result = await firegrid("--gateway-only", "--out", str(out), "--token", "")
    assert result.exit_code == 0, result.stderr
    assert set(parse_passwd((out / "passwd").read_text())) == {"firegrid"}
    assert (
        "user firegrid\ntopic read devices/+/alarm\ntopic read devices/+/up\n"
        in (out / "acl").read_text()
    )


async def test_the_demo_stack_adds_the_simulators_account_from_its_url(tmp_path: Path) -> None:
    out = tmp_path / "mosquitto"
    sim_url = "mqtt://simulator:sim-pw@mosquitto:1883"
    result = await firegrid("--gateway-only", "--out", str(out), "--simulator-url", sim_url)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""  # both passwords are their URLs' own: none issued
    hashes = parse_passwd((out / "passwd").read_text())
    assert set(hashes) == {"firegrid", "simulator"}
    assert password_matches("sim-pw", hashes["simulator"])
    assert "user simulator\ntopic read grid/workers/+/alarms\n" in (out / "acl").read_text()


async def test_without_the_simulators_url_a_rerun_drops_its_account(
    api: Access, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "mosquitto"
    monkeypatch.setenv("FIREGRID_SIMULATOR_MQTT_URL", "mqtt://sim:sim-pw@mosquitto:1883")
    assert (await firegrid("--gateway-only", "--out", str(out))).exit_code == 0
    assert set(parse_passwd((out / "passwd").read_text())) == {"firegrid", "sim"}
    monkeypatch.delenv("FIREGRID_SIMULATOR_MQTT_URL")
    result = await firegrid("--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert "sim" not in parse_passwd((out / "passwd").read_text())
    assert "user sim\n" not in (out / "acl").read_text()


async def test_a_simulator_url_the_broker_cannot_take_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "m"
    same = await firegrid("--gateway-only", "--out", str(out), "--simulator-url", GATEWAY_URL)
    assert same.exit_code == 1
    assert "the simulator's account: user name firegrid is the gateway's" in same.stderr
    bad = await firegrid("--gateway-only", "--out", str(out), "--simulator-url", "http://x")
    assert bad.exit_code == 2 and "--simulator-url" in bad.stderr
    assert not out.exists()
