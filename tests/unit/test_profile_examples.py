"""Every shipped device profile decodes each of its examples to exactly the expected reading.

The TTN device-repository habit: the examples live in the profile YAML, next to the layout
they exercise, and this one test runs them all. Adding a device model adds its examples here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.ingest.topics import TopicRouter
from gateway.profile_check import check_example
from gateway.profiles import DeviceProfile, ExpectedReading, ProfileExample, load_profiles

PROFILES_DIR = Path(__file__).resolve().parents[2] / "device_profiles"
PROFILES = load_profiles(PROFILES_DIR)
ROUTER = TopicRouter(PROFILES)
CONTRACT_PROFILES = {
    "smoke-detector",
    "smoke-detector-z2m",
    "smoke-detector-nb",
    "electrical-fire-monitor",
    "water-pressure-sensor",
    "water-level-sensor",
    "nfc-patrol-tag",
}


def test_every_contract_profile_ships_with_examples() -> None:
    assert set(PROFILES) >= CONTRACT_PROFILES
    assert all(PROFILES[name].examples for name in CONTRACT_PROFILES)


@pytest.mark.parametrize(
    ("profile", "example"),
    [
        pytest.param(p, e, id=f"{p.name}:{i}:{e.description[:40]}")
        for p in PROFILES.values()
        for i, e in enumerate(p.examples)
    ],
)
def test_example_decodes_to_expected_reading(
    profile: DeviceProfile, example: ProfileExample
) -> None:
    assert check_example(profile, example, ROUTER) is None


def test_a_wrong_expectation_is_reported() -> None:
    """The checker itself must fail on a mismatch, or the test above proves nothing."""
    profile = PROFILES["smoke-detector"]
    good = profile.examples[0]
    assert good.reading is not None
    wrong = good.model_copy(
        update={"reading": ExpectedReading(ts=good.reading.ts, fields={"smoke": False})}
    )
    failure = check_example(profile, wrong, ROUTER)
    assert failure is not None and "fields" in failure
