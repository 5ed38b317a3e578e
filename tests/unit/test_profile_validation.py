"""An invalid profile fails on load with file, line, key and reason — never a stack trace."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.profiles import load_profiles
from gateway.yamlfile import ConfigFileError

SHIPPED = Path(__file__).resolve().parents[2] / "device_profiles"


def _copy_with(tmp_path: Path, name: str, old: str, new: str) -> Path:
    for path in SHIPPED.glob("*.yaml"):
        shutil.copy(path, tmp_path)
    target = tmp_path / f"{name}.yaml"
    text = target.read_text()
    assert old in text
    target.write_text(text.replace(old, new, 1))
    return target


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_a_bad_range_names_file_line_and_key(tmp_path: Path) -> None:
    path = _copy_with(tmp_path, "water-pressure-sensor", "max: 4.0", "max: lots")
    with pytest.raises(ConfigFileError) as err:
        load_profiles(tmp_path)
    message = str(err.value)
    assert f"{path}:{_line_of(path, 'max: lots')}: fields.pressure_mpa.max:" in message
    assert "valid number" in message


def test_an_unknown_key_is_refused(tmp_path: Path) -> None:
    path = _copy_with(tmp_path, "smoke-detector", "heartbeat_s: 14400", "heartbeat_secs: 14400")
    with pytest.raises(ConfigFileError, match=r"heartbeat_secs: Extra inputs are not permitted"):
        load_profiles(tmp_path)
    with pytest.raises(ConfigFileError, match=rf"{path}:\d+: heartbeat_s: Field required"):
        load_profiles(tmp_path)


def test_a_codec_naming_an_undeclared_field_is_refused(tmp_path: Path) -> None:
    _copy_with(tmp_path, "smoke-detector-nb", "field: battery_pct}", "field: batt_pct}")
    with pytest.raises(ConfigFileError, match=r"codec names fields not declared.*batt_pct"):
        load_profiles(tmp_path)


def test_broken_yaml_syntax_names_the_line(tmp_path: Path) -> None:
    path = _copy_with(tmp_path, "water-level-sensor", "level: level_m", "level: [level_m")
    with pytest.raises(ConfigFileError, match=rf"{path}:\d+: invalid YAML"):
        load_profiles(tmp_path)


def test_file_name_must_match_profile_name(tmp_path: Path) -> None:
    shutil.copy(SHIPPED / "smoke-detector.yaml", tmp_path / "smoke.yaml")
    with pytest.raises(ConfigFileError, match="must match the file name"):
        load_profiles(tmp_path)


def test_every_error_is_reported_together(tmp_path: Path) -> None:
    _copy_with(tmp_path, "smoke-detector", "heartbeat_s: 14400", "heartbeat_s: -1")
    other = tmp_path / "water-level-sensor.yaml"
    other.write_text(other.read_text().replace("measurement: water", "measurement: fire"))
    with pytest.raises(ConfigFileError) as err:
        load_profiles(tmp_path)
    assert "smoke-detector.yaml" in str(err.value) and "water-level-sensor.yaml" in str(err.value)
