"""The command line: help for every command, and `profiles check` for installers and vendors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app

SHIPPED = Path(__file__).resolve().parents[2] / "device_profiles"
runner = CliRunner()


def test_help_explains_each_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("run", "devices", "profiles"):
        assert command in result.output


def test_profiles_check_passes_the_shipped_profiles() -> None:
    result = runner.invoke(app, ["profiles", "check", str(SHIPPED)])
    assert result.exit_code == 0, result.output
    assert "0 failing" in result.output


def test_profiles_check_names_a_wrong_example(tmp_path: Path) -> None:
    shutil.copy(SHIPPED / "water-level-sensor.yaml", tmp_path)
    path = tmp_path / "water-level-sensor.yaml"
    path.write_text(path.read_text().replace("fields: {level_m: 2.35,", "fields: {level_m: 2.36,"))
    result = runner.invoke(app, ["profiles", "check", str(tmp_path)])
    assert result.exit_code == 1
    assert "water-level-sensor: example 'a level report'" in result.output
    assert "1 failing" in result.output


def test_run_without_a_broker_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FIREGRID_MQTT_URL", raising=False)
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 2
    assert "FIREGRID_MQTT_URL is not set" in result.output
