"""``firegrid dashboards``: regenerate the Grafana JSON, or push it to an existing Grafana.

``push`` builds the dashboards from code — the same bytes as the committed ``dashboards/*.json``
(a test holds them equal) — so it works from an installed package without the repository, and
uploads them with grafana-client into one folder, overwriting earlier versions by uid.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from gateway.config import load_settings
from gateway.dashboards.influxql import DATASOURCE_UID
from gateway.dashboards.render import DASHBOARDS_DIR, render, write
from gateway.profiles import DeviceProfile, load_profiles
from gateway.yamlfile import ConfigFileError

dashboards_app = typer.Typer(help="Grafana dashboards: regenerate the JSON, push to a Grafana.")

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML file with the same keys as FIREGRID_*")
]


def _profiles(config: Path | None) -> dict[str, DeviceProfile]:
    """The configured device profiles: the dashboards draw their thresholds."""
    try:
        return load_profiles(load_settings(config).profiles_dir)
    except ConfigFileError as exc:
        typer.echo(f"configuration error:\n{exc}", err=True)
        raise typer.Exit(2) from None


@dashboards_app.command("build")
def build(
    out: Annotated[Path, typer.Option(help="folder to write the JSON into")] = DASHBOARDS_DIR,
    config: ConfigOpt = None,
) -> None:
    """Regenerate dashboards/*.json from the code (run after changing a dashboard or a profile
    threshold, and commit the result)."""
    for path in write(_profiles(config), out):
        typer.echo(str(path))


@dashboards_app.command("push")
def push(
    url: Annotated[str, typer.Option(envvar="GRAFANA_URL", help="e.g. http://grafana:3000")],
    token: Annotated[
        str | None, typer.Option(envvar="GRAFANA_TOKEN", help="service-account token")
    ] = None,
    user: Annotated[str | None, typer.Option(envvar="GRAFANA_USER")] = None,
    password: Annotated[str | None, typer.Option(envvar="GRAFANA_PASSWORD")] = None,
    folder: Annotated[str, typer.Option(help="uid (and title) of the folder")] = "firegrid",
    datasource_uid: Annotated[
        str, typer.Option(help="uid of that Grafana's InfluxDB (InfluxQL) datasource")
    ] = DATASOURCE_UID,
    config: ConfigOpt = None,
) -> None:
    """Upload every dashboard to an existing Grafana (overwrites the same uids)."""
    if token and (user or password):
        typer.echo("give --token or --user/--password, not both", err=True)
        raise typer.Exit(2)
    if not token and not (user and password):
        typer.echo("--token (GRAFANA_TOKEN) or --user and --password are required", err=True)
        raise typer.Exit(2)
    # Imported here: grafana-client (and requests) cost every other command ~150 ms of start-up.
    from grafana_client import GrafanaApi  # type: ignore[import-untyped]
    from grafana_client.client import GrafanaException  # type: ignore[import-untyped]

    credential: str | tuple[str, str] = token if token else (user or "", password or "")
    api = GrafanaApi.from_url(url, credential=credential)
    try:
        urls = push_dashboards(api, render(_profiles(config)), folder, datasource_uid)
    except (GrafanaException, OSError) as exc:
        typer.echo(f"push to {url} failed: {exc}", err=True)
        raise typer.Exit(1) from None
    for name, where in urls.items():
        typer.echo(f"{name}: {url.rstrip('/')}{where}")


def push_dashboards(
    api: Any, boards: dict[str, str], folder: str, datasource_uid: str = DATASOURCE_UID
) -> dict[str, str]:
    """Ensure the folder, upload each dashboard into it; file name → the dashboard's path."""
    _ensure_folder(api, folder)
    urls = {}
    for name, text in boards.items():
        dashboard = retarget(json.loads(text), datasource_uid)
        answer = api.dashboard.update_dashboard(
            {
                "dashboard": dashboard,
                "folderUid": folder,
                "overwrite": True,
                "message": "firegrid dashboards push",
            }
        )
        urls[name] = str(answer.get("url", ""))
    return urls


def _ensure_folder(api: Any, uid: str) -> None:
    from grafana_client.client import GrafanaClientError

    try:
        api.folder.get_folder(uid)
    except GrafanaClientError as exc:
        if exc.status_code != 404:
            raise
        api.folder.create_folder(uid, uid=uid)


def retarget(node: Any, uid: str) -> Any:
    """Point every InfluxDB datasource reference at ``uid`` (in place; returns ``node``)."""
    if isinstance(node, dict):
        if node.get("type") == "influxdb" and "uid" in node:
            node["uid"] = uid
        for value in node.values():
            retarget(value, uid)
    elif isinstance(node, list):
        for value in node:
            retarget(value, uid)
    return node
