"""Compile a rule set against the device profiles: per profile, the rules that can judge it.

Done once per load or reload, so the hot path only touches the rules of a reading's profile,
with channel patterns already expanded and profile/default parameters already resolved. Every
problem (a parameter no profile or default gives, a field of the wrong type, a rule that
matches no profile) is reported together, each naming the rule's file and line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from gateway.profiles import DeviceProfile
from gateway.rules.base import DeviceRule, RuleMeta, State
from gateway.rules.conditions.correlation import BuildingState, CorrelationRule
from gateway.rules.conditions.inactivity import InactivityRule
from gateway.rules.conditions.level import LevelRule
from gateway.rules.conditions.patrol import PatrolRule
from gateway.rules.conditions.predicates import AnyOf, Event, Predicate, Rate, Threshold
from gateway.rules.conditions.repeat import RepeatRule
from gateway.rules.conditions.scan import ScanDistanceRule, TravelRule, WorkerState
from gateway.rules.conditions.storm import OutageState, StormRule
from gateway.rules.params import ParamResolver, invert_overrides
from gateway.rules.ruleset import Rule, RuleSet
from gateway.rules.schedule import PatrolSchedule
from gateway.rules.spec import EventSpec, PredicateSpec, RateSpec, ThresholdSpec
from gateway.yamlfile import ConfigFileError

NUMERIC = ("int", "float")


class _MissingFieldError(Exception):
    """The profile lacks a field the rule reads: the rule does not apply to it."""


@dataclass(frozen=True, slots=True)
class CompiledRules:
    reading: Mapping[str, tuple[DeviceRule, ...]]  # profile → rules that judge its readings
    ticking: Mapping[str, tuple[DeviceRule, ...]]  # profile → rules visited on each tick
    by_profile: Mapping[str, Mapping[str, DeviceRule]]  # profile → rule id → rule (timers)
    watchers: Mapping[str, tuple[CorrelationRule, ...]]  # rule id → rules correlating it
    storms: tuple[StormRule, ...]
    device_states: Mapping[str, type[State]]  # rule id → state type, keyed by device
    group_states: Mapping[str, type[State]]  # rule id → state type, keyed by group
    fingerprints: Mapping[str, str]


class _Fields:
    """A profile's reading field names (channels expanded) and their types."""

    def __init__(self, profile: DeviceProfile) -> None:
        self.profile = profile
        self.types: dict[str, str] = {}
        self.channels: dict[str, tuple[str, ...]] = {}
        for name, spec in profile.fields.items():
            if spec.channels:
                names = tuple(f"{name}_{i}" for i in range(1, spec.channels + 1))
                self.channels[name] = names
                self.types.update(dict.fromkeys(names, spec.type))
            else:
                self.types[name] = spec.type

    def pick(self, name: str, types: tuple[str, ...], where: str) -> tuple[str, ...]:
        """``name``, a channel base (all channels) or ``base_*``; each must be of ``types``."""
        base = name.removesuffix("_*")
        if name.endswith("_*") or base in self.channels:
            names = self.channels.get(base, ())
        else:
            names = (name,) if name in self.types else ()
        if not names:
            raise _MissingFieldError(name)
        for each in names:
            if self.types[each] not in types:
                raise ConfigFileError(
                    f"{where}: field {each!r} of profile {self.profile.name} is "
                    f"{self.types[each]}, expected {' or '.join(types)}"
                )
        return names


def _threshold(
    spec: ThresholdSpec, fields: _Fields, resolve: ParamResolver, where: str
) -> Threshold:
    names = fields.pick(spec.field, NUMERIC, where)
    above = spec.above is not None
    level = spec.above if spec.above is not None else spec.below
    assert level is not None
    clear = spec.clear_below if above else spec.clear_above
    return Threshold(
        names,
        above,
        resolve(level),
        None if clear is None else resolve(clear),
        None if spec.hysteresis is None else resolve(spec.hysteresis),
    )


def _event(spec: EventSpec, fields: _Fields, where: str) -> Event:
    wanted = ("bool",) if isinstance(spec.equals, bool) else ("str",)
    names: list[str] = []
    for name in spec.fields:  # a profile may lack some of several flags ([smoke, test])
        try:
            names += fields.pick(name, wanted, where)
        except _MissingFieldError:
            continue
    if not names:
        raise _MissingFieldError(", ".join(spec.fields))
    return Event(tuple(names), spec.equals)


