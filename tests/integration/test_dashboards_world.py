"""The simulated district the dashboard queries run against (no tests here).

Three hours of a small district ending now: street S-01 (communities C-01 with grids G-0101
and G-0102, C-02 with G-0201) and S-02 (C-03 with G-0301); in every grid two smoke detectors,
an electrical-fire monitor, a pressure and a level sensor and two NFC patrol tags. Everything
is written the way the gateway writes it, so the schema cannot drift from the queries:
readings and ``device_status`` through :class:`LineProtocol`, incidents as transitions of the
real :class:`IncidentService` turned into points by ``incident_point``, and the gateway's
own metrics by ``selfmetrics.snapshot`` from a real :class:`Metrics` registry.

G-0101 has a bit of everything: a smoke alarm that turns out false (handled in time), an
electrical hazard still open (with a repeat), an overdue patrol tag, a hazard found on
patrol, a detector gone offline and a falling pressure.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.config import Settings
from gateway.dashboards.points import incident_point, position, sink_field_roles
from gateway.incidents import Incident, IncidentService, SqliteIncidentStore, Transition
from gateway.incidents.unit import Unit
from gateway.metrics import Metrics
from gateway.model import Device, FieldValue, FireStation, Grid, GridLevel, Location, Reading
from gateway.pipeline import STATUS_MEASUREMENT
from gateway.profiles import load_profiles
from gateway.rules.outcomes import Alarm, Clear, IncidentKind, Severity
from gateway.selfmetrics import gateway_device, snapshot
from gateway.sinks.lineprotocol import LineProtocol

NOW = float(int(time.time()))
T0 = NOW - 3 * 3600
STEP_S = 600
GRIDS = {"G-0101": "C-01", "G-0102": "C-01", "G-0201": "C-02", "G-0301": "C-03"}
STREETS = {"C-01": "S-01", "C-02": "S-01", "C-03": "S-02"}
INSTANCE = "gw-test"
MEASUREMENTS = {
    "smoke-detector": "smoke",
    "electrical-fire-monitor": "electrical",
    "water-pressure-sensor": "water",
    "water-level-sensor": "water",
    "nfc-patrol-tag": "patrol",
}
Point = tuple[Reading, Device]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@dataclass
class Topology:
    """The district as dispatch reads it (``gateway.incidents.dispatch.Topology``)."""

    devices: dict[str, Device] = field(default_factory=dict)
    grids: dict[str, Grid] = field(default_factory=dict)

    def by_id(self, device_id: str) -> Device | None:
        return self.devices.get(device_id)

    def grid(self, code: str) -> Grid | None:
        return self.grids.get(code)

    def ancestors(self, code: str) -> list[Grid]:
        chain, grid = [], self.grids.get(code)
        while grid is not None:
            chain.append(grid)
            grid = self.grids.get(grid.parent) if grid.parent else None
        return chain

    def stations(self) -> list[FireStation]:
        return [FireStation("ST-01", "Micro station 01", 31.205, 121.505)]


def district() -> Topology:
    world = Topology()
    world.grids["D-01"] = Grid("D-01", "District", GridLevel.DISTRICT)
    for street in sorted(set(STREETS.values())):
        world.grids[street] = Grid(street, street, GridLevel.STREET, "D-01")
    for community, street in STREETS.items():
        world.grids[community] = Grid(community, community, GridLevel.COMMUNITY, street)
    for g, (grid, community) in enumerate(GRIDS.items()):
        number = grid[2:]
        world.grids[grid] = Grid(
            grid, grid, GridLevel.GRID, community, f"w-{number}", f"l-{number}"
        )
        for d, (kind, profile) in enumerate(
            [
                ("sd", "smoke-detector"),
                ("sd", "smoke-detector"),
                ("ef", "electrical-fire-monitor"),
                ("wp", "water-pressure-sensor"),
                ("wl", "water-level-sensor"),
                ("tag", "nfc-patrol-tag"),
                ("tag", "nfc-patrol-tag"),
            ]
        ):
            device_id = f"{kind}-{number}-{d}"
            where = Location(f"{number} Road", f"B{d % 2}", "1", 31.2 + g / 100, 121.5 + d / 1000)
            world.devices[device_id] = Device(
                device_id,
                profile,
                device_id,
                grid,
                where,
                community=community,
                street=STREETS[community],
            )
    return world


def readings(world: Topology) -> Iterator[Point]:
    """Every device reports every 10 minutes (patrol tags: scanned every half hour)."""
    for step in range(int((NOW - T0) // STEP_S)):
        at = T0 + step * STEP_S + 30
        for device in world.devices.values():
            fields = _fields(device, step)
            if fields:
                yield (
                    Reading(device.id, device.profile, MEASUREMENTS[device.profile], at, fields),
                    device,
                )


def _fields(device: Device, step: int) -> dict[str, FieldValue]:
    hot = device.grid == "G-0101"
    if device.profile == "smoke-detector":
        return {"smoke": hot and device.id.endswith("-0") and step == 3, "battery_pct": 95.0 - step}
    if device.profile == "electrical-fire-monitor":
        rise = 15.0 * step if hot else 0.0
        return {
            "residual_current_ma": 40.0 + rise,
            **{f"cable_temp_c_{n}": 30.0 + n + rise / 6 for n in range(1, 5)},
            "arc_fault": hot and step == 10,
        }
    if device.profile == "water-pressure-sensor":
        return {"pressure_mpa": 0.06 if hot and step >= 12 else 0.32, "battery_pct": 90.0}
    if device.profile == "water-level-sensor":
        return {"level_m": 2.5 - step * 0.05}
    if device.id.endswith("-5") and step % 3 == 0:  # the first tag of each grid
        worker = f"w-{device.grid[2:]}"
        result = "hazard" if hot and step == 9 else "ok"
        return {"worker_id": worker, "result": result, "lat": 31.2, "lon": 121.5}
    return {}


def statuses(world: Topology) -> Iterator[Point]:
    """Every device came online before the window; one detector in G-0101 left later."""
    for device in world.devices.values():
        yield _status(device, T0 - 300, online=True)
    yield _status(world.devices["sd-0101-1"], T0 + 2 * 3600, online=False)


def _status(device: Device, at: float, online: bool) -> Point:
    fields: dict[str, FieldValue] = {"online": online, **position(device)}
    return Reading(device.id, device.profile, STATUS_MEASUREMENT, at, fields), device


class _Recording(IncidentService):
    """Keeps every transition, acts included (``act`` returns only the incident)."""

    transitions: list[Transition]

    async def _commit(self, unit: Unit) -> list[Transition]:
        done = await super()._commit(unit)
        self.transitions.extend(done)
        return done


async def incidents(world: Topology, tmp: Path) -> tuple[list[Point], list[Incident]]:
    clock = Clock()
    store = await SqliteIncidentStore.open(tmp / "incidents.sqlite")
    service = _Recording(store, world, clock=clock)
    service.transitions = []

    async def at(offset_s: float) -> None:
        clock.now = T0 + offset_s
        await service.tick()

    async def alarm(device: str, rule: str, kind: IncidentKind, severity: Severity) -> str:
        opened = await service.apply([Alarm(rule, device, device, kind, severity, rule, clock.now)])
        return opened[0].incident.id

    async def loop(incident: str, worker: str, outcome: str, steps: Iterable[float]) -> None:
        for action, offset in zip(
            ("ack", "arrive", "handle", "verify", "close"), steps, strict=True
        ):
            await at(offset)
            await service.act(
                incident, action, worker, outcome=outcome if action in ("handle", "close") else None
            )

    await at(1800)
    false_alarm = await alarm("sd-0101-0", "smoke", IncidentKind.FIRE, Severity.CRITICAL)
    await loop(false_alarm, "w-0101", "false_alarm", (1830, 1950, 3000, 3300, 3360))
    await at(3600)
    hazard = await alarm("ef-0101-2", "cable-temp", IncidentKind.ELECTRICAL_HAZARD, Severity.MAJOR)
    await at(4200)
    await alarm("ef-0101-2", "cable-temp", IncidentKind.ELECTRICAL_HAZARD, Severity.MAJOR)
    await at(4300)
    late = await alarm("sd-0102-0", "smoke", IncidentKind.FIRE, Severity.CRITICAL)
    await at(4400)  # past the 60 s to accept: escalated
    await loop(late, "w-0102", "fire", (4500, 4700, 6000, 6100, 6200))
    await at(4800)
    water = await alarm("wp-0201-3", "pressure-low", IncidentKind.WATER_SUPPLY, Severity.MAJOR)
    await loop(water, "w-0201", "hazard_fixed", (4900, 5400, 7000, 7200, 7300))
    await at(5400)
    await alarm("tag-0101-6", "patrol-window", IncidentKind.PATROL_OVERDUE, Severity.MINOR)
    await at(6000)
    await alarm("sd-0301-0", "battery", IncidentKind.LOW_BATTERY, Severity.MINOR)
    await at(6600)
    await service.apply([Clear("battery", "sd-0301-0", clock.now)])
    assert hazard  # still open: the red ring on the map
    points = [incident_point(t, world.by_id(t.incident.device_id)) for t in service.transitions]
    made = await service.list(limit=1000)
    await store.close()
    return [p for p in points if p is not None], made


class _Outbox(Collector):
    """The outbox gauges ``bridge.health.DeliveryHealth`` adds to the registry, made up."""

    def __init__(self) -> None:
        self.depth = 0

    def collect(self) -> Iterable[Metric]:
        depth = GaugeMetricFamily("firegrid_outbox_depth", "waiting", labels=["channel"])
        depth.add_metric(["mqtt"], self.depth)
        dead = GaugeMetricFamily("firegrid_outbox_dead", "dead letters", labels=["channel"])
        dead.add_metric(["mqtt"], 0)
        return [depth, dead]


def gateway_metrics() -> Iterator[Point]:
    """The last hour of one gateway's registry, read every 5 minutes."""
    metrics, outbox = Metrics(), _Outbox()
    metrics.registry.register(outbox)
    metrics.mqtt_connected.set(1)
    device = gateway_device(INSTANCE)
    for n in range(12):
        metrics.messages.inc(600)
        metrics.readings.labels("smoke").inc(300)
        metrics.readings.labels("electrical").inc(250)
        metrics.rejected.labels("bad_json").inc(n % 3)
        metrics.field_problems.labels("out_of_range").inc(1)
        metrics.sink_points.labels("influxdb").inc(550)
        metrics.sink_errors.labels("influxdb", "unreachable").inc(n % 2)
        metrics.sink_dropped.labels("influxdb", "buffer_full").inc(n % 2)
        metrics.sink_buffer.labels("influxdb").set(100 + n)
        metrics.sink_batch_size.labels("influxdb").observe(500 + n)
        metrics.sink_write_seconds.labels("influxdb").observe(0.02 + n / 1000)
        for status, count in (("online", 27), ("offline", 1), ("never_seen", 0)):
            metrics.devices.labels(status).set(count)
        outbox.depth = n % 4
        yield from snapshot(metrics.registry, device, NOW - 3600 + n * 300)


async def scenario(tmp: Path) -> tuple[list[Point], list[Incident]]:
    """Every point of the district, and the incidents it went through."""
    world = district()
    incident_points, made = await incidents(world, tmp)
    return [*statuses(world), *readings(world), *incident_points, *gateway_metrics()], made


def write(url: str, db: str, points: Iterable[Point]) -> None:
    """Serialise as the InfluxDB sink does (same tag and string fields) and write."""
    tags, strings = sink_field_roles(load_profiles(Settings().profiles_dir).values())
    lines = LineProtocol(tags, strings)
    body = "\n".join(line for r, d in points if (line := lines.line(r, d)) is not None)
    request = urllib.request.Request(
        f"{url}/write?db={db}&precision=u", data=body.encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 204
