"""The condition part of a rule, as an officer writes it in ``rules/*.yaml`` (validated on load).

A value that is a threshold is a :data:`Param`: a literal number, or the name of a parameter
resolved per device as *device override > grid override > profile threshold > rule-set default*
(see :mod:`gateway.rules.params`). Names of other rules (``correlate.rule``, ``storm.rule``) are
checked against every loaded file through the validation context (see ``ruleset.py``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

ParamName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
Param = float | ParamName
FieldName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*(_\*)?$")]
PositiveSeconds = Annotated[float, Field(gt=0)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ThresholdSpec(Strict):
    """A numeric field (or any channel of ``cable_temp_c_*``) beyond a level, with hysteresis.

    Trips when the value is strictly ``above``/``below`` the level; once tripped it holds until
    the value is past the clear level: ``clear_below``/``clear_above`` (absolute) or the level
    minus/plus ``hysteresis`` (relative: stays sensible when a device overrides the level).
    Without either the clear level is the level itself.
    """

    field: FieldName
    above: Param | None = None
    below: Param | None = None
    clear_below: Param | None = None
    clear_above: Param | None = None
    hysteresis: Param | None = None

    @model_validator(mode="after")
    def _one_direction(self) -> ThresholdSpec:
        if (self.above is None) == (self.below is None):
            raise ValueError("give exactly one of 'above' or 'below'")
        if self.above is not None and self.clear_above is not None:
            raise ValueError("'clear_above' goes with 'below'; with 'above' use 'clear_below'")
        if self.below is not None and self.clear_below is not None:
            raise ValueError("'clear_below' goes with 'above'; with 'below' use 'clear_above'")
        clear = self.clear_below if self.clear_below is not None else self.clear_above
        if clear is not None and self.hysteresis is not None:
            raise ValueError("give either an absolute clear level or 'hysteresis', not both")
        level = self.above if self.above is not None else self.below
        if isinstance(level, float) and isinstance(clear, float):
            if self.above is not None and clear > level:
                raise ValueError(f"clear_below {clear} is above the alarm level {level}")
            if self.below is not None and clear < level:
                raise ValueError(f"clear_above {clear} is below the alarm level {level}")
        if isinstance(self.hysteresis, float) and self.hysteresis < 0:
            raise ValueError("hysteresis must not be negative")
        return self


class EventSpec(Strict):
    """A boolean flag (or a string field equal to a value) reported by the device.

    ``event: smoke`` and ``event: [smoke, test]`` (any of them) are shorthands for ``fields``.
    """

    fields: Annotated[tuple[FieldName, ...], Field(min_length=1)]
    equals: bool | str = True

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"fields": [data]}
        if isinstance(data, list):
            return {"fields": data}
        if isinstance(data, dict) and "field" in data:
            rest = {k: v for k, v in data.items() if k != "field"}
            return {"fields": [data["field"]], **rest}
        return data


class RateSpec(Strict):
    """A field changing faster than a limit, from successive readings and their timestamps.

    The rate is per ``per_s`` seconds (default: per minute). Readings closer together than
    ``min_interval_s`` are not judged (the earlier reference stays) so jitter on a fast-reporting
    sensor does not read as a steep slope. Over a channel pattern the hottest (``rising``) or
    lowest (``falling``) channel is followed.
    """

    field: FieldName
    falling_faster_than: Param | None = None
    rising_faster_than: Param | None = None
    per_s: PositiveSeconds = 60.0
    min_interval_s: Annotated[float, Field(ge=0)] = 0.0
    hysteresis: Param | None = None

    @model_validator(mode="after")
    def _one_direction(self) -> RateSpec:
        if (self.falling_faster_than is None) == (self.rising_faster_than is None):
            raise ValueError("give exactly one of 'falling_faster_than' or 'rising_faster_than'")
        return self


class PredicateSpec(Strict):
    """One term of ``any_of`` or the ``of`` of ``repeat``: exactly one of threshold / event."""

    threshold: ThresholdSpec | None = None
    event: EventSpec | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> PredicateSpec:
        if (self.threshold is None) == (self.event is None):
            raise ValueError("give exactly one of 'threshold' or 'event'")
        return self


class RepeatSpec(Strict):
    """The inner condition started ``times`` times within ``within_s`` (e.g. fault 3× in 10 min).

    An occurrence is a start (false → true) of the inner condition. The alarm clears once fewer
    than ``times`` starts remain in the window and the inner condition is false.
    """

    times: Annotated[int, Field(ge=2)]
    within_s: PositiveSeconds
    of: PredicateSpec


class InactivitySpec(Strict):
    """No message for ``missed_heartbeats`` × the profile's ``heartbeat_s`` → offline.

    Without ``missed_heartbeats`` the profile's own ``offline_after_missed`` applies.
    """

    missed_heartbeats: Annotated[int, Field(ge=1)] | None = None


class ScanDistanceSpec(Strict):
    """A patrol scan reported farther than ``max_m`` from the tag's registered position."""

    max_m: Param = "max_scan_distance_m"


