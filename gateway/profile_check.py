"""Run a profile's ``examples`` (raw payload → expected reading) and say what differs.

Used by the test suite for every shipped profile and by ``firegrid profiles check DIR`` so a
vendor or installer can check a new profile before deploying it.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.codecs import DecodeError, build_codec
from gateway.ingest.topics import TopicRouter
from gateway.profiles import DeviceProfile, ProfileExample


def _typed(fields: Mapping[str, object]) -> dict[str, tuple[str, object]]:
    """Compare values with their types: 87 (int) and 87.0 (float) are different readings."""
    return {k: (type(v).__name__, v) for k, v in fields.items()}


def check_example(
    profile: DeviceProfile, example: ProfileExample, router: TopicRouter
) -> str | None:
    """None when the example decodes exactly as declared, else what differs."""
    where = f"{profile.name}: example {example.description!r}"
    match = router.match(example.topic)
    if match is None or not router.accepts(profile.name, match[0].template):
        return f"{where}: topic {example.topic} is not one of the profile's topics"
    try:
        decoded = build_codec(profile).decode(example.raw(), example.received_at)
    except DecodeError as exc:
        if example.reading is None and [exc.problem.reason] == example.problems:
            return None
        return f"{where}: refused ({exc}), expected {example.reading or example.problems}"
    if example.reading is None:
        return f"{where}: expected refusal {example.problems}, decoded {decoded.fields}"
    expected = example.reading
    differences = []
    if sorted(p.reason for p in decoded.problems) != sorted(example.problems):
        differences.append(f"problems {[p.reason for p in decoded.problems]} != {example.problems}")
    if _typed(decoded.fields) != _typed(expected.fields):
        differences.append(f"fields {decoded.fields} != {expected.fields}")
    if abs(decoded.ts - expected.ts) > 1e-6:
        differences.append(f"ts {decoded.ts} != {expected.ts}")
    if decoded.seq != expected.seq:
        differences.append(f"seq {decoded.seq} != {expected.seq}")
    key = match[1] or decoded.device_key
    if example.device_key is not None and key != example.device_key:
        differences.append(f"device key {key!r} != {example.device_key!r}")
    return f"{where}: " + "; ".join(differences) if differences else None


def check_examples(profiles: Mapping[str, DeviceProfile]) -> list[str]:
    router = TopicRouter(profiles)
    results = (check_example(p, e, router) for p in profiles.values() for e in p.examples)
    return [r for r in results if r is not None]
