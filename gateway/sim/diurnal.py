"""Diurnal load: a residential building's electrical load over the day, on simulated time.

Simulated time runs ``speed`` times faster than the wall clock from the start of a run, so at
``--speed 60`` a day passes in 24 minutes and the electrical-fire dashboards show the evening
peak and the small hours. Timestamps on the wire stay real: only the load follows the
simulated hour.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from gateway.sim.behaviour import BEIJING, ElectricalFireMonitor, Reporter

# Share of peak load by hour of day (Beijing time): low at night, a morning bump, the evening peak.
HOURLY = (
    0.35, 0.3, 0.28, 0.27, 0.27, 0.3, 0.42, 0.6, 0.62, 0.55, 0.52, 0.58,
    0.62, 0.55, 0.52, 0.53, 0.58, 0.72, 0.9, 1.0, 0.96, 0.82, 0.62, 0.45,
)  # fmt: skip


def load_at(hour: float) -> float:
    """The share of peak load at ``hour`` (0-24, fractional), interpolated between hours."""
    low = int(hour) % 24
    frac = hour - int(hour)
    return HOURLY[low] + (HOURLY[(low + 1) % 24] - HOURLY[low]) * frac


def sim_hour(start: float, speed: float) -> Callable[[float], float]:
    """The simulated hour of day at a wall-clock time, the run starting at ``start``."""

    def hour(now: float) -> float:
        at = datetime.fromtimestamp(start + (now - start) * speed, BEIJING)
        return at.hour + at.minute / 60 + at.second / 3600

    return hour


def apply_diurnal(found: Iterable[Reporter], start: float, speed: float) -> int:
    """Give every electrical-fire monitor the day's load curve; how many got it."""
    hour = sim_hour(start, speed)

    def load(now: float) -> float:
        return load_at(hour(now))

    monitors = [r for r in found if isinstance(r, ElectricalFireMonitor)]
    for monitor in monitors:
        monitor.load = load
    return len(monitors)