def _rate(spec: RateSpec, fields: _Fields, resolve: ParamResolver, where: str) -> Rate:
    names = fields.pick(spec.field, NUMERIC, where)
    rising = spec.rising_faster_than is not None
    limit = spec.rising_faster_than if rising else spec.falling_faster_than
    assert limit is not None
    hysteresis = None if spec.hysteresis is None else resolve(spec.hysteresis)
    return Rate(names, rising, resolve(limit), spec.per_s, spec.min_interval_s, hysteresis)


def _term(spec: PredicateSpec, fields: _Fields, resolve: ParamResolver, where: str) -> Predicate:
    if spec.threshold is not None:
        return _threshold(spec.threshold, fields, resolve, where)
    assert spec.event is not None
    return _event(spec.event, fields, where)


def _any_of(
    specs: tuple[PredicateSpec, ...], fields: _Fields, resolve: ParamResolver, where: str
) -> AnyOf:
    terms: list[Predicate] = []
    for spec in specs:  # a term whose field the profile lacks is left out
        try:
            terms.append(_term(spec, fields, resolve, where))
        except _MissingFieldError:
            continue
    if not terms:
        raise _MissingFieldError("any_of")
    return AnyOf(terms)


def _schedules(rule: Rule) -> dict[str, PatrolSchedule]:
    assert rule.patrol is not None
    zone = ZoneInfo(rule.patrol.timezone)
    return {n: PatrolSchedule(n, s, zone) for n, s in rule.patrol.schedules.items()}


def _device_rule(
    rule: Rule, meta: RuleMeta, fields: _Fields, resolve: ParamResolver, where: str
) -> DeviceRule:
    condition = rule.condition
    if condition in ("threshold", "event", "any_of", "rate"):
        predicate: Predicate
        if rule.threshold is not None:
            predicate = _threshold(rule.threshold, fields, resolve, where)
        elif rule.event is not None:
            predicate = _event(rule.event, fields, where)
        elif rule.any_of is not None:
            predicate = _any_of(rule.any_of, fields, resolve, where)
        else:
            assert rule.rate is not None
            predicate = _rate(rule.rate, fields, resolve, where)
        return LevelRule(meta, predicate, resolve(rule.for_s))
    if rule.repeat is not None:
        inner = _term(rule.repeat.of, fields, resolve, where)
        return RepeatRule(meta, inner, rule.repeat.times, rule.repeat.within_s)
    if rule.inactivity is not None:
        profile = fields.profile
        missed = rule.inactivity.missed_heartbeats or profile.offline_after_missed
        return InactivityRule(meta, profile.heartbeat_s, missed)
    if rule.patrol is not None:
        spec = rule.patrol
        return PatrolRule(meta, _schedules(rule), spec.default, spec.grids, spec.tags)
    if rule.scan_distance is not None:
        fields.pick("lat", NUMERIC, where)
        fields.pick("lon", NUMERIC, where)
        return ScanDistanceRule(meta, resolve(rule.scan_distance.max_m))
    assert rule.travel is not None
    fields.pick("worker_id", ("str",), where)
    return TravelRule(meta, resolve(rule.travel.max_speed_kmh), rule.travel.min_distance_m)


def _meta(rule: Rule) -> RuleMeta:
    return RuleMeta(
        rule.id,
        rule.kind,
        rule.severity,
        rule.title.text(),
        rule.emit,
        rule.clears,
        rule.notify,
        rule.detail_fields,
        rule.fingerprint(),
    )


