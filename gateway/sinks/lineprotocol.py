"""InfluxDB line protocol for readings: the hot path of every time-series write.

One reading becomes one line::

    smoke,device=sd-1,grid=G-0301,profile=smoke-detector smoke=1i,battery_pct=87i 1767225600000000

Tags are sorted by key (what InfluxDB stores anyway, so it does no re-sorting) and empty
values are left out (line protocol has no empty tag). The device's part of the line is
cached per device, so a reading costs one dict lookup plus its fields.
Timestamps are microseconds: every write says ``precision=u`` (v1) / ``us`` (v2).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from gateway.model import Device, FieldValue, Reading
from gateway.profiles import DeviceProfile

# Newlines and tabs would end the line or be taken as separators; write them as visible
# escapes (what Telegraf does) rather than lose the point.
_CONTROL = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_MEASUREMENT = str.maketrans({",": "\\,", " ": "\\ ", **_CONTROL})
_KEY = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ ", **_CONTROL})
_STRING = str.maketrans({'"': '\\"', "\\": "\\\\", **_CONTROL})
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def escape_key(text: str) -> str:
    """A tag key, tag value or field key."""
    escaped = text.translate(_KEY)
    # A trailing backslash would escape the separator after it; doubling it keeps the line
    # parseable (InfluxDB then stores the doubled backslash).
    return escaped + "\\" if escaped.endswith("\\") else escaped


def escape_measurement(text: str) -> str:
    return text.translate(_MEASUREMENT)


def escape_string(text: str) -> str:
    """A string field value, without the surrounding quotes."""
    return text.translate(_STRING)


class _DeviceTags:
    """The device's part of a line, computed once per device (and per measurement/profile).

    Patrol scans add the scanning worker as a tag: the prefix with the last such extra set is
    kept too, since one worker usually scans a tag many times in a row.
    """

    __slots__ = ("device", "extra", "extra_prefix", "measurement", "prefix", "profile")

    def __init__(self, device: Device, measurement: str, profile: str) -> None:
        self.device = device
        self.measurement = measurement
        self.profile = profile
        self.prefix = _prefix(measurement, self.pairs())
        self.extra: list[tuple[str, str]] | None = None
        self.extra_prefix = ""

    def pairs(self) -> list[tuple[str, str]]:
        d = self.device
        tags = {
            "community": d.community,
            "device": d.id,
            "grid": d.grid,
            "profile": self.profile,
            "street": d.street,
        }
        return [(k, escape_key(v)) for k, v in sorted(tags.items()) if v]

    def with_extra(self, extra: list[tuple[str, str]]) -> str:
        if extra != self.extra:
            self.extra = extra
            self.extra_prefix = _prefix(self.measurement, sorted(self.pairs() + extra))
        return self.extra_prefix


def _prefix(measurement: str, pairs: list[tuple[str, str]]) -> str:
    return escape_measurement(measurement) + "".join(f",{k}={v}" for k, v in pairs)


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
        self._devices: dict[str, _DeviceTags] = {}
        self._keys: dict[str, str] = {}  # field name → its escaped key and "="

    def line(self, reading: Reading, device: Device) -> str | None:
        """The line for this reading, or ``None`` when it has no field InfluxDB can store."""
        tags = self._device_tags(reading, device)
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
        prefix = tags.prefix if extra is None else tags.with_extra(extra)
        return f"{prefix} {','.join(fields)} {round(reading.ts * 1e6)}"

    def _device_tags(self, reading: Reading, device: Device) -> _DeviceTags:
        tags = self._devices.get(device.id)
        if (
            tags is None
            or tags.device is not device
            or tags.measurement != reading.measurement
            or tags.profile != reading.profile
        ):
            tags = self._devices[device.id] = _DeviceTags(
                device, reading.measurement, reading.profile
            )
        return tags

    def forget(self, device_id: str) -> None:
        """Drop a removed device's cached tags."""
        self._devices.pop(device_id, None)


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
