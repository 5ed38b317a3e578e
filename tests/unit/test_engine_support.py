"""Shared fakes for the rules-engine tests: a fake clock, a dictionary topology, a harness.

Holds no tests itself. The engine never reads a clock: every call here passes the harness's
``now``, which the tests move by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from gateway.model import Device, FieldValue, Location, Reading
from gateway.profiles import load_profiles
from gateway.rules import Alarm, Clear, Outcome, RulesEngine, RuleSet, load_rule_sets

REPO = Path(__file__).resolve().parents[2]
PROFILES = load_profiles(REPO / "device_profiles")
SHIPPED_RULES = REPO / "rules"
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z = 08:00 in Shanghai, a Thursday


def rules_from(directory: Path, text: str, name: str = "test.yaml") -> RuleSet:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(text, encoding="utf-8")
    return load_rule_sets(directory, PROFILES)


def shipped_rules() -> RuleSet:
    return load_rule_sets(SHIPPED_RULES, PROFILES)


def device(
    device_id: str,
    profile: str = "smoke-detector",
    grid: str = "G-0301",
    building: str = "B1",
    lat: float | None = None,
    lon: float | None = None,
    thresholds: dict[str, float] | None = None,
    external_id: str | None = None,
) -> Device:
    return Device(
        id=device_id,
        profile=profile,
        name=device_id,
        grid=grid,
        location=Location(address="", building=building, lat=lat, lon=lon),
        external_id=external_id,
        thresholds=thresholds or {},
    )


class FakeTopology:
    def __init__(self, devices: Iterable[Device] = ()) -> None:
        self.by_id = {d.id: d for d in devices}
        self.seen: dict[str, float] = {}

    def devices(self) -> Sequence[Device]:
        return list(self.by_id.values())

    def device(self, device_id: str) -> Device | None:
        return self.by_id.get(device_id)

    def last_seen(self, device_id: str) -> float | None:
        return self.seen.get(device_id)


class Harness:
    """An engine, its topology and a hand-moved clock."""

    def __init__(
        self,
        rule_set: RuleSet,
        devices: Sequence[Device] = (),
        now: float = T0,
        commissioning: Callable[[str], bool] | set[str] | None = None,
    ) -> None:
        self.rule_set = rule_set
        self.topology = FakeTopology(devices)
        self.now = now
        self.engine = RulesEngine(rule_set, PROFILES, commissioning=commissioning)

    def add(self, *devices: Device) -> None:
        self.topology.by_id.update({d.id: d for d in devices})

    def at(self, seconds_after_t0: float) -> Harness:
        self.now = T0 + seconds_after_t0
        return self

    def send(self, device_id: str, ts: float | None = None, **fields: FieldValue) -> list[Outcome]:
        """A reading at ``now`` (or at ``ts``) that the gateway received at ``now``."""
        dev = self.topology.by_id[device_id]
        profile = PROFILES[dev.profile]
        reading = Reading(
            dev.id, dev.profile, profile.measurement, self.now if ts is None else ts, fields
        )
        self.topology.seen[dev.id] = self.now
        return self.engine.on_reading(reading, dev, self.now)

    def tick(self) -> list[Outcome]:
        return self.engine.on_tick(self.now, self.topology)


def alarms(outcomes: Iterable[Outcome], rule_id: str | None = None) -> list[Alarm]:
    return [o for o in outcomes if isinstance(o, Alarm) and rule_id in (None, o.rule_id)]


def clears(outcomes: Iterable[Outcome], rule_id: str | None = None) -> list[Clear]:
    return [o for o in outcomes if isinstance(o, Clear) and rule_id in (None, o.rule_id)]
