"""Scripted episodes: what makes the rules fire early in a run, and again every few minutes.

Random events alone leave a short run with little to show and a long one with no say in what
happens when. Each episode pushes one device model into a state a rule watches (rules/*.yaml);
most put it right again later, so a non-fire incident can also close itself on its clear rule:

- cooking fumes in a kitchen → ``smoke-fire`` (mostly a false alarm, for the responders to find);
- smoke in two flats of one block seconds apart → ``fire-confirmed-building`` (并案);
- cable 2 of a distribution board past 70 °C and held 20 s → ``cable-overheat``, repaired later;
- fire-water pressure lost below 0.10 MPa for over 60 s → ``water-pressure-dropping``, then
  ``water-pressure-low``, restored later;
- a detector's cell below 20 % → ``smoke-low-battery``, replaced later.

:class:`Script` is pure bookkeeping (steps in time order, no clock); :func:`play` paces it.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from gateway.sim.behaviour import (
    ElectricalFireMonitor,
    Reporter,
    SmokeDetector,
    WaterPressureSensor,
)
from gateway.sim.fleet import building_pairs

CYCLE_S = 150.0  # the episodes repeat, on other devices, this often
KITCHEN = "厨房"
CABLE_PEAK_C = 78.0  # past the 70 °C limit and below its 65 °C clear level only when repaired
CABLE_RISE_C = 3.0  # per report (2 s): the limit is passed about 25 s in, the hold ends 20 s later
PRESSURE_LOST_MPA = 0.06  # below the 0.10 MPa floor of class-1 public buildings and sprinklers
BATTERY_LEFT_PCT = 17.0  # below the detectors' 20 % battery_low_pct

Narrate = Callable[[str], None]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Step:
    at: float  # seconds after its cycle starts
    note: str  # what happened, for the demo's event log
    act: Callable[[], None]


@dataclass(frozen=True, slots=True)
class Cast:
    """The device models the episodes can use, from a fleet's reporters."""

    detectors: tuple[SmokeDetector, ...]  # kitchens first: that is where cooking smoke is
    pairs: tuple[tuple[SmokeDetector, SmokeDetector], ...]  # two of one building
    monitors: tuple[ElectricalFireMonitor, ...]
    pumps: tuple[WaterPressureSensor, ...]

    @classmethod
    def of(cls, reporters: Iterable[Reporter]) -> Cast:
        found = list(reporters)
        detectors = [r for r in found if isinstance(r, SmokeDetector)]
        by_id = {d.device.id: d for d in detectors}
        pairs = building_pairs([d.device for d in detectors])
        return cls(
            tuple(sorted(detectors, key=lambda d: KITCHEN not in d.device.name)),
            tuple((by_id[a.id], by_id[b.id]) for a, b in pairs),
            tuple(r for r in found if isinstance(r, ElectricalFireMonitor)),
            tuple(r for r in found if isinstance(r, WaterPressureSensor)),
        )


def _pick(items: Sequence[T], k: int) -> T | None:
    return items[k % len(items)] if items else None


def _named(model: SmokeDetector | ElectricalFireMonitor | WaterPressureSensor) -> str:
    return f"{model.device.id} ({model.device.name})"


def _smoke_note(detector: SmokeDetector) -> str:
    cause = "cooking fumes" if KITCHEN in detector.device.name else "dust or a cigarette"
    return f"smoke ({cause}): {_named(detector)}"


def _place(detector: SmokeDetector) -> tuple[str, str | None]:
    return detector.device.grid, detector.device.location.building


def _apart(
    detectors: Sequence[SmokeDetector], k: int, avoid: set[tuple[str, str | None]]
) -> SmokeDetector | None:
    """The next detector from ``k`` outside the buildings in ``avoid``: two alarms in one
    building within 2 minutes would confirm a fire the episode did not mean."""
    for i in range(len(detectors)):
        d = detectors[(k + i) % len(detectors)]
        if _place(d) not in avoid:
            return d
    return None


