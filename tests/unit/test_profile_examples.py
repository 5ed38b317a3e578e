"""Every shipped device profile decodes each of its examples to exactly the expected reading.

The TTN device-repository habit: the examples live in the profile YAML, next to the layout
they exercise, and this one test runs them all. Adding a device model adds its examples here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.codecs import DecodeError, build_codec
from gateway.ingest.topics import TopicRouter
from gateway.profiles import DeviceProfile, ProfileExample, load_profiles

PROFILES_DIR = Path(__file__).resolve().parents[2] / "device_profiles"
PROFILES = load_profiles(PROFILES_DIR)
ROUTER = TopicRouter(PROFILES)
CASES = [
    pytest.param(profile, example, id=f"{profile.name}:{i}:{example.description[:40]}")
    for profile in PROFILES.values()
    for i, example in enumerate(profile.examples)
]

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
    assert CONTRACT_PROFILES <= set(PROFILES)
    for name in CONTRACT_PROFILES:
        assert PROFILES[name].examples, f"{name} has no examples"


def _typed(fields: dict[str, object]) -> dict[str, tuple[str, object]]:
    """Compare values with their types: 87 (int) and 87.0 (float) are different readings."""
    return {k: (type(v).__name__, v) for k, v in fields.items()}


@pytest.mark.parametrize(("profile", "example"), CASES)
def test_example_decodes_to_expected_reading(profile: DeviceProfile, example: ProfileExample) -> None:
    match = ROUTER.match(example.topic)
    assert match is not None, f"{example.topic} matches no declared topic"
    route, key = match
    assert ROUTER.accepts(profile.name, route.template)
    codec = build_codec(profile)
    try:
        decoded = codec.decode(example.raw(), example.received_at)
    except DecodeError as exc:
        assert example.reading is None, f"unexpected refusal: {exc}"
        assert [exc.problem.reason] == example.problems
        return
    assert example.reading is not None, f"expected a refusal {example.problems}, got {decoded}"
    assert sorted(p.reason for p in decoded.problems) == sorted(example.problems)
    assert _typed(decoded.fields) == _typed(dict(example.reading.fields))
    assert decoded.ts == pytest.approx(example.reading.ts, abs=1e-6)
    assert decoded.seq == example.reading.seq
    if example.device_key is not None:
        assert (key or decoded.device_key) == example.device_key
