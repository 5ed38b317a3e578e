"""``firegrid broker-config``: Mosquitto's password file and ACL, from a running gateway's registry.

Like ``firegrid devices``, it reads the registry over the REST API (admin token). It writes
``passwd`` and ``acl`` into the broker's config folder, each replaced whole so Mosquitto never
reads half a file; then ``SIGHUP`` makes Mosquitto reload both. Passwords already in ``passwd``
are kept, so re-running after registering devices changes no one's password; the new accounts'
passwords go to stdout (``username,password``) — the only time they are shown — and the
summary to stderr, so ``firegrid broker-config > new-devices.csv`` keeps just the secrets.

``--simulator-url`` (development and demos) adds ``firegrid simulate``'s account, as the compose
stack's ``simulator`` service logs in; leave it out and a re-run drops that account.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from gateway.broker_config import (
    Account,
    DeviceEntry,
    RegistryView,
    gateway_account,
    parse_passwd,
    plan_accounts,
    render_acl,
    render_passwd,
    simulator_account,
    username_problem,
)
from gateway.cli_devices import ApiOpt, RefusedError, TokenOpt, _fail
from gateway.cli_tokens import _send
from gateway.config import load_settings, parse_mqtt_url
from gateway.profiles import load_profiles
from gateway.yamlfile import ConfigFileError

PAGE = 10_000  # the most GET /devices returns at once

OutOpt = Annotated[
    Path,
    typer.Option("--out", help="The broker's config folder: passwd and acl are written here"),
]
GatewayUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--gateway-url",
        envvar="FIREGRID_MQTT_URL",
        help="The gateway's MQTT URL: its user (default 'firegrid') and password get an account",
        show_default=False,
    ),
]
SimulatorUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--simulator-url",
        envvar="FIREGRID_SIMULATOR_MQTT_URL",
        help="Development and demos only: the MQTT URL `firegrid simulate` logs in with; its user "
        "(default 'simulator') and password get an account that may publish as any device and "
        "read every worker's and station's alarms. Leave it out in production",
        show_default=False,
    ),
]


def fetch_view(api: str | None, token: str | None) -> RegistryView:
    """Profiles' topics, devices (a page at a time), workers (registered or named on a grid),
    stations."""

    def get(path: str, **params: Any) -> Any:
        return _send(api, token, "GET", path, params=params)

    devices: list[dict[str, Any]] = []
    while True:
        page = get("/devices", limit=PAGE, offset=len(devices))
        devices += page
        if len(page) < PAGE:
            break
    grids = [f["properties"] for f in get("/grids")["features"]]
    named = {g[k] for g in grids for k in ("worker_id", "leader_id") if g.get(k)}
    return RegistryView(
        topics={p["name"]: p["topics"] for p in get("/profiles")},
        devices=[
            DeviceEntry(d["id"], d["profile"], d.get("external_id"), d.get("installer"))
            for d in devices
        ],
        workers={w["id"] for w in get("/workers")} | named,
        stations={s["id"] for s in get("/stations")},
    )


def gateway_only_view() -> RegistryView:
    """No registry yet (the first start): the local profiles give the gateway's topics."""
    try:
        profiles = load_profiles(load_settings().profiles_dir)
    except ConfigFileError as exc:
        raise RefusedError(str(exc)) from None
    return RegistryView(topics={name: p.topics for name, p in profiles.items()})


def _write(path: Path, text: str) -> None:
    """Replace ``path`` whole, keeping its owner and mode, as an editor does: the broker (its
    own user, e.g. after the Mosquitto image's entrypoint chowned its folder) must still read
    it after a SIGHUP. A new file is 0600: hashes are for Mosquitto alone."""
    partial = path.with_name(f".{path.name}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)
    if path.exists():
        was = path.stat()
        partial.chmod(stat.S_IMODE(was.st_mode))
        with contextlib.suppress(PermissionError):  # only root may give a file away
            os.chown(partial, was.st_uid, was.st_gid)
    partial.replace(path)


def _services(view: RegistryView, gateway_user: str, simulator_user: str | None) -> list[Account]:
    """The gateway's account, and the simulator's when asked for; refused by name if unusable."""
    problem = username_problem(gateway_user)
    if problem is not None:
        raise RefusedError(f"the gateway's account: {problem}")
    services = [gateway_account(gateway_user, view.topics)]
    if simulator_user is None:
        return services
    problem = username_problem(simulator_user)
    if problem is None and simulator_user == gateway_user:
        problem = f"user name {simulator_user} is the gateway's"
    if problem is not None:
        raise RefusedError(f"the simulator's account: {problem}")
    return [*services, simulator_account(simulator_user, view.topics)]


def write_config(
    out: Path,
    view: RegistryView,
    gateway_user: str,
    known: Mapping[str, str],
    simulator_user: str | None = None,
) -> tuple[int, dict[str, str], list[str]]:
    """Write passwd and acl; (accounts written, new secrets, who got no account and why)."""
    plan = plan_accounts(view, *_services(view, gateway_user, simulator_user))
    passwd_path = out / "passwd"
    existing = parse_passwd(passwd_path.read_text()) if passwd_path.exists() else {}
    passwd, issued = render_passwd(
        plan.accounts, existing, known, lambda: secrets.token_urlsafe(18)
    )
    out.mkdir(parents=True, exist_ok=True)
    _write(out / "acl", render_acl(plan.accounts))
    _write(passwd_path, passwd)
    return len(plan.accounts), issued, plan.skipped


def _login(url: str | None, option: str, default_user: str) -> tuple[str, dict[str, str]]:
    """The user name in an MQTT URL (or the default), and its password if the URL has one."""
    try:
        mqtt = parse_mqtt_url(url) if url else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None
    user = (mqtt and mqtt.username) or default_user
    return user, ({user: mqtt.password} if mqtt and mqtt.password else {})


def broker_config(
    out: OutOpt = Path("deploy/mosquitto"),
    gateway_url: GatewayUrlOpt = None,
    gateway_only: Annotated[
        bool,
        typer.Option(
            "--gateway-only",
            help="Only the gateway's account, from the local profiles: for the broker's first "
            "start, before the gateway (and its registry) can run",
        ),
    ] = False,
    api: ApiOpt = None,
    token: TokenOpt = None,
    simulator_url: SimulatorUrlOpt = None,
) -> None:
    """Generate Mosquitto's password file and ACL from the registry (then SIGHUP Mosquitto)."""
    user, known = _login(gateway_url, "--gateway-url", "firegrid")
    simulator, simulator_known = (
        _login(simulator_url, "--simulator-url", "simulator") if simulator_url else (None, {})
    )
    try:
        view = gateway_only_view() if gateway_only else fetch_view(api, token)
        written, issued, skipped = write_config(out, view, user, known | simulator_known, simulator)
    except RefusedError as exc:
        raise _fail(exc) from None
    for line in skipped:
        typer.echo(f"no account: {line}", err=True)
    for name, password in issued.items():
        typer.echo(f"{name},{password}")
    typer.echo(
        f"wrote {out / 'passwd'} and {out / 'acl'}: {written} accounts, {len(issued)} new "
        "(their passwords are on stdout, shown only now). Reload the broker with SIGHUP, "
        "e.g. `docker compose kill -s SIGHUP mosquitto`.",
        err=True,
    )