def episodes(cast: Cast, k: int, rng: random.Random) -> list[Step]:
    """Cycle ``k``'s steps: the same episodes as every cycle, on the next devices along."""
    steps: list[Step] = []
    pair = _pick(cast.pairs, k)
    busy = {_place(d) for d in pair or ()}
    if pair is not None:
        first, second = pair
        later = 30 + rng.uniform(10, 25)
        steps.append(Step(30, f"fire in a flat: {_named(first)}", lambda: first.smoke(3)))
        steps.append(Step(later, f"smoke next door: {_named(second)}", lambda: second.smoke(3)))
    cooking = _apart(cast.detectors, 2 * k, busy)
    if cooking is not None:
        steps.append(Step(2, _smoke_note(cooking), lambda: cooking.smoke(2)))
        # A second alarm: the one the responders may leave unanswered (escalation).
        again = _apart(cast.detectors, 2 * k + 1, busy | {_place(cooking)})
        if again is not None:
            steps.append(Step(12, _smoke_note(again), lambda: again.smoke(2)))
    flat = _pick(cast.detectors, 2 * k + 2)
    if flat is not None:
        back = 8 + rng.uniform(45, 90)
        steps.append(Step(8, f"battery low: {_named(flat)}", lambda: flat.drain(BATTERY_LEFT_PCT)))
        steps.append(Step(back, f"battery replaced: {flat.device.id}", flat.replace_battery))
    return steps + _hazards(cast, k, rng)


def _hazards(cast: Cast, k: int, rng: random.Random) -> list[Step]:
    steps: list[Step] = []
    board = _pick(cast.monitors, k)
    if board is not None:
        fixed = 5 + rng.uniform(65, 110)
        heat = Step(
            5,
            f"cable overheating: {_named(board)}",
            lambda: board.overheat(CABLE_PEAK_C, CABLE_RISE_C),
        )
        steps += [heat, Step(fixed, f"cable repaired: {board.device.id}", board.repair)]
    pump = _pick(cast.pumps, k)
    if pump is not None:
        back = 20 + rng.uniform(75, 115)
        lose = Step(
            20,
            f"fire-water pressure lost: {_named(pump)}",
            lambda: pump.lose_pressure(PRESSURE_LOST_MPA),
        )
        steps += [lose, Step(back, f"pressure restored: {pump.device.id}", pump.restore)]
    return steps


class Script:
    """Every cycle's steps in time order; cycle ``k`` starts at ``start + k * cycle_s``."""

    def __init__(
        self, cast: Cast, start: float, seed: int = 2026, cycle_s: float = CYCLE_S
    ) -> None:
        self._cast = cast
        self._cycle_s = cycle_s
        self._rng = random.Random(seed)
        self._k = 0
        self._next_cycle_at = start
        self._heap: list[tuple[float, int, Step]] = []
        self._order = itertools.count()  # ties keep the script's own order

    def next_due(self) -> float:
        return min(self._heap[0][0], self._next_cycle_at) if self._heap else self._next_cycle_at

    def take(self, now: float) -> list[Step]:
        """Run every step due by ``now``, in order, and return them."""
        while self._next_cycle_at <= now:
            for step in episodes(self._cast, self._k, self._rng):
                at = self._next_cycle_at + step.at
                heapq.heappush(self._heap, (at, next(self._order), step))
            self._k += 1
            self._next_cycle_at += self._cycle_s
        done: list[Step] = []
        while self._heap and self._heap[0][0] <= now:
            _, _, step = heapq.heappop(self._heap)
            step.act()
            done.append(step)
        return done


async def play(
    script: Script,
    stop: asyncio.Event,
    narrate: Narrate | None = None,
    clock: Callable[[], float] = time.time,
) -> None:
    """Run the script against the clock until ``stop`` is set."""
    while not stop.is_set():
        wait = script.next_due() - clock()
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
            continue
        for step in script.take(clock()):
            if narrate is not None:
                narrate(step.note)
