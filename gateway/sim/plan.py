"""What the simulated fleet does, as data: how often each kind reports and how often what happens.

The demo runs on fast time — seconds where real devices take minutes or hours — so readings
move while you watch. A district-scale run can pass its own plan (real heartbeats from the
profiles, or a speed-up factor) without touching the device models.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

PATROL = "patrol"  # the key of a grid worker's scan interval in ``period_s``


@dataclass(frozen=True, slots=True)
class Message:
    """One MQTT publish: what a device (or a worker's phone) sends."""

    topic: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class TrafficPlan:
    """Report intervals and event chances. Chances are per report of the device concerned."""

    period_s: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType(
            {
                "smoke-detector": 4.0,
                "smoke-detector-z2m": 5.0,
                "smoke-detector-nb": 6.0,
                "electrical-fire-monitor": 2.0,
                "water-pressure-sensor": 3.0,
                "water-level-sensor": 4.0,
                # Scans are judged at real speed (impossible travel: over 60 km/h between two
                # tags): a hop across a ~330 m grid takes a worker this long, not seconds.
                PATROL: 40.0,
            }
        )
    )
    # Every device reports once within this many seconds of the start, so a short run (and
    # the integration test) sees every kind without waiting a whole interval.
    first_within_s: float = 1.5
    jitter: float = 0.2  # each interval varies by ± this share, as real clocks drift
    # Background chances are low: every alarm is now an incident the simulated responders walk
    # through, and the scripted episodes (gateway.sim.scenario) already show each kind early.
    smoke_alarm_chance: float = 0.005  # starts a 2-4 report alarm (火警)
    test_button_chance: float = 0.003  # a resident presses the test button (自检)
    arc_fault_chance: float = 0.003
    hot_cable_every: int = 4  # one electrical-fire monitor in this many has a heating cable
    cable_rise_c: float = 0.6  # °C per report while heating; PVC insulation limit is 70 °C
    pressure_dip_chance: float = 0.01  # a hydrant opened or a pipe leaking (压力骤降)
    hazard_chance: float = 0.08  # a patrol scan finds a hazard (隐患)
    # One deliberately bad message this often (malformed JSON, out-of-range value, unknown
    # device, bad CRC), so the rejection counters move; 0 turns them off.
    bad_message_every_s: float = 5.0


DEMO_PLAN = TrafficPlan()
