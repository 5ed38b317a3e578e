"""``firegrid devices add|import``: register devices with a running gateway over its REST API.

The commands hold no registry of their own: the gateway checks everything (profile, grid,
uniqueness) and these commands print its answer, problem by problem.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

devices_app = typer.Typer(
    help="Register devices with a running gateway (REST API; see `firegrid run`).",
    no_args_is_help=True,
)

ApiOpt = Annotated[
    str | None,
    typer.Option(
        "--api",
        help="Gateway URL [default: http://FIREGRID_API_HOST:FIREGRID_API_PORT, "
        "else http://127.0.0.1:8080]",
        show_default=False,
    ),
]
TokenOpt = Annotated[
    str | None,
    typer.Option("--token", envvar="FIREGRID_ADMIN_TOKEN", help="Bearer token", show_default=False),
]


class RefusedError(Exception):
    """The gateway said no, or could not be reached; the message says what to do."""


def default_api() -> str:
    host = os.environ.get("FIREGRID_API_HOST") or "127.0.0.1"
    if host in ("0.0.0.0", "::"):  # the gateway listens everywhere; talk to it locally
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{os.environ.get('FIREGRID_API_PORT') or 8080}"


def _client(api: str, token: str) -> httpx.Client:
    """One place builds the HTTP client, so tests can point the commands at an in-process app."""
    return httpx.Client(
        base_url=api.rstrip("/") + "/api/v1",
        headers={"Authorization": f"Bearer {token}"},
        timeout=60.0,  # a large CSV is checked row by row before one commit
    )


def _send(api: str | None, token: str | None, method: str, path: str, **kw: Any) -> Any:
    api = api or default_api()
    if not token:
        raise RefusedError("no token: pass --token or set FIREGRID_ADMIN_TOKEN")
    try:
        with _client(api, token) as client:
            response = client.request(method, path, **kw)
    except httpx.TransportError as exc:
        raise RefusedError(
            f"cannot reach the gateway at {api} ({exc}); is `firegrid run` running? "
            "(--api, or FIREGRID_API_HOST / FIREGRID_API_PORT)"
        ) from exc
    if response.is_success:
        return response.json()
    raise RefusedError(_explain(response))


def _explain(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = None
    if response.status_code == 401:
        return f"the gateway refused the token ({detail}); check --token / FIREGRID_ADMIN_TOKEN"
    if isinstance(detail, list):
        return "\n".join(_problem(item) for item in detail)
    if isinstance(detail, str):
        return detail
    return f"HTTP {response.status_code}: {response.text[:500]}"


def _problem(item: dict[str, Any]) -> str:
    """One 422 item: ``line 4: lat: ...`` for a CSV, ``location.lat: ...`` for a device."""
    if "line" in item:
        return f"line {item['line']}: {item['loc'][-1]}: {item['msg']}"
    where = ".".join(str(part) for part in item.get("loc", [])[1:])  # [0] is always "body"
    return f"{where}: {item['msg']}" if where else str(item["msg"])


def _fail(exc: RefusedError) -> typer.Exit:
    typer.echo(f"refused:\n{exc}" if "\n" in str(exc) else f"refused: {exc}", err=True)
    return typer.Exit(1)


def _thresholds(pairs: list[str]) -> dict[str, str]:
    thresholds = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name or not value:
            raise typer.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--threshold")
        thresholds[name.strip()] = value.strip()
    return thresholds


def _read_csv(path: Path) -> bytes:
    """UTF-8 as is; otherwise GB18030, what Excel on a Chinese Windows saves as "CSV"."""
    data = path.read_bytes()
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError:
        typer.echo(f"{path} is not UTF-8; reading it as GB18030", err=True)
        return data.decode("gb18030").encode("utf-8")
    return data


@devices_app.command()
def add(
    device_id: Annotated[str, typer.Option("--id", help="Device id, as in devices/{id}/up")],
    profile: Annotated[str, typer.Option(help="Device profile, e.g. smoke-detector")],
    name: Annotated[str, typer.Option(help="What people call it, e.g. '3F kitchen'")],
    external_id: Annotated[
        str | None, typer.Option(help="Vendor / Zigbee2MQTT friendly name")
    ] = None,
    address: Annotated[str, typer.Option(help="Street address")] = "",
    building: Annotated[str, typer.Option(help="Building")] = "",
    floor: Annotated[str, typer.Option(help="Floor, e.g. 3 or B1")] = "",
    lat: Annotated[float | None, typer.Option(help="WGS 84 latitude")] = None,
    lon: Annotated[float | None, typer.Option(help="WGS 84 longitude")] = None,
    grid: Annotated[
        str | None, typer.Option(help="Grid code; found from --lat/--lon when omitted")
    ] = None,
    threshold: Annotated[
        list[str] | None,
        typer.Option(help="Threshold override NAME=VALUE (repeatable)", show_default=False),
    ] = None,
    api: ApiOpt = None,
    token: TokenOpt = None,
) -> None:
    """Register one device."""
    location: dict[str, object] = {"address": address, "building": building, "floor": floor}
    if lat is not None or lon is not None:
        location |= {"lat": lat, "lon": lon}
    body = {
        "id": device_id,
        "profile": profile,
        "name": name,
        "external_id": external_id,
        "location": location,
        "grid": grid,
        "thresholds": _thresholds(threshold or []),
    }
    try:
        device = _send(api, token, "POST", "/devices", json=body)
    except RefusedError as exc:
        raise _fail(exc) from None
    where = ", ".join(p for p in (device["community"], device["street"]) if p)
    typer.echo(
        f"registered {device['id']} ({device['profile']}) in grid {device['grid']}"
        + (f" ({where})" if where else "")
    )


@devices_app.command("import")
def import_csv(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            readable=True,
            help="CSV with columns id,profile,name,external_id,address,building,floor,lat,"
            "lon,grid,thresholds (id, profile, name required; thresholds as name=value;...)",
        ),
    ],
    api: ApiOpt = None,
    token: TokenOpt = None,
) -> None:
    """Register every device in a CSV file — or none, listing every bad line."""
    headers = {"Content-Type": "text/csv; charset=utf-8"}
    try:
        result = _send(
            api, token, "POST", "/devices/import", content=_read_csv(file), headers=headers
        )
    except RefusedError as exc:
        raise _fail(exc) from None
    typer.echo(f"imported {result['imported']} devices from {file}")
