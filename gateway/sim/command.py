"""``firegrid simulate``: the reference district (DOMAIN.md), scaled, against a running gateway.

:func:`simulate` is a plain typer command function; mount it with ``app.command()(simulate)``.
Defaults come from the environment, as docker-compose.yml's ``simulator`` service sets it:
``FIREGRID_API_URL``, ``FIREGRID_ADMIN_TOKEN``, ``FIREGRID_MQTT_URL``, ``FIREGRID_SIM_SCALE``.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated

import typer

from gateway.config import load_settings, parse_mqtt_url
from gateway.sim.installer import RegistrationError
from gateway.sim.run import SimOptions, run_simulation
from gateway.sim.scripted import SCENARIOS


def _say(line: str) -> None:
    print(f"firegrid simulate: {line}", flush=True)


def simulate(
    api: Annotated[
        str,
        typer.Option(
            envvar="FIREGRID_API_URL", help="The gateway's REST API (with or without /api/v1)."
        ),
    ] = "http://127.0.0.1:8080",
    token: Annotated[
        str, typer.Option(envvar="FIREGRID_ADMIN_TOKEN", help="An admin token of that gateway.")
    ] = "",
    mqtt_url: Annotated[
        str,
        typer.Option(
            envvar="FIREGRID_MQTT_URL", help="Broker to publish to, mqtt://user:pass@host:1883."
        ),
    ] = "mqtt://127.0.0.1:1883",
    scale: Annotated[
        float,
        typer.Option(
            envvar="FIREGRID_SIM_SCALE",
            min=0.0001,
            max=10.0,
            help="1.0: the reference district (1089 grids, ~9.5k devices); 0.01 for a laptop.",
        ),
    ] = 0.01,
    duration: Annotated[float, typer.Option(min=0, help="Seconds to run; 0: until Ctrl-C.")] = 0.0,
    speed: Annotated[
        float,
        typer.Option(
            envvar="FIREGRID_SIM_SPEED",
            min=0.001,
            help="Time compression: heartbeats every heartbeat_s / speed.",
        ),
    ] = 60.0,
    scenario: Annotated[
        list[str] | None,
        typer.Option(help=f"Repeatable: {', '.join(SCENARIOS)}."),
    ] = None,
    geojson_out: Annotated[
        Path | None, typer.Option(help="Write the generated grid map (GeoJSON) here.")
    ] = None,
    responders: Annotated[
        bool, typer.Option(help="Simulated workers and a duty officer answer incidents.")
    ] = True,
    summary_every: Annotated[
        float, typer.Option(min=0.5, help="Seconds between summaries.")
    ] = 10.0,
    connections: Annotated[int, typer.Option(min=1, max=64, help="MQTT connections.")] = 4,
    profiles_dir: Annotated[
        Path | None, typer.Option(help="Device profiles (default: FIREGRID_PROFILES_DIR).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Same seed, same district.")] = 2026,
) -> None:
    """Register a simulated district through the REST API and publish its traffic over MQTT."""
    logging.basicConfig(level=logging.WARNING)
    unknown = [s for s in scenario or () if s not in SCENARIOS]
    if unknown or not token:
        problem = f"unknown scenario {unknown[0]!r}" if unknown else "no --token"
        typer.echo(f"firegrid simulate: {problem}", err=True)
        raise typer.Exit(2)
    opts = SimOptions(
        api_url=api,
        token=token,
        mqtt=parse_mqtt_url(mqtt_url),
        profiles_dir=profiles_dir or load_settings().profiles_dir,
        scale=scale,
        duration_s=duration,
        speed=speed,
        scenarios=tuple(scenario or ()),
        geojson_out=geojson_out,
        responders=responders,
        summary_every_s=summary_every,
        connections=connections,
        seed=seed,
    )
    try:
        result = asyncio.run(run_simulation(opts, _say))
    except (RegistrationError, OSError) as exc:
        typer.echo(f"firegrid simulate: {exc}", err=True)
        raise typer.Exit(1) from None
    _say(f"stopped: {result.published} messages from {result.devices} devices")


if __name__ == "__main__":
    typer.run(simulate)