class _Compiler:
    def __init__(self, rule_set: RuleSet, profiles: Mapping[str, DeviceProfile]) -> None:
        self.rule_set = rule_set
        self.profiles = profiles
        self.fields = {name: _Fields(p) for name, p in profiles.items()}
        self.by_param = invert_overrides(rule_set.grid_overrides)
        self.errors: list[str] = []
        self.by_profile: dict[str, dict[str, DeviceRule]] = {name: {} for name in profiles}
        self.watchers: dict[str, list[CorrelationRule]] = {}
        self.storms: list[StormRule] = []
        self.device_states: dict[str, type[State]] = {}
        self.group_states: dict[str, type[State]] = {}

    def where(self, rule: Rule) -> str:
        return f"{self.rule_set.sources.get(rule.id, 'rules')}: rule {rule.id}"

    def device_rule(self, rule: Rule) -> None:
        applies = rule.applies_to
        assert applies is not None
        where = self.where(rule)
        unknown = [p for p in applies.profiles or () if p not in self.profiles]
        if unknown:
            self.errors.append(f"{where}: applies_to.profiles: unknown profiles {unknown}")
            return
        matched = [
            p
            for p in self.profiles.values()
            if (applies.measurement is None or p.measurement in applies.measurement)
            and (applies.profiles is None or p.name in applies.profiles)
        ]
        meta, missing = _meta(rule), []
        for profile in matched:
            resolve = ParamResolver(profile, self.rule_set.defaults, self.by_param, where)
            try:
                compiled = _device_rule(rule, meta, self.fields[profile.name], resolve, where)
            except _MissingFieldError as exc:
                missing.append(f"{profile.name} has no field {exc}")
                continue
            except ConfigFileError as exc:
                self.errors.append(str(exc))
                continue
            self.by_profile[profile.name][rule.id] = compiled
            if compiled.state_type is not None:
                self.device_states[rule.id] = compiled.state_type
            if isinstance(compiled, TravelRule):
                self.group_states[rule.id] = WorkerState
        if (applies.profiles is not None and missing) or len(missing) == len(matched):
            reasons = "; ".join(missing) or "no profile matches applies_to"
            self.errors.append(f"{where}: applies to no device profile: {reasons}")

    def group_rule(self, rule: Rule) -> None:
        meta = _meta(rule)
        if rule.correlate is not None:
            correlation = CorrelationRule(meta, rule.correlate)
            self.watchers.setdefault(rule.correlate.rule, []).append(correlation)
            if rule.correlate.boost is not None:
                self.watchers.setdefault(rule.correlate.boost.rule, []).append(correlation)
            self.group_states[rule.id] = BuildingState
            return
        assert rule.storm is not None
        storm = StormRule(meta, rule.storm)
        for rules in self.by_profile.values():
            watched = rules.get(rule.storm.rule)
            if isinstance(watched, InactivityRule):
                watched.watch(storm)
        self.storms.append(storm)
        self.group_states[rule.id] = OutageState

    def check_overrides(self) -> None:
        known = set(self.rule_set.defaults)
        for profile in self.profiles.values():
            known |= set(profile.thresholds)
        for grid, values in self.rule_set.grid_overrides.items():
            for name in sorted(set(values) - known):
                where = self.rule_set.sources.get(f"overrides.grids.{grid}", "rules")
                self.errors.append(
                    f"{where}: overrides.grids.{grid}.{name}: no profile threshold or "
                    f"default is named {name!r}"
                )

    def run(self) -> CompiledRules:
        enabled = [r for r in self.rule_set.rules if r.enabled]
        for rule in enabled:
            if rule.applies_to is not None:
                self.device_rule(rule)
        for rule in enabled:
            if rule.applies_to is None:
                self.group_rule(rule)
        self.check_overrides()
        if self.errors:
            raise ConfigFileError("\n".join(self.errors))
        return CompiledRules(
            reading={p: tuple(r.values()) for p, r in self.by_profile.items() if r},
            ticking=_select(self.by_profile, lambda r: r.ticks),
            by_profile=self.by_profile,
            watchers={k: tuple(v) for k, v in self.watchers.items()},
            storms=tuple(self.storms),
            device_states=self.device_states,
            group_states=self.group_states,
            fingerprints={r.id: r.fingerprint() for r in enabled},
        )


def _select(
    by_profile: Mapping[str, Mapping[str, DeviceRule]], keep: Callable[[DeviceRule], bool]
) -> dict[str, tuple[DeviceRule, ...]]:
    chosen = {p: tuple(r for r in rules.values() if keep(r)) for p, rules in by_profile.items()}
    return {p: rules for p, rules in chosen.items() if rules}


def compile_rules(rule_set: RuleSet, profiles: Mapping[str, DeviceProfile]) -> CompiledRules:
    """Raise :class:`ConfigFileError` naming every problem, or return the compiled rules."""
    return _Compiler(rule_set, profiles).run()
