"""The incident service's settings, validated at load: a YAML file or the defaults.

time_limits: {rules: [...], timezone: Asia/Shanghai}   # see gateway.incidents.timelimits
dispatch: {station_radius_m: 1000, station_fallback_max_m: 5000}
repeat_note_every_s: 600
test_ttl_s: 3600
calendar: {holidays: [2027-02-06..2027-02-12], workdays: [2027-02-14]}  # ahead of the package
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from gateway.incidents.dispatch import DispatchConfig
from gateway.incidents.timelimits import TimeLimits
from gateway.incidents.workdays import CalendarOverrides
from gateway.yamlfile import load_yaml_model


class IncidentConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    time_limits: TimeLimits = TimeLimits()
    dispatch: DispatchConfig = DispatchConfig()
    # A burst of repeats is one timeline line: at most one "repeat" entry per this many
    # seconds (the first repeat always gets one); ``count`` carries the exact number.
    repeat_note_every_s: float = Field(default=600, ge=0)
    # A test incident nobody closes (and no clear ends) closes itself after this long.
    test_ttl_s: float = Field(default=3600, gt=0)
    # Working days set by hand (a year the chinese-calendar package does not know yet).
    calendar: CalendarOverrides = CalendarOverrides()


def load_incident_config(path: Path) -> IncidentConfig:
    """ConfigFileError naming file, line and key when ``path`` is invalid."""
    return load_yaml_model(path, IncidentConfig)
