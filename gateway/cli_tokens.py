"""``firegrid tokens issue|list|revoke``: API tokens, through a running gateway's REST API.

Like ``firegrid devices``, the commands keep nothing locally: the gateway issues, stores
(hashed) and revokes. ``issue`` prints the secret alone on stdout — the only time it is shown —
and what was issued on stderr, so ``TOKEN=$(firegrid tokens issue ...)`` captures just the secret.
"""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import typer

from gateway.cli_devices import (
    ApiOpt,
    RefusedError,
    TokenOpt,
    _client,
    _explain,
    _fail,
    default_api,
)
from gateway.tokens import Role

tokens_app = typer.Typer(
    help="Issue, list and revoke API tokens (admin token needed; REST API of `firegrid run`).",
    no_args_is_help=True,
)


def _send(api: str | None, token: str | None, method: str, path: str, **kw: Any) -> Any:
    """One request; the JSON answer (None for 204), or RefusedError saying what to do."""
    api = api or default_api()
    if not token:
        raise RefusedError("no admin token: pass --token or set FIREGRID_ADMIN_TOKEN")
    try:
        with _client(api, token) as client:
            response = client.request(method, path, **kw)
    except httpx.TransportError as exc:
        raise RefusedError(f"cannot reach the gateway at {api} ({exc}); is it running?") from exc
    if not response.is_success:
        raise RefusedError(_explain(response))
    return response.json() if response.content else None


def _describe(token: dict[str, Any]) -> str:
    reach = ""
    if token["role"] == Role.WORKER:
        grids = token["grids"]
        where = ", ".join(grids) if grids else "grids from the registry"
        reach = f" as {token['worker_id']} ({where})"
    return f"{token['id']}  {token['role']}{reach}  {token['name']!r}"


@tokens_app.command()
def issue(
    role: Annotated[Role, typer.Option(help="What the token may do")],
    name: Annotated[str, typer.Option(help="Who holds it, e.g. 'officer Zhang'")],
    worker_id: Annotated[
        str | None, typer.Option("--worker-id", help="For a worker token: the worker (网格员)")
    ] = None,
    grid: Annotated[
        list[str] | None,
        typer.Option(
            help="For a worker token: a grid it reaches (repeatable); default: the grids "
            "where the registry names it worker or leader",
            show_default=False,
        ),
    ] = None,
    api: ApiOpt = None,
    token: TokenOpt = None,
) -> None:
    """Issue a token; its secret is printed once and never again."""
    body = {"role": role.value, "name": name, "worker_id": worker_id, "grids": grid or None}
    try:
        issued = _send(api, token, "POST", "/tokens", json=body)
    except RefusedError as exc:
        raise _fail(exc) from None
    typer.echo(f"issued {_describe(issued)}; keep the secret now, it is not shown again", err=True)
    typer.echo(issued["secret"])


@tokens_app.command("list")
def list_tokens(
    include_revoked: Annotated[bool, typer.Option("--all", help="Include revoked tokens")] = False,
    api: ApiOpt = None,
    token: TokenOpt = None,
) -> None:
    """List issued tokens (never their secrets)."""
    params = {"include_revoked": "true"} if include_revoked else {}
    try:
        tokens = _send(api, token, "GET", "/tokens", params=params)
    except RefusedError as exc:
        raise _fail(exc) from None
    for t in tokens:
        revoked = f"  revoked {t['revoked_at']}" if t["revoked_at"] else ""
        typer.echo(f"{_describe(t)}  issued {t['created_at']}{revoked}")


@tokens_app.command()
def revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (tok-…), from `tokens list`")],
    api: ApiOpt = None,
    token: TokenOpt = None,
) -> None:
    """Revoke a token at once: its next request gets 401."""
    try:
        _send(api, token, "DELETE", f"/tokens/{token_id}")
    except RefusedError as exc:
        raise _fail(exc) from None
    typer.echo(f"revoked {token_id}")
