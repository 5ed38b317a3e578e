"""Parameter precedence: the device's own override > the grid's > the profile's > a rule-set default."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.yamlfile import ConfigFileError
from tests.unit.test_engine_support import Harness, alarms, device, rules_from

RULES = """
defaults:
  leak_hold_s: 0
overrides:
  grids:
    G-0302: {residual_current_ma: 200}
rules:
  - id: leak
    title: {zh: 漏电, en: Leak}
    applies_to: {measurement: electrical}
    kind: electrical_hazard
    severity: major
    threshold: {field: residual_current_ma, above: residual_current_ma}
    for_s: leak_hold_s
"""


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(
        rules_from(tmp_path, RULES),
        [
            device("PROFILE", "electrical-fire-monitor", grid="G-0301"),
            device("GRID", "electrical-fire-monitor", grid="G-0302"),
            device(
                "OWN",
                "electrical-fire-monitor",
                grid="G-0302",
                thresholds={"residual_current_ma": 500},
            ),
        ],
    )


def fires(h: Harness, device_id: str, ma: float) -> bool:
    out = h.send(device_id, residual_current_ma=ma)
    h.send(device_id, residual_current_ma=0.0)  # recover, ready for the next probe
    return bool(alarms(out, "leak"))


def test_profile_default_applies_without_overrides(h: Harness) -> None:
    assert not fires(h, "PROFILE", 250)
    assert fires(h, "PROFILE", 301)


def test_grid_override_beats_the_profile(h: Harness) -> None:
    assert fires(h, "GRID", 250)
    alarm = alarms(h.send("GRID", residual_current_ma=201))[0]
    assert alarm.detail["threshold"] == 200


def test_device_override_beats_the_grid(h: Harness) -> None:
    assert not fires(h, "OWN", 450)
    assert fires(h, "OWN", 501)


def test_a_rule_set_default_fills_a_parameter_no_profile_has(h: Harness) -> None:
    # leak_hold_s = 0 from `defaults:`: the alarm is immediate, with no hold timer.
    assert alarms(h.send("PROFILE", residual_current_ma=900))


def test_a_parameter_nobody_defines_is_refused_naming_file_and_rule(tmp_path: Path) -> None:
    text = RULES.replace("for_s: leak_hold_s", "for_s: leak_hold_seconds")
    with pytest.raises(ConfigFileError) as err:
        rules_from(tmp_path, text)
    message = str(err.value)
    assert f"{tmp_path / 'test.yaml'}:" in message and "rule leak" in message
    assert "'leak_hold_seconds' is not a threshold of profile electrical-fire-monitor" in message


def test_a_grid_override_of_an_unknown_parameter_is_refused(tmp_path: Path) -> None:
    text = RULES.replace("{residual_current_ma: 200}", "{residual_current: 200}")
    with pytest.raises(ConfigFileError, match=r"overrides.grids.G-0302.residual_current: no "):
        rules_from(tmp_path, text)
