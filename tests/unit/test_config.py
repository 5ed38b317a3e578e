"""Environment first, then an optional YAML file; bad values name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load_settings, parse_mqtt_url
from gateway.yamlfile import ConfigFileError


def test_mqtt_url_with_credentials_and_tls() -> None:
    url = parse_mqtt_url("mqtts://gw:s3cret@broker.local")
    assert (url.host, url.port, url.username, url.password, url.tls) == (
        "broker.local",
        8883,
        "gw",
        "s3cret",
        True,
    )
    assert parse_mqtt_url("mqtt://127.0.0.1:1884").port == 1884
    with pytest.raises(ValueError, match="scheme"):
        parse_mqtt_url("http://x")


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "firegrid.yaml"
    config.write_text("influx_url: http://file:8086\ninflux_api: v1\napi_port: 9000\n")
    monkeypatch.setenv("FIREGRID_INFLUX_URL", "http://env:8086")
    settings = load_settings(config)
    assert settings.influx_url == "http://env:8086"
    assert settings.influx_api == "v1" and settings.api_port == 9000


def test_bad_values_name_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "firegrid.yaml"
    config.write_text("influx_api: v3\n")
    with pytest.raises(ConfigFileError, match=rf"{config}:1: influx_api:"):
        load_settings(config)
    monkeypatch.setenv("FIREGRID_MQTT_URL", "ftp://nope")
    with pytest.raises(ConfigFileError, match="mqtt_url"):
        load_settings(None)
