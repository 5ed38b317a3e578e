"""InfluxDB line protocol for readings: the hot path of every time-series write.

One reading becomes one line::

    smoke,device=sd-1,grid=G-0301,profile=smoke-detector smoke=1i,battery_pct=87i 1767225600000000

Tags are sorted by key (what InfluxDB stores anyway, so it does no re-sorting) and empty
values are left out (line protocol has no empty tag). The tags a grid's devices share are
built once per grid and profile (whatever the measurement); a reading costs one lookup of
those, the device's own tag, and its fields.
Timestamps are microseconds: every write says ``precision=u`` (v1) / ``us`` (v2).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from typing import NamedTuple

from gateway.model import Device, FieldValue, Reading
from gateway.profiles import DeviceProfile

# Newlines and tabs would end the line or be taken as separators; write them as visible
# escapes (what Telegraf does) rather than lose the point.
_CONTROL = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_MEASUREMENT = str.maketrans({",": "\\,", " ": "\\ ", **_CONTROL})
_KEY = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ ", **_CONTROL})
_STRING = str.maketrans({'"': '\\"', "\\": "\\\\", **_CONTROL})
# Something to escape: a separator, a control character, a backslash that could end it.
_SPECIAL = re.compile(r"[,= \n\r\t\\]")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def escape_key(text: str) -> str:
    """A tag key, tag value or field key."""
    if _SPECIAL.search(text) is None:
        # The usual case: a regex tells it several times faster than translate, and finding
        # nothing makes no match object.
        return text
    escaped = text.translate(_KEY)
    # A trailing backslash would escape the separator after it; doubling it keeps the line
    # parseable (InfluxDB then stores the doubled backslash).
    return escaped + "\\" if escaped.endswith("\\") else escaped


def escape_measurement(text: str) -> str:
    return text.translate(_MEASUREMENT)


def escape_string(text: str) -> str:
    """A string field value, without the surrounding quotes."""
    return text.translate(_STRING)


class _Group(NamedTuple):
    """The tags devices share (a grid's, a profile's), around where the device's own goes.

    Lines are built from these rather than kept per device: a prefix per device would cost
    ~300 bytes for each of 100k devices, a group is shared by every device of a grid and
    profile (and its community and street, which follow from the grid).
    """

    head: str  # the tags sorting before "device" (the measurement goes before them)
    tail: str  # the tags sorting after it
    last: str  # the key of the last tag of a line with no extra tags
    community: str  # the grid's community and street when the group was made (a grid moved
    street: str  # to another community in a boundary import makes a new group)

    @staticmethod
    def pairs(profile: str, grid: str, community: str, street: str) -> list[tuple[str, str]]:
        """The group's tags, escaped and sorted (not kept: only a reading with an extra tag
        sorting among them needs them)."""
        tags = {"community": community, "grid": grid, "profile": profile, "street": street}
        return [(k, escape_key(v)) for k, v in sorted(tags.items()) if v]

    @classmethod
    def of(cls, profile: str, grid: str, community: str, street: str) -> _Group:
        pairs = cls.pairs(profile, grid, community, street)
        head = _tags(p for p in pairs if p[0] < "device")
        tail = _tags(p for p in pairs if p[0] > "device")
        last = max(pairs[-1][0] if pairs else "", "device")
        return cls(head, tail, last, community, street)


def _tags(pairs: Iterable[tuple[str, str]]) -> str:
    return "".join([f",{k}={v}" for k, v in pairs])  # a list joins faster than a generator


class LineProtocol:
    """Turns a reading and its device into one line of InfluxDB line protocol.

    ``tag_fields``: string fields written as tags (the profile marks them ``tag: true``, e.g.
    the patrol ``worker_id``). ``string_fields``: string fields written as string fields
    (enum-valued ones such as the patrol ``result``); other strings (free text) are skipped.
    Booleans are written as ``0i``/``1i`` so they can be averaged and summed in InfluxQL.
    """

    def __init__(
        self, tag_fields: Collection[str] = (), string_fields: Collection[str] = ()
    ) -> None:
        self._tag_fields = frozenset(tag_fields)
        self._string_fields = frozenset(string_fields)
        # Per grid, then profile, whatever the measurement (a reading's, or device_status):
        # 7.5k in a district of 1k grids. Two lookups of strings whose hash is kept: no key
        # tuple to build and hash per reading.
        self._groups: dict[str, dict[str, _Group]] = {}
        self._measurements: dict[str, str] = {}  # measurement → escaped
        self._keys: dict[str, str] = {}  # field name → its escaped key and "="

    def line(self, reading: Reading, device: Device) -> str | None:
        """The line for this reading, or ``None`` when it has no field InfluxDB can store."""
        fields: list[str] = []
        extra: list[tuple[str, str]] | None = None
        keys = self._keys
        for name, value in reading.fields.items():
            key = keys.get(name)
            if key is None:
                key = keys[name] = escape_key(name) + "="
            # The common types first, by exact type (bool is not an int here).
            if type(value) is float:
                if value - value == 0.0:  # NaN and ±inf have no line-protocol form
                    fields.append(key + repr(value))
            elif type(value) is bool:
                fields.append(key + ("1i" if value else "0i"))
            elif isinstance(value, str):
                if name in self._tag_fields:
                    if value:
                        extra = extra or []
                        extra.append((escape_key(name), escape_key(value)))
                elif name in self._string_fields:
                    fields.append(f'{key}"{escape_string(value)}"')
            else:
                text = _field_value(value)
                if text is not None:
                    fields.append(key + text)
        if not fields:
            return None
        return (
            f"{self._prefix(reading, device, extra)} {','.join(fields)} {round(reading.ts * 1e6)}"
        )

    def _group(self, profile: str, device: Device) -> _Group:
        by_profile = self._groups.get(device.grid)
        if by_profile is None:
            by_profile = self._groups[device.grid] = {}
        group = by_profile.get(profile)
        if group is None or group.community != device.community or group.street != device.street:
            group = by_profile[profile] = _Group.of(
                profile, device.grid, device.community, device.street
            )
        return group

    def _prefix(self, reading: Reading, device: Device, extra: list[tuple[str, str]] | None) -> str:
        """The measurement and the tags: the device's group's, its own, and ``extra``."""
        group = self._group(reading.profile, device)
        measurement = self._measurements.get(reading.measurement)
        if measurement is None:
            measurement = self._measurements[reading.measurement] = escape_measurement(
                reading.measurement
            )
        device_tag = escape_key(device.id)
        if extra is None:
            return f"{measurement}{group.head},device={device_tag}{group.tail}"
        extra.sort()
        if extra[0][0] > group.last:  # the usual case: a worker_id goes after every other tag
            return f"{measurement}{group.head},device={device_tag}{group.tail}{_tags(extra)}"
        own = _Group.pairs(reading.profile, device.grid, device.community, device.street)
        pairs = sorted([*own, ("device", device_tag), *extra])
        return measurement + _tags(pairs)


def _field_value(value: FieldValue) -> str | None:
    if isinstance(value, float):
        # NaN and ±inf have no line-protocol form (inf - inf and nan - nan are NaN).
        return repr(value) if value - value == 0.0 else None
    if isinstance(value, bool):
        return "1i" if value else "0i"
    if isinstance(value, int):
        # One out-of-range integer would make InfluxDB refuse the whole batch.
        return f"{value}i" if _INT64_MIN <= value <= _INT64_MAX else None
    return f'"{escape_string(value)}"'


def field_roles(profiles: Iterable[DeviceProfile]) -> tuple[frozenset[str], frozenset[str]]:
    """``(tag_fields, string_fields)`` for :class:`LineProtocol`, from the device profiles.

    Tag fields are the string fields marked ``tag: true``; string fields are the other
    enum-valued strings (a bounded vocabulary that dashboards can group and count).
    """
    tag_fields: set[str] = set()
    string_fields: set[str] = set()
    for profile in profiles:
        for name, spec in profile.fields.items():
            if spec.type != "str":
                continue
            channels = range(1, (spec.channels or 0) + 1)
            names = [f"{name}_{i}" for i in channels] if spec.channels else [name]
            if spec.tag:
                tag_fields.update(names)
            elif spec.enum:
                string_fields.update(names)
    return frozenset(tag_fields), frozenset(string_fields)
