"""``firegrid demo``: the command-line face of :mod:`gateway.demo.runner`.

:func:`demo` is a plain typer command function, mounted by the CLI (``app.command()(demo)``)
and runnable on its own as ``python -m gateway.demo``. Settings come from the environment
(and ``--config``) like every command; the flags override them, and the demo's own defaults
fill only what neither sets: a separate data dir, so a demo never writes into a real gateway's
registry, and port 8080 for the REST API unless it is taken.
"""

from __future__ import annotations

import asyncio
import logging
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler

from gateway.config import load_settings
from gateway.demo.broker import BrokerError, BrokerKind, pick_port
from gateway.demo.runner import DemoOptions, DemoResult, run_demo
from gateway.demo.snapshot import summary_lines
from gateway.sim.fleet import REFERENCE_FLEET
from gateway.sim.installer import RegistrationError
from gateway.yamlfile import ConfigFileError

DEMO_DATA_DIR = Path("firegrid-demo")
DEFAULT_API_PORT = 8080


class InfluxApi(StrEnum):
    v1 = "v1"
    v2 = "v2"


def _overrides(config: Path | None, flags: dict[str, object]) -> dict[str, object]:
    """The flags given, plus the demo's defaults for what no flag, variable or file sets."""
    given = {k: v for k, v in flags.items() if v is not None}
    configured = load_settings(config, **given)
    if "data_dir" not in configured.model_fields_set:
        given["data_dir"] = DEMO_DATA_DIR
    if "api_port" not in configured.model_fields_set:
        given["api_port"] = pick_port(DEFAULT_API_PORT, configured.api_host)
    return given


def _setup_logging(live: bool, verbose: bool, console: Console) -> None:
    handler: logging.Handler = (
        RichHandler(console=console, show_path=False) if live else logging.StreamHandler()
    )
    # Rich prints time and level itself; basicConfig would otherwise add its own prefix.
    fmt = "%(name)s: %(message)s" if live else "%(asctime)s %(levelname)s %(name)s: %(message)s"
    handler.setFormatter(logging.Formatter(fmt))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])
    # amqtt logs every connection at INFO, and gmqtt warns each time it falls back from
    # MQTT 5 to 3.1.1 against amqtt, which the demo expects.
    for noisy in ("amqtt", "transitions", "gmqtt"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def _print_summary(result: DemoResult, seconds: float) -> None:
    print(f"firegrid demo stopped after {seconds:.0f} s", flush=True)
    for line in summary_lines(result.final, result.published):
        print(f"  {line}", flush=True)


def demo(
    duration: Annotated[
        float,
        typer.Option(min=0, help="Seconds to run, then stop with a summary; 0: until Ctrl-C."),
    ] = 0.0,
    devices: Annotated[
        int,
        typer.Option(
            min=len(REFERENCE_FLEET),
            help="Fleet size, split like the reference district, one of each profile at least.",
        ),
    ] = 24,
    broker: Annotated[
        BrokerKind,
        typer.Option(help="Embedded broker when no --mqtt-url: Mosquitto when installed (auto)."),
    ] = BrokerKind.AUTO,
    mqtt_url: Annotated[
        str | None, typer.Option(help="Use this broker (mqtt://host:1883) instead of one embedded.")
    ] = None,
    influx_url: Annotated[
        str | None,
        typer.Option(help="Write readings to this InfluxDB instead of the SQLite history."),
    ] = None,
    influx_api: Annotated[
        InfluxApi | None, typer.Option(help="InfluxDB write API: v2 (token) or v1 (database).")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Registry, history, broker state "
            f"(default: FIREGRID_DATA_DIR, else ./{DEMO_DATA_DIR})."
        ),
    ] = None,
    api_port: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=65535,
            help="REST API port; 0 picks a free one "
            "(default: FIREGRID_API_PORT, else 8080 if free).",
        ),
    ] = None,
    no_live: Annotated[
        bool, typer.Option("--no-live", help="Plain summary lines instead of the live table.")
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="YAML file with the same keys as FIREGRID_*"),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run the gateway, the REST API and a simulated fleet, showing it live in the terminal.

    Simulated grid workers and a duty officer answer the incidents the fleet raises through
    the REST API (accept, arrive, handle, verify, close); with --duration 90 or more, one fire
    alarm is left unanswered long enough to escalate.

    Without a configured broker (FIREGRID_MQTT_URL / --mqtt-url) it runs Mosquitto when
    installed, else an in-process amqtt broker; without InfluxDB it keeps readings in SQLite.
    """
    console = Console()
    live = not no_live and console.is_terminal
    _setup_logging(live, verbose, console)
    flags: dict[str, object] = {
        "mqtt_url": mqtt_url,
        "influx_url": influx_url,
        "influx_api": influx_api.value if influx_api else None,
        "data_dir": data_dir,
        "api_port": api_port,
    }
    started = time.monotonic()
    try:
        opts = DemoOptions(duration, devices, broker, live, config, _overrides(config, flags))
        result = asyncio.run(run_demo(opts, console))
    except ConfigFileError as exc:
        typer.echo(f"configuration error:\n{exc}", err=True)
        raise typer.Exit(2) from None
    except (BrokerError, RegistrationError, OSError) as exc:
        typer.echo(f"firegrid demo: {exc}", err=True)
        raise typer.Exit(1) from None
    _print_summary(result, time.monotonic() - started)
