"""Threshold parameters: a literal, or a name resolved per device at evaluation time.

Precedence (most specific wins): the device's own override (``Device.thresholds[name]``, set by
the installer) > the grid's override (``overrides: grids:`` in the rule files, set by the
officer for a 网格) > the profile's ``thresholds[name]`` > the rule set's ``defaults[name]``.
The last two are fixed per profile and resolved once when the rules are compiled; the first two
are two dictionary look-ups on the hot path.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.model import Device
from gateway.profiles import DeviceProfile
from gateway.yamlfile import ConfigFileError


class Param:
    """A compiled parameter for one profile: ``value(device)`` applies the precedence."""

    __slots__ = ("base", "by_grid", "name")

    def __init__(
        self, name: str | None, base: float, by_grid: Mapping[str, float] | None = None
    ) -> None:
        self.name = name
        self.base = base
        self.by_grid = by_grid or {}

    @classmethod
    def literal(cls, value: float) -> Param:
        return cls(None, value)

    def value(self, device: Device) -> float:
        name = self.name
        if name is None:
            return self.base
        own = device.thresholds.get(name)
        if own is not None:
            return own
        return self.by_grid.get(device.grid, self.base)


class ParamResolver:
    """Compiles :data:`~gateway.rules.spec.Param` values of one rule for one profile."""

    def __init__(
        self,
        profile: DeviceProfile,
        defaults: Mapping[str, float],
        by_grid: Mapping[str, Mapping[str, float]],
        where: str,
    ) -> None:
        self._profile = profile
        self._defaults = defaults
        self._by_grid = by_grid
        self._where = where

    def __call__(self, spec: float | str) -> Param:
        if not isinstance(spec, str):
            return Param.literal(float(spec))
        base = self._profile.thresholds.get(spec, self._defaults.get(spec))
        if base is None:
            offered = ", ".join(sorted(self._profile.thresholds)) or "none"
            raise ConfigFileError(
                f"{self._where}: parameter {spec!r} is not a threshold of profile "
                f"{self._profile.name} (it has: {offered}) and the rule sets give no "
                f"default for it under 'defaults:'"
            )
        return Param(spec, base, self._by_grid.get(spec))


def invert_overrides(
    grids: Mapping[str, Mapping[str, float]],
) -> dict[str, dict[str, float]]:
    """``{grid: {name: v}}`` → ``{name: {grid: v}}``: one look-up per parameter at run time."""
    by_name: dict[str, dict[str, float]] = {}
    for grid, values in grids.items():
        for name, value in values.items():
            by_name.setdefault(name, {})[grid] = value
    return by_name
