"""Named scenarios for ``firegrid simulate --scenario``: each one, once, a few seconds in.

- ``kitchen-fire``: smoke in two flats of one block seconds apart (fire confirmed by two
  detectors, ``fire-confirmed-building``);
- ``cable-overheat``: cable 2 of a distribution board climbs past 70 °C and stays (until the end);
- ``pressure-loss``: a fire-water main falls below the 0.10 MPa floor and stays;
- ``missed-patrol``: one grid worker stops scanning (patrol-overdue once the window passes);
- ``power-cut``: every device of one block (a grid) goes silent (offline after its profile's
  missed heartbeats).

Silencing is a set of topics the publisher drops (:class:`Mute`); the rest drive device models
as :mod:`gateway.sim.scenario` does. Steps come out as :class:`~gateway.sim.scenario.Step`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from gateway.sim.behaviour import Reporter, SmokeDetector
from gateway.sim.patrol import PatrolWorker
from gateway.sim.plan import Message
from gateway.sim.scenario import CABLE_PEAK_C, CABLE_RISE_C, PRESSURE_LOST_MPA, Cast, Step

SCENARIOS = ("kitchen-fire", "cable-overheat", "pressure-loss", "missed-patrol", "power-cut")
Send = Callable[[Reporter], None]
START_S = 3.0  # after the first reports, so the gateway has seen every device


class Mute:
    """Topics that no longer reach the broker: a block without power, a phone left at home."""

    def __init__(self) -> None:
        self.topics: set[str] = set()

    def gate(self, publish: Callable[[Message], None]) -> Callable[[Message], None]:
        def send(message: Message) -> None:
            if message.topic not in self.topics:
                publish(message)

        return send


def _topic(reporter: Reporter) -> str:
    return str(getattr(reporter, "topic", ""))


def _grid(reporter: Reporter) -> str | None:
    device = getattr(reporter, "device", None)
    return None if device is None else str(device.grid)


def _power_cut(found: Sequence[Reporter], mute: Mute) -> list[Step]:
    grids = [g for g in (_grid(r) for r in found) if g is not None]
    if not grids:
        return []
    block = max(set(grids), key=grids.count)  # the busiest block shows most
    topics = {_topic(r) for r in found if _grid(r) == block}

    def cut() -> None:
        mute.topics |= topics

    return [Step(START_S, f"power cut: {len(topics)} devices of grid {block} offline", cut)]


def _missed_patrol(found: Sequence[Reporter], mute: Mute) -> list[Step]:
    workers = [r for r in found if isinstance(r, PatrolWorker)]
    if not workers:
        return []
    worker = workers[0]

    def stop() -> None:
        mute.topics.add(worker.topic)

    return [Step(START_S, f"patrol missed: {worker.worker_id} stops scanning", stop)]


def _alarm(detector: SmokeDetector, send: Send) -> Callable[[], None]:
    """A detector sends its alarm at once, whatever its heartbeat (and clears on the next)."""

    def act() -> None:
        detector.smoke(1)
        send(detector)

    return act


def _kitchen_fire(cast: Cast, send: Send) -> list[Step]:
    if not cast.pairs:
        return []
    first, second = cast.pairs[0]
    return [
        Step(START_S, f"fire in a flat: {first.device.id}", _alarm(first, send)),
        Step(START_S + 3, f"smoke next door: {second.device.id}", _alarm(second, send)),
    ]


def _cable(cast: Cast) -> list[Step]:
    if not cast.monitors:
        return []
    board = cast.monitors[0]
    note = f"cable overheating: {board.device.id}"
    return [Step(START_S, note, lambda: board.overheat(CABLE_PEAK_C, CABLE_RISE_C))]


def _pressure(cast: Cast) -> list[Step]:
    if not cast.pumps:
        return []
    pump = cast.pumps[0]
    note = f"fire-water pressure lost: {pump.device.id}"
    return [Step(START_S, note, lambda: pump.lose_pressure(PRESSURE_LOST_MPA))]


def scripted(names: Iterable[str], found: Sequence[Reporter], mute: Mute, send: Send) -> list[Step]:
    """The steps of the named scenarios, in time order; unknown names raise ValueError.

    ``send`` publishes a reporter's report at once (an alarm does not wait for a heartbeat).
    """
    cast = Cast.of(found)
    builders: dict[str, Callable[[], list[Step]]] = {
        "kitchen-fire": lambda: _kitchen_fire(cast, send),
        "cable-overheat": lambda: _cable(cast),
        "pressure-loss": lambda: _pressure(cast),
        "missed-patrol": lambda: _missed_patrol(found, mute),
        "power-cut": lambda: _power_cut(found, mute),
    }
    steps: list[Step] = []
    for name in names:
        if name not in builders:
            raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
        steps += builders[name]()
    return sorted(steps, key=lambda s: s.at)
