"""The ``firegrid`` command line."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated

import typer

from gateway.cli_broker import broker_config
from gateway.cli_dashboards import dashboards_app
from gateway.cli_devices import devices_app
from gateway.cli_tokens import tokens_app
from gateway.config import load_settings
from gateway.demo.command import demo
from gateway.profiles import load_profiles
from gateway.sim.command import simulate
from gateway.yamlfile import ConfigFileError

app = typer.Typer(
    help="firegrid — IoT fire-safety gateway for grid-based community governance "
    "(网格化管理 + 智慧消防). Configuration comes from FIREGRID_* environment variables "
    "or --config FILE.yaml.",
    no_args_is_help=True,
    add_completion=False,
)
profiles_app = typer.Typer(help="Inspect and check device profiles (device_profiles/*.yaml).")
app.add_typer(profiles_app, name="profiles")
app.add_typer(devices_app, name="devices")
app.add_typer(tokens_app, name="tokens")
app.add_typer(dashboards_app, name="dashboards")
app.command()(demo)
app.command()(simulate)
app.command("broker-config")(broker_config)

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML file with the same keys as FIREGRID_*")
]


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # gmqtt logs every packet at INFO; our own ingest logs connects, losses and refusals.
    logging.getLogger("gmqtt").setLevel(logging.DEBUG if verbose else logging.WARNING)


@app.command()
def run(
    config: ConfigOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run the gateway and the REST API from configuration until SIGTERM/SIGINT.

    Needs FIREGRID_MQTT_URL (the broker devices publish to). Without FIREGRID_INFLUX_URL,
    readings go to the embedded SQLite history store in FIREGRID_DATA_DIR.
    """
    from gateway.app import run_until_signalled

    _setup_logging(verbose)
    try:
        settings = load_settings(config)
    except ConfigFileError as exc:
        typer.echo(f"configuration error:\n{exc}", err=True)
        raise typer.Exit(2) from None
    if settings.mqtt is None:
        typer.echo(
            "FIREGRID_MQTT_URL is not set (e.g. mqtt://127.0.0.1:1883); "
            "`firegrid demo` runs an embedded broker instead.",
            err=True,
        )
        raise typer.Exit(2)
    asyncio.run(run_until_signalled(settings))


@profiles_app.command("list")
def profiles_list(config: ConfigOpt = None) -> None:
    """List the device profiles installers can choose from."""
    profiles = load_profiles(load_settings(config).profiles_dir)
    for profile in profiles.values():
        typer.echo(f"{profile.name:28} {profile.measurement:11} {profile.description}")


@profiles_app.command("check")
def profiles_check(
    directory: Annotated[Path, typer.Argument(help="folder of profile YAML files")],
) -> None:
    """Validate profiles and run every profile's examples; exit 1 naming each failure."""
    from gateway.profile_check import check_examples

    try:
        profiles = load_profiles(directory)
    except ConfigFileError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    failures = check_examples(profiles)
    for failure in failures:
        typer.echo(failure, err=True)
    total = sum(len(p.examples) for p in profiles.values())
    typer.echo(f"{len(profiles)} profiles, {total} examples, {len(failures)} failing")
    raise typer.Exit(1 if failures else 0)


def main() -> None:
    app()
