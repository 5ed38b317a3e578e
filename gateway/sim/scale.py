"""The reference district of DOMAIN.md (网格化+消防), whole or scaled by a factor.

At ``scale=1.0``: 1089 grids (9 streets × 11 communities × 11 grids), 76 micro fire stations,
2861 smoke detectors, 2113 electrical-fire monitors, 430 fire-water monitors and 4064 NFC
patrol tags. Smaller factors scale every count (at least one grid, station and device of each
profile). :func:`sim_plan` paces devices by their profiles' real heartbeats, compressed by
``speed``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType

from gateway.profiles import DeviceProfile
from gateway.sim.district import District, DistrictPlan, build_district
from gateway.sim.fleet import REFERENCE_FLEET, SimDevice, build_fleet
from gateway.sim.plan import PATROL, TrafficPlan

REFERENCE_GRIDS = 1089
REFERENCE_STATIONS = 76
GRIDS_PER_COMMUNITY = 11
COMMUNITIES_PER_STREET = 11
MIN_PERIOD_S = 1.0  # however compressed, no device reports more often than this
PATROL_PERIOD_S = 40.0  # a hop between tags of a ~330 m grid on foot (impossible-travel rule)


def district_plan(scale: float, seed: int = 2026) -> DistrictPlan:
    """The grid ladder for ``scale``: as many grids as 1089 × scale, 11 to a community."""
    if scale <= 0:
        raise ValueError("scale must be positive")
    grids = max(1, round(REFERENCE_GRIDS * scale))
    per_community = min(GRIDS_PER_COMMUNITY, grids)
    communities = math.ceil(grids / per_community)
    streets = math.ceil(communities / COMMUNITIES_PER_STREET)
    return DistrictPlan(
        streets=streets,
        communities_per_street=math.ceil(communities / streets),
        grids_per_community=per_community,
        stations=max(1, round(REFERENCE_STATIONS * scale)),
        seed=seed,
    )


def fleet_counts(scale: float) -> dict[str, int]:
    """Devices per profile: the reference split times ``scale``, at least one of each."""
    return {p: max(1, round(n * scale)) for p, n in REFERENCE_FLEET.items()}


def build_world(
    scale: float, seed: int = 2026, silent_share: float = 0.05
) -> tuple[District, list[SimDevice]]:
    """The district and its fleet for ``scale``."""
    district = build_district(district_plan(scale, seed))
    mix = fleet_counts(scale)
    fleet = build_fleet(district, sum(mix.values()), seed, silent_share, mix=mix)
    return district, fleet


def sim_plan(profiles: Mapping[str, DeviceProfile], speed: float) -> TrafficPlan:
    """Each profile's heartbeat divided by ``speed`` (at least :data:`MIN_PERIOD_S`)."""
    if speed <= 0:
        raise ValueError("speed must be positive")
    periods = {
        name: max(MIN_PERIOD_S, profile.heartbeat_s / speed)
        for name, profile in profiles.items()
        if name in REFERENCE_FLEET and name != "nfc-patrol-tag"
    }
    periods[PATROL] = PATROL_PERIOD_S
    return TrafficPlan(
        period_s=MappingProxyType(periods), first_within_s=2.0, bad_message_every_s=0.0
    )