class TravelSpec(Strict):
    """Impossible travel between one worker's consecutive scans (haversine distance / time).

    Hops shorter than ``min_distance_m`` are ignored: phone GPS jitter over a few seconds
    otherwise reads as a sprint.
    """

    max_speed_kmh: Param
    min_distance_m: Annotated[float, Field(ge=0)] = 200.0


def _rule_known(value: str, info: ValidationInfo, wanted: tuple[str, ...] | None) -> str:
    """Check a referenced rule id against every loaded file (context from the loader)."""
    known: dict[str, str] | None = (info.context or {}).get("rules")
    if known is None:
        return value
    if value not in known:
        raise ValueError(f"no rule with id {value!r} in the rule sets")
    if wanted is not None and known[value] not in wanted:
        raise ValueError(
            f"rule {value!r} is a {known[value]!r} rule; expected one of {', '.join(wanted)}"
        )
    return value


DEVICE_LEVEL_CONDITIONS = ("threshold", "event", "any_of", "rate", "repeat")


class BoostSpec(Strict):
    """A second signal in the same building that raises confidence (e.g. cable temp rising)."""

    rule: str
    within_s: PositiveSeconds = 600.0

    @field_validator("rule")
    @classmethod
    def _known(cls, value: str, info: ValidationInfo) -> str:
        return _rule_known(value, info, DEVICE_LEVEL_CONDITIONS)


class CorrelateSpec(Strict):
    """``min_devices`` devices of one building raising ``rule`` within ``within_s`` → one alarm.

    The building alarm is held (not re-raised for the same devices) until ``hold_s`` passes
    without a new device joining; a new device joining while held re-raises it with the
    longer list (the incident counts a repeat).
    """

    rule: str
    by: Literal["building"] = "building"
    min_devices: Annotated[int, Field(ge=2)] = 2
    within_s: PositiveSeconds = 120.0
    hold_s: PositiveSeconds = 3600.0
    boost: BoostSpec | None = None

    @field_validator("rule")
    @classmethod
    def _known(cls, value: str, info: ValidationInfo) -> str:
        return _rule_known(value, info, DEVICE_LEVEL_CONDITIONS)


class StormSpec(Strict):
    """Grid storm control over an ``inactivity`` rule (see ``conditions/storm.py``).

    More than ``share`` of a grid's reporting devices (and at least ``min_devices``) silent
    together for over ``late_heartbeats`` × their heartbeat → one ``grid:<code>`` alarm, and
    the per-device offline alarms of that grid are suppressed while it holds. It clears when at
    most ``clear_share`` (default: half of ``share``) are still silent.
    """

    rule: str
    share: Annotated[float, Field(gt=0, le=1)]
    min_devices: Annotated[int, Field(ge=1)] = 5
    late_heartbeats: Annotated[float, Field(gt=1)] = 1.5
    clear_share: Annotated[float, Field(ge=0, lt=1)] | None = None

    @field_validator("rule")
    @classmethod
    def _known(cls, value: str, info: ValidationInfo) -> str:
        return _rule_known(value, info, ("inactivity",))

    @model_validator(mode="after")
    def _clear_below_share(self) -> StormSpec:
        if self.clear_share is not None and self.clear_share >= self.share:
            raise ValueError(f"clear_share {self.clear_share} must be below share {self.share}")
        return self

    @property
    def clear_at(self) -> float:
        return self.share / 2 if self.clear_share is None else self.clear_share


CONDITION_KEYS = (
    "threshold",
    "event",
    "any_of",
    "rate",
    "repeat",
    "inactivity",
    "patrol",
    "scan_distance",
    "travel",
    "correlate",
    "storm",
)
GROUP_CONDITIONS = ("correlate", "storm")
