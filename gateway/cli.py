"""The ``firegrid`` command line."""

from __future__ import annotations

import asyncio
import importlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperGroup

from gateway.config import load_settings
from gateway.profiles import load_profiles
from gateway.yamlfile import ConfigFileError

if TYPE_CHECKING:
    from typer._click import Command, Context  # the click that typer vendors

# The other commands, as "module:attribute" (a typer app or a command function), imported
# when that command runs or help lists it. Memory: `firegrid run` is the gateway process, and
# their imports (httpx, rich, pygments, amqtt, gmqtt, the Grafana SDK: ~10 MiB) would stay
# in it for good.
LAZY_COMMANDS = {
    "devices": "gateway.cli_devices:devices_app",
    "tokens": "gateway.cli_tokens:tokens_app",
    "dashboards": "gateway.cli_dashboards:dashboards_app",
    "demo": "gateway.demo.command:demo",
    "simulate": "gateway.sim.command:simulate",
    "broker-config": "gateway.cli_broker:broker_config",
}


class _LazyGroup(TyperGroup):
    """The root command: :data:`LAZY_COMMANDS` are built on first use."""

    def list_commands(self, ctx: Context) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in LAZY_COMMANDS if n not in self.commands)]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name in LAZY_COMMANDS:
            self._load(cmd_name)
        elif cmd_name not in self.commands:
            # Unknown: load them all, so typer's "Did you mean …?" considers every command.
            for name in LAZY_COMMANDS:
                self._load(name)
        return super().get_command(ctx, cmd_name)

    def _load(self, name: str) -> None:
        if name in self.commands:
            return
        module, attribute = LAZY_COMMANDS[name].split(":")
        target = getattr(importlib.import_module(module), attribute)
        holder = typer.Typer()  # typer builds the click command, as app.add_typer/command did
        if isinstance(target, typer.Typer):
            holder.add_typer(target, name=name)
        else:
            holder.command(name)(target)
        self.commands[name] = typer.main.get_group(holder).commands[name]


app = typer.Typer(
    cls=_LazyGroup,
    help="firegrid — IoT fire-safety gateway for grid-based community governance "
    "(网格化管理 + 智慧消防). Configuration comes from FIREGRID_* environment variables "
    "or --config FILE.yaml.",
    no_args_is_help=True,
    add_completion=False,
)
profiles_app = typer.Typer(help="Inspect and check device profiles (device_profiles/*.yaml).")
app.add_typer(profiles_app, name="profiles")

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
