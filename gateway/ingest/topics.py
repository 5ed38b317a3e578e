"""Topic templates → MQTT subscriptions, and a fast match of an incoming topic to a route.

Profiles declare topics as templates such as ``devices/{device_id}/up`` or
``zigbee2mqtt/{external_id}``. ``{device_id}`` names a registered device by id,
``{external_id}`` by its external id; a template with neither (``patrol/{reader_id}/scan``)
relies on the codec's ``device_key`` in the payload, and may then belong to one profile only.

A template whose last level is ``alarm`` (``devices/{device_id}/alarm``) is a device's event
uplink: the gateway reads it on a session of its own (:func:`alarm_lane`), so the broker keeps
alarms in a queue of their own and an alarm never waits behind queued telemetry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from gateway.profiles import DeviceProfile, JsonMapCodec

KeyKind = Literal["device_id", "external_id", "payload"]
_VAR = re.compile(r"^\{([a-z_]+)\}$")


@dataclass(frozen=True, slots=True)
class Route:
    template: str
    key_kind: KeyKind
    key_index: int  # which topic level holds the key; -1 for payload-keyed routes
    literals: tuple[tuple[int, str], ...]
    payload_profile: str | None = None


ALARM_LEVEL = "alarm"


def alarm_lane(topic_filter: str) -> bool:
    """Is this subscription read on the gateway's alarm session?"""
    return topic_filter.rsplit("/", 1)[-1] == ALARM_LEVEL


class TopicError(ValueError):
    """Two profiles declare the same payload-keyed topic: the device could not be told apart."""


def _compile(template: str, profiles: list[DeviceProfile]) -> Route:
    levels = template.split("/")
    literals = tuple((i, lv) for i, lv in enumerate(levels) if not _VAR.match(lv))
    for kind in ("device_id", "external_id"):
        if f"{{{kind}}}" in levels:
            return Route(template, kind, levels.index(f"{{{kind}}}"), literals)
    keyed = [p for p in profiles if isinstance(p.codec, JsonMapCodec) and p.codec.device_key]
    if len(profiles) != 1 or len(keyed) != 1:
        names = ", ".join(sorted(p.name for p in profiles))
        raise TopicError(f"topic {template!r} names no device and is declared by: {names}")
    return Route(template, "payload", -1, literals, payload_profile=profiles[0].name)


class TopicRouter:
    """Matches incoming topics against every profile's templates."""

    def __init__(self, profiles: Mapping[str, DeviceProfile]) -> None:
        by_template: dict[str, list[DeviceProfile]] = {}
        for profile in profiles.values():
            for template in profile.topics:
                by_template.setdefault(template, []).append(profile)
        self._routes = [_compile(t, ps) for t, ps in sorted(by_template.items())]
        self._accepted = {(p.name, t) for t, ps in by_template.items() for p in ps}
        self._index: dict[tuple[int, str | None], list[Route]] = {}
        for route in self._routes:
            levels = route.template.split("/")
            first = None if _VAR.match(levels[0]) else levels[0]
            self._index.setdefault((len(levels), first), []).append(route)

    def subscriptions(self) -> list[str]:
        """MQTT topic filters covering every template (``{x}`` → ``+``)."""
        return sorted(
            {
                "/".join("+" if _VAR.match(lv) else lv for lv in r.template.split("/"))
                for r in self._routes
            }
        )

    def match(self, topic: str) -> tuple[Route, str] | None:
        """The route and the device key found in the topic ('' for payload-keyed routes)."""
        levels = topic.split("/")
        n = len(levels)
        for bucket in (self._index.get((n, levels[0])), self._index.get((n, None))):
            for route in bucket or ():
                if all(levels[i] == lit for i, lit in route.literals):
                    key = levels[route.key_index] if route.key_index >= 0 else ""
                    return (route, key) if route.key_index < 0 or key else None
        return None

    def accepts(self, profile: str, template: str) -> bool:
        return (profile, template) in self._accepted
