"""``firegrid tokens issue|list|revoke`` against the REST API of an in-process gateway."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from gateway.cli_tokens import tokens_app
from tests.fixtures.registry import TOKEN
from tests.unit.test_api_cli import LoopBridge
from tests.unit.test_api_support import Access, access


@pytest.fixture
async def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Access]:
    async with access(tmp_path) as harness:
        bridge = LoopBridge(harness.app, asyncio.get_running_loop())
        real_client = httpx.Client
        monkeypatch.setattr(httpx, "Client", functools.partial(real_client, transport=bridge))
        yield harness


async def firegrid(*args: str, token: str = TOKEN) -> Result:
    env = {"FIREGRID_ADMIN_TOKEN": token, "FIREGRID_API_HOST": "", "FIREGRID_API_PORT": ""}
    return await asyncio.to_thread(CliRunner().invoke, tokens_app, list(args), env=env)


async def test_issue_prints_only_the_secret_on_stdout_and_it_works(api: Access) -> None:
    result = await firegrid(
        "issue", "--role", "worker", "--name", "张伟", "--worker-id", "w-001", "--grid", "G-0101"
    )
    assert result.exit_code == 0, result.stderr
    secret = result.stdout.strip()
    assert secret.startswith("fgt_") and "\n" not in secret
    assert "worker as w-001 (G-0101)" in result.stderr and "not shown again" in result.stderr
    assert (await api.as_(secret).get("/incidents")).status_code != 401


async def test_list_and_revoke(api: Access) -> None:
    await firegrid("issue", "--role", "officer", "--name", "officer Li")
    listed = await firegrid("list")
    assert listed.exit_code == 0
    token_id, role, *_ = listed.stdout.split()
    assert token_id.startswith("tok-") and role == "officer"
    assert "fgt_" not in listed.stdout

    revoked = await firegrid("revoke", token_id)
    assert (revoked.exit_code, revoked.stdout.strip()) == (0, f"revoked {token_id}")
    assert (await firegrid("list")).stdout == ""
    assert "revoked 20" in (await firegrid("list", "--all")).stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("revoke", "tok-nope"), "refused: no token tok-nope"),
        (
            ("issue", "--role", "worker", "--name", "x"),
            "refused: Value error, a worker token needs worker_id",
        ),
        (
            ("issue", "--role", "worker", "--name", "x", "--worker-id", "w-999"),
            "refused: worker_id: no worker w-999",
        ),
    ],
)
async def test_refusals_say_why(api: Access, args: tuple[str, ...], says: str) -> None:
    result = await firegrid(*args)
    assert result.exit_code == 1
    assert result.stderr.startswith(says), result.stderr


async def test_a_non_admin_token_is_refused(api: Access) -> None:
    officer = await api.issue("officer")
    result = await firegrid("list", token=officer)
    assert (result.exit_code, result.stderr.strip()) == (1, "refused: this needs the admin role")
    wrong = await firegrid("list", token="nope")
    assert "the gateway refused the token (invalid token)" in wrong.stderr
