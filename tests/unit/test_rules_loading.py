"""Rule sets load from YAML, cover every shipped profile, and a mistake names file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.rules import RulesEngine, fingerprint, load_rule_sets
from gateway.yamlfile import ConfigFileError
from tests.unit.test_engine_support import PROFILES, SHIPPED_RULES, rules_from

RULE = """
rules:
  - id: fault
    title: {zh: 故障, en: Fault}
    applies_to: {measurement: smoke}
    kind: device_fault
    severity: minor
    event: fault
"""


def test_every_shipped_rule_file_loads_and_every_profile_has_rules() -> None:
    rule_set = load_rule_sets(SHIPPED_RULES, PROFILES)
    assert {p.name for p in SHIPPED_RULES.glob("*.yaml")} == {
        "smoke.yaml",
        "electrical.yaml",
        "water.yaml",
        "liveness.yaml",
        "correlation.yaml",
        "patrol.yaml",
    }
    engine = RulesEngine(rule_set, PROFILES)
    assert set(engine.rules.reading) == set(PROFILES)
    by_profile = {p: set(r) for p, r in engine.rules.by_profile.items()}
    assert {"smoke-fire", "smoke-fault", "smoke-tamper", "smoke-low-battery", "device-offline"} <= (
        by_profile["smoke-detector-nb"] & by_profile["smoke-detector-z2m"]
    )
    assert {"cable-overheat", "residual-current-high", "arc-fault"} <= by_profile[
        "electrical-fire-monitor"
    ]
    assert "water-pressure-dropping" in by_profile["water-pressure-sensor"]
    assert "water-tank-low" in by_profile["water-level-sensor"]
    assert "patrol-overdue" in by_profile["nfc-patrol-tag"]
    assert "device-offline" not in by_profile["nfc-patrol-tag"]


def test_every_shipped_rule_says_where_its_default_comes_from() -> None:
    for path in SHIPPED_RULES.glob("*.yaml"):
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if line.startswith("  - id: "):
                assert lines[i - 1].lstrip().startswith("#"), f"{path.name}:{i + 1} has no comment"


def _error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigFileError) as err:
        rules_from(tmp_path, text)
    return str(err.value)


def test_a_wrong_value_names_file_line_and_key(tmp_path: Path) -> None:
    message = _error(tmp_path, RULE.replace("severity: minor", "severity: tiny"))
    assert f"{tmp_path / 'test.yaml'}:7: rules.0.severity: Input should be 'critical'" in message


def test_an_unknown_key_is_refused(tmp_path: Path) -> None:
    message = _error(tmp_path, RULE.replace("event: fault", "event: fault\n    holdfor: 3"))
    assert ":9: rules.0.holdfor: Extra inputs are not permitted" in message


def test_a_rule_needs_exactly_one_condition(tmp_path: Path) -> None:
    message = _error(
        tmp_path,
        RULE.replace("event: fault", "event: fault\n    rate: {field: x, rising_faster_than: 1}"),
    )
    assert "give exactly one condition" in message and "found: event, rate" in message


def test_a_fire_rule_may_not_clear(tmp_path: Path) -> None:
    text = RULE.replace("kind: device_fault", "kind: fire").replace(
        "event: fault", "event: smoke\n    clear: true"
    )
    assert "a fire alarm is never cleared by the engine" in _error(tmp_path, text)


def test_hysteresis_on_the_wrong_side_is_refused(tmp_path: Path) -> None:
    text = RULE.replace(
        "event: fault", "threshold: {field: battery_pct, below: 20, clear_above: 10}"
    )
    assert "clear_above 10.0 is below the alarm level 20.0" in _error(tmp_path, text)


def test_a_field_no_profile_has_is_refused(tmp_path: Path) -> None:
    message = _error(tmp_path, RULE.replace("event: fault", "event: faulty"))
    assert "rule fault: applies to no device profile" in message
    assert "smoke-detector has no field faulty" in message


def test_a_field_of_the_wrong_type_is_refused(tmp_path: Path) -> None:
    message = _error(tmp_path, RULE.replace("event: fault", "threshold: {field: fault, above: 1}"))
    assert "field 'fault' of profile smoke-detector is bool, expected int or float" in message


def test_an_unknown_profile_is_refused(tmp_path: Path) -> None:
    text = RULE.replace("{measurement: smoke}", "{profiles: [smoke-detecter]}")
    assert "unknown profiles ['smoke-detecter']" in _error(tmp_path, text)


def test_references_cross_files_and_must_name_a_rule_of_the_right_kind(tmp_path: Path) -> None:
    storm = """
rules:
  - id: outage
    title: {zh: 停电, en: Outage}
    kind: grid_outage
    severity: major
    storm: {rule: fault, share: 0.3}
"""
    (tmp_path / "a.yaml").write_text(storm)
    message = _error(tmp_path, RULE)
    assert (
        f"{tmp_path / 'a.yaml'}:7: rules.0.storm.rule: Value error, rule 'fault' is a 'event'"
        in message
    )
    (tmp_path / "a.yaml").write_text(storm.replace("rule: fault", "rule: nothing"))
    assert "no rule with id 'nothing'" in _error(tmp_path, RULE)


def test_a_rule_id_is_unique_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(RULE)
    message = _error(tmp_path, RULE)
    assert (
        f"{tmp_path / 'test.yaml'}:3: rules.0.id: rule id 'fault' is also in {tmp_path / 'a.yaml'}:3"
        in message
    )


def test_patrol_schedules_are_checked(tmp_path: Path) -> None:
    patrol = """
rules:
  - id: overdue
    title: {zh: 超时, en: Overdue}
    applies_to: {profiles: [nfc-patrol-tag]}
    kind: patrol_overdue
    severity: minor
    patrol:
      timezone: Asia/Shanghai
      default: daily
      schedules:
        daily: {windows: ["00:00-24:00"]}
"""
    assert rules_from(tmp_path, patrol).rules[0].id == "overdue"
    assert "no schedule 'weekly'" in _error(
        tmp_path, patrol.replace("default: daily", "default: weekly")
    )
    assert "unknown time zone 'Mars/Olympus'" in _error(
        tmp_path, patrol.replace("Asia/Shanghai", "Mars/Olympus")
    )
    assert "String should match pattern" in _error(tmp_path, patrol.replace("24:00", "25:00"))


def test_an_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="no rule sets"):
        load_rule_sets(tmp_path)


def test_fingerprint_changes_with_any_file(tmp_path: Path) -> None:
    rules_from(tmp_path, RULE)
    first = fingerprint(tmp_path)
    assert fingerprint(tmp_path) == first
    (tmp_path / "test.yaml").write_text(RULE + "\n")
    second = fingerprint(tmp_path)
    assert second != first
    (tmp_path / "more.yaml").write_text("rules: []\n")
    assert fingerprint(tmp_path) != second
