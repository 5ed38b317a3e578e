"""The simulated people's API tokens: one worker token per grid worker or leader (网格员, 网格长)
and one officer token, issued through ``POST /tokens`` with the admin token as an operator
would, and revoked again when the simulation stops, so repeated runs leave no live tokens."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import httpx

from gateway.sim.installer import RegistrationError

log = logging.getLogger(__name__)

OFFICER_NAME = "duty-officer"  # recorded on the timeline as who verified and closed


@dataclass(slots=True)
class Tokens:
    """Bearer secrets by worker id, the officer's, and every issued token's id."""

    workers: dict[str, str] = field(default_factory=dict)
    officer: str = ""
    ids: list[str] = field(default_factory=list)


async def _issue(http: httpx.AsyncClient, body: dict[str, str], into: Tokens) -> str:
    response = await http.post("/tokens", json=body)
    if response.status_code != httpx.codes.CREATED:
        raise RegistrationError(
            f"POST /tokens answered {response.status_code}: {response.text[:500]}"
        )
    answer = response.json()
    into.ids.append(str(answer["id"]))
    return str(answer["secret"])


async def issue_tokens(http: httpx.AsyncClient, people: Iterable[str]) -> Tokens:
    """``http`` carries the admin token; ``people`` are registered worker ids."""
    tokens = Tokens()
    for person in people:
        body = {"role": "worker", "name": f"phone of {person}", "worker_id": person}
        tokens.workers[person] = await _issue(http, body, tokens)
    tokens.officer = await _issue(http, {"role": "officer", "name": OFFICER_NAME}, tokens)
    return tokens


async def revoke_tokens(http: httpx.AsyncClient, tokens: Tokens) -> None:
    """Best effort: a gateway already gone keeps them, and says so in the log."""
    results = await asyncio.gather(
        *(http.delete(f"/tokens/{token_id}") for token_id in tokens.ids), return_exceptions=True
    )
    failed = [r for r in results if isinstance(r, BaseException) or not r.is_success]
    if failed:
        log.warning("simulator: %d of %d tokens not revoked", len(failed), len(tokens.ids))
