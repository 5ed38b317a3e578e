"""Configuration: environment first (``FIREGRID_*``), optionally a YAML file with the same keys.

The keys of the YAML file are the variable names without the prefix, in lower case
(``FIREGRID_MQTT_URL`` → ``mqtt_url``). The environment wins over the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from gateway.yamlfile import ConfigFileError, format_validation_error, load_yaml_model

ENV_PREFIX = "FIREGRID_"
_REPO_ROOT = Path(__file__).resolve().parent.parent


def _shipped_dir(name: str) -> Path:
    """The shipped ``device_profiles/`` or ``rules/``: beside the working dir or the package."""
    local = Path.cwd() / name
    return local if local.is_dir() else _REPO_ROOT / name


class MqttUrl(BaseModel):
    model_config = ConfigDict(frozen=True)
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False


class Settings(BaseModel):
    """Every setting firegrid reads. Unset InfluxDB → the embedded SQLite history store."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mqtt_url: str | None = None
    mqtt_client_id: str = "firegrid-gateway"
    mqtt_session_expiry_s: Annotated[int, Field(ge=0)] = 7 * 24 * 3600
    max_payload_bytes: Annotated[int, Field(gt=0)] = 64 * 1024

    influx_url: str | None = None
    influx_api: Literal["v1", "v2"] = "v2"
    influx_db: str = "firegrid"
    influx_rp: str | None = None
    influx_user: str | None = None
    influx_password: str | None = None
    influx_org: str = "firegrid"
    influx_bucket: str = "firegrid"
    influx_token: str | None = None
    influx_batch_size: Annotated[int, Field(gt=0)] = 5000
    influx_flush_interval_s: Annotated[float, Field(gt=0)] = 1.0
    influx_max_buffer_points: Annotated[int, Field(gt=0)] = 1_000_000
    # The disk spool (<data_dir>/spool/influx) holding batches while InfluxDB cannot take them.
    influx_spool_max_bytes: Annotated[int, Field(gt=0)] = 512 * 1024 * 1024

    # The per-device token bucket on ingest (gateway.ratelimit): sustained messages/s, and the
    # burst allowed on top (a broker's backlog replay after a gateway restart comes as one).
    device_rate_per_s: Annotated[float, Field(gt=0)] = 2.0
    device_burst: Annotated[float, Field(ge=1)] = 600.0

    # Log where the event loop was whenever it stalls longer than this (gateway.stallwatch);
    # 0: off.
    stall_log_ms: Annotated[int, Field(ge=0)] = 0

    data_dir: Path = Path("firegrid-data")
    history_retention_days: Annotated[int, Field(gt=0)] = 30

    api_host: str = "127.0.0.1"
    api_port: Annotated[int, Field(ge=0, le=65535)] = 8080
    admin_token: str | None = None

    profiles_dir: Path = Field(default_factory=lambda: _shipped_dir("device_profiles"))
    rules_dir: Path = Field(default_factory=lambda: _shipped_dir("rules"))
    # Incident time limits, dispatch radius, reminders (gateway.incidents.IncidentConfig);
    # unset: the defaults from DOMAIN.md.
    incidents_file: Path | None = None

    # The grid-governance platform (issue 4): events out, signed callbacks in.
    platform_url: str | None = None
    platform_secret: str | None = None
    platform_timeout_s: Annotated[float, Field(gt=0)] = 10.0
    # People: the routing file (who gets what on which channel) and the acknowledgement links.
    notify_file: Path | None = None
    public_url: str | None = None  # how phones reach this API; default http://api_host:api_port
    ack_secret: str | None = None  # HMAC key of the links; unset: generated once in data_dir
    ack_ttl_s: Annotated[int, Field(gt=0)] = 24 * 3600
    # Outbox delivery to the platform and the people channels (MQTT retries for ever).
    outbox_max_attempts: Annotated[int, Field(ge=1)] = 20
    outbox_backoff_s: Annotated[float, Field(gt=0)] = 1.0
    outbox_backoff_max_s: Annotated[float, Field(gt=0)] = 300.0
    # The web console (/console): a raster tile URL template for its maps
    # ("https://tiles.example/{z}/{x}/{y}.png"); unset, the maps draw the grid polygons alone.
    console_tile_url: str | None = None
    # Photo evidence uploaded by workers (<data_dir>/evidence/<incident>/): the largest accepted.
    evidence_max_bytes: Annotated[int, Field(gt=0)] = 8 * 1024 * 1024

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_url_parses(cls, value: str | None) -> str | None:
        if value is not None:
            parse_mqtt_url(value)
        return value

    @model_validator(mode="after")
    def _platform_signs(self) -> Settings:
        if self.platform_url and not self.platform_secret:
            raise ValueError("platform_url needs platform_secret: every event is signed")
        return self

    @property
    def mqtt(self) -> MqttUrl | None:
        return parse_mqtt_url(self.mqtt_url) if self.mqtt_url else None


def parse_mqtt_url(url: str) -> MqttUrl:
    """``mqtt://[user:pass@]host:port`` (``mqtts://`` for TLS)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ValueError(f"MQTT URL {url!r}: scheme must be mqtt:// or mqtts://")
    if not parts.hostname:
        raise ValueError(f"MQTT URL {url!r}: no host")
    tls = parts.scheme in ("mqtts", "ssl")
    return MqttUrl(
        host=parts.hostname,
        port=parts.port or (8883 if tls else 1883),
        username=parts.username,
        password=parts.password,
        tls=tls,
    )


def load_settings(config_file: Path | None = None, **overrides: object) -> Settings:
    """File, then environment, then explicit overrides (CLI flags) — later wins."""
    values: dict[str, object] = {}
    if config_file is not None:
        values.update(load_yaml_model(config_file, _FileSettings).model_dump(exclude_unset=True))
    for name in Settings.model_fields:
        env = os.environ.get(ENV_PREFIX + name.upper())
        if env is not None and env != "":
            values[name] = env
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        raise ConfigFileError(
            format_validation_error(Path(str(config_file or "environment")), exc, None)
        ) from exc


class _FileSettings(Settings):
    """Same keys as Settings; validated on its own so errors point into the YAML file."""

    @model_validator(mode="after")
    def _platform_signs(self) -> _FileSettings:
        return self  # the secret may come from the environment: checked on the merged values
