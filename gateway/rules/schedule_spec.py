"""Patrol schedules as written in a ``patrol:`` rule (巡查计划): opening hours, intervals, windows.

Two kinds of requirement, combinable in one schedule:

- ``every_min`` while open (``hours``): never longer than this without a scan while the place
  is open (人员密集场所: every 2 h during opening hours);
- ``windows``: fixed daily check windows, each of which must contain a scan (a closing check
  in the last half hour; ``"00:00-24:00"`` is "once a day", the key-unit 重点单位 round).

``days`` limits both to the named weekdays (the day a period starts on). A range that ends at
or before its start runs past midnight (a KTV open ``"18:00-02:00"``). Times are local to
``timezone`` (default Asia/Shanghai).
"""

from __future__ import annotations

import zoneinfo
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TimeRange = Annotated[
    str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d-(([01]\d|2[0-3]):[0-5]\d|24:00)$")
]
ScheduleName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScheduleSpec(_Strict):
    description: str = ""
    days: Annotated[tuple[Day, ...], Field(min_length=1)] = DAYS
    hours: TimeRange = "00:00-24:00"
    every_min: Annotated[float, Field(gt=0)] | None = None
    windows: tuple[TimeRange, ...] = ()
    grace_min: Annotated[float, Field(ge=0)] = 0.0

    @model_validator(mode="after")
    def _requires_something(self) -> ScheduleSpec:
        if self.every_min is None and not self.windows:
            raise ValueError("give 'every_min' (with 'hours') and/or 'windows'")
        return self


class PatrolSpec(_Strict):
    """Which schedule each tag follows: ``tags`` (by id or external id) > ``grids`` > ``default``.

    A tag with no schedule is not checked for overdue patrols (its scans are still judged).
    """

    timezone: str = "Asia/Shanghai"
    schedules: Annotated[dict[ScheduleName, ScheduleSpec], Field(min_length=1)]
    default: str | None = None
    grids: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _names_exist(self) -> PatrolSpec:
        named = [("default", self.default)] if self.default is not None else []
        named += [(f"grids.{g}", s) for g, s in self.grids.items()]
        named += [(f"tags.{t}", s) for t, s in self.tags.items()]
        for where, name in named:
            if name not in self.schedules:
                known = ", ".join(sorted(self.schedules))
                raise ValueError(f"{where}: no schedule {name!r} (schedules: {known})")
        return self
