"""What the demo shows, read from the in-process gateway: device rows, counters, incidents.

Pure reads of the registry, the device tracker, the metrics, the incident service's open
incidents and the event feed — no I/O — so the live table, the plain summary lines and the
final summary all show the same numbers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client.registry import Collector

from gateway.demo.feed import FeedCounts, IncidentFeed, LogLine
from gateway.demo.incidents import IncidentRow, by_status, incident_rows
from gateway.incidents.dispatch import Topology, rung
from gateway.incidents.model import Incident
from gateway.metrics import Metrics
from gateway.model import Device, DeviceStatus, FieldValue
from gateway.profiles import DeviceProfile
from gateway.tracker import DeviceTracker

# The fields worth a glance per measurement, with short labels; multi-channel fields show
# every channel.
KEY_FIELDS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "smoke": (("smoke", "smoke"), ("battery_pct", "battery")),
    "electrical": (("residual_current_ma", "leakage"), ("cable_temp_c", "cables")),
    "water": (("pressure_mpa", "pressure"), ("level_m", "level")),
    "patrol": (("result", "scan"), ("worker_id", "by")),
}
# Values worth a colour: (field, threshold key, True when the value must stay below it).
WATCHED: tuple[tuple[str, str, bool], ...] = (
    ("cable_temp_c", "cable_temp_c", True),
    ("residual_current_ma", "residual_current_ma", True),
    ("pressure_mpa", "pressure_low_mpa", False),
    ("level_m", "level_low_m", False),
)
ALARM_FLAGS = frozenset({"smoke", "arc_fault", "fault", "tamper"})


class DeviceDirectory(Topology, Protocol):
    """The registry: its devices, and the grid ladder to name who an incident went to."""

    def devices(self) -> list[Device]: ...


class OpenIncidents(Protocol):
    def open_incidents(self) -> list[Incident]: ...


class Watched(Protocol):
    """What the demo reads from the running :class:`gateway.app.Gateway`."""

    @property
    def registry(self) -> DeviceDirectory: ...

    @property
    def tracker(self) -> DeviceTracker: ...

    @property
    def metrics(self) -> Metrics: ...

    @property
    def profiles(self) -> Mapping[str, DeviceProfile]: ...

    @property
    def incidents(self) -> OpenIncidents: ...

    def health(self) -> Mapping[str, Mapping[str, object]]: ...


@dataclass(frozen=True, slots=True)
class Value:
    """One shown value; ``alarm`` when it breaches its threshold or is a raised alarm flag."""

    label: str
    text: str
    alarm: bool = False


@dataclass(frozen=True, slots=True)
class DeviceRow:
    id: str
    profile: str
    grid: str
    status: DeviceStatus
    seen_ago_s: float | None
    values: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Snapshot:
    devices: tuple[DeviceRow, ...]
    messages: int
    readings: Mapping[str, int]
    rejected: Mapping[str, int]
    field_problems: Mapping[str, int]
    stored: Mapping[str, int]
    health: Mapping[str, Mapping[str, object]]
    statuses: Counter[DeviceStatus] = field(default_factory=Counter)
    incidents: tuple[IncidentRow, ...] = ()  # open now, most urgent first
    events: tuple[LogLine, ...] = ()  # the latest lifecycle events, oldest first
    run: FeedCounts = field(default_factory=FeedCounts)  # this run's incidents

    @property
    def open_by_status(self) -> dict[str, int]:
        return by_status(self.incidents)


def by_label(counter: Collector) -> dict[str, int]:
    """A one-label counter's totals, e.g. readings per measurement."""
    totals: dict[str, int] = {}
    for family in counter.collect():
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels:
                totals[next(iter(sample.labels.values()))] = int(sample.value)
    return dict(sorted(totals.items()))


def total(counter: Collector) -> int:
    return sum(
        int(s.value) for f in counter.collect() for s in f.samples if s.name.endswith("_total")
    )


def _text(value: FieldValue) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _breaches(name: str, value: FieldValue, thresholds: Mapping[str, float]) -> bool:
    if isinstance(value, bool):
        return value and name in ALARM_FLAGS
    if isinstance(value, str):
        return value == "hazard"
    for watched, key, upper in WATCHED:
        limit = thresholds.get(key)
        if name.startswith(watched) and limit is not None:
            return value >= limit if upper else value < limit
    return False


def key_values(
    device: Device, profile: DeviceProfile, latest: Mapping[str, FieldValue]
) -> tuple[Value, ...]:
    """The latest values worth showing for this device, channels joined (``31.2/30.8/…``)."""
    thresholds = {**profile.thresholds, **device.thresholds}
    shown = []
    for name, label in KEY_FIELDS.get(profile.measurement, ()):
        spec = profile.fields.get(name)
        if spec is None:
            continue
        names = [f"{name}_{i}" for i in range(1, (spec.channels or 0) + 1)] or [name]
        present = [(n, latest[n]) for n in names if n in latest]
        if not present:
            continue
        text = "/".join(_text(v) for _, v in present) + (f" {spec.unit}" if spec.unit else "")
        alarm = any(_breaches(n, v, thresholds) for n, v in present)
        shown.append(Value(label, text, alarm))
    return tuple(shown)


def rung_of(directory: Topology) -> Callable[[str, int], list[str]]:
    """Who stands on a rung of a grid's escalation ladder (the centre: nobody by name)."""

    def on_rung(grid: str, level: int) -> list[str]:
        return [r.id for r in rung(directory, grid, level) if r.id]

    return on_rung


def take(source: Watched, now: float, feed: IncidentFeed | None = None) -> Snapshot:
    """Everything the view shows, at ``now``; the event log and run counts come from ``feed``."""
    rows = []
    statuses: Counter[DeviceStatus] = Counter()
    for device in sorted(source.registry.devices(), key=lambda d: (d.grid, d.id)):
        status = source.tracker.status(device.id)
        statuses[status] += 1
        state = source.tracker.get(device.id)
        last_seen = state.last_seen if state else None
        latest = state.latest if state else {}
        profile = source.profiles[device.profile]
        rows.append(
            DeviceRow(
                device.id,
                device.profile,
                device.grid,
                status,
                None if last_seen is None else max(0.0, now - last_seen),
                key_values(device, profile, latest),
            )
        )
    m = source.metrics
    return Snapshot(
        devices=tuple(rows),
        messages=total(m.messages),
        readings=by_label(m.readings),
        rejected=by_label(m.rejected),
        field_problems=by_label(m.field_problems),
        stored=by_label(m.sink_points),
        health=source.health(),
        statuses=statuses,
        incidents=tuple(
            incident_rows(source.incidents.open_incidents(), rung_of(source.registry), now)
        ),
        events=feed.lines if feed else (),
        run=feed.counts() if feed else FeedCounts(),
    )


def pairs(counts: Mapping[str, int]) -> str:
    return " ".join(f"{k}={v}" for k, v in counts.items()) or "none"


def health_text(health: Mapping[str, Mapping[str, object]]) -> str:
    return ", ".join(
        f"{part} {'ok' if state.get('ok') else 'DEGRADED'} ({state.get('detail')})"
        for part, state in health.items()
    )


def summary_lines(snap: Snapshot, published: int) -> Sequence[str]:
    """The plain-text summary: one fact per line, ``name: key=value …``."""
    s = snap.statuses
    return (
        f"devices: {len(snap.devices)} registered, {s[DeviceStatus.ONLINE]} online, "
        f"{s[DeviceStatus.OFFLINE]} offline, {s[DeviceStatus.NEVER_SEEN]} never_seen",
        f"messages: {snap.messages} received, {published} published by the simulator",
        f"readings: {pairs(snap.readings)}",
        f"rejected: {pairs(snap.rejected)}",
        f"field problems: {pairs(snap.field_problems)}",
        f"stored: {pairs(snap.stored)}",
        f"health: {health_text(snap.health)}",
        incidents_line(snap),
        f"closed: {pairs(snap.run.closed)}",
    )


def incidents_line(snap: Snapshot) -> str:
    """``incidents: 7 opened, 7 dispatched, 1 escalated, 0 self-tests; open: on_site=1 …``"""
    run = snap.run
    return (
        f"incidents: {run.opened} opened, {run.dispatched} dispatched, {run.escalated} "
        f"escalated, {run.tests} self-tests; open: {pairs(snap.open_by_status)}"
    )
