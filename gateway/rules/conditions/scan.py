"""Suspicious patrol scans (可疑巡查): far from the tag, or impossible travel between scans.

Each scan is its own event: every suspicious scan raises an alarm on the tag (the incident
service counts repeats) and none is ever cleared by the engine — the grid leader looks into
it. Impossible travel compares a worker's consecutive scans, so its state is keyed by worker
(``worker:<id>``), not by tag.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Self

from gateway.model import Device, FieldValue, Reading
from gateway.rules.base import Context, Detail, DeviceRule, RuleMeta, State
from gateway.rules.conditions.predicates import NUMBER
from gateway.rules.outcomes import Outcome
from gateway.rules.params import Param

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG)


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _position(fields: Mapping[str, FieldValue]) -> tuple[float, float] | None:
    lat, lon = fields.get("lat"), fields.get("lon")
    if isinstance(lat, NUMBER) and isinstance(lon, NUMBER):
        return float(lat), float(lon)
    return None


class ScanDistanceRule(DeviceRule):
    def __init__(self, meta: RuleMeta, max_m: Param) -> None:
        super().__init__(meta)
        self.max_m = max_m

    def on_reading(
        self,
        ctx: Context,
        reading: Reading,
        device: Device,
        states: Mapping[str, State] | None,
        t: float,
        out: list[Outcome],
    ) -> None:
        scan = _position(reading.fields)
        tag_lat, tag_lon = device.lat, device.lon
        if scan is None or tag_lat is None or tag_lon is None:
            return
        distance = haversine_m(scan[0], scan[1], tag_lat, tag_lon)
        limit = self.max_m.value(device)
        if distance <= limit:
            return
        detail: Detail = {
            "distance_m": round(distance, 1),
            "max_distance_m": limit,
            "lat": scan[0],
            "lon": scan[1],
            "tag_lat": tag_lat,
            "tag_lon": tag_lon,
        }
        self.meta.copy_fields(reading.fields, detail)
        test = ctx.is_test(device.id, reading.fields)
        ctx.alarm(self.meta, device.id, device, t, detail, test, out)


class WorkerState(State):
    """A worker's latest scan: when, where, which tag."""

    __slots__ = ("lat", "lon", "tag", "ts")

    def __init__(self, ts: float, lat: float, lon: float, tag: str) -> None:
        self.ts, self.lat, self.lon, self.tag = ts, lat, lon, tag

    def dump(self) -> Any:
        return [self.ts, self.lat, self.lon, self.tag]

    @classmethod
    def load(cls, data: Any) -> Self:
        return cls(*data)


class TravelRule(DeviceRule):
    """Scan position from the phone when reported, else the tag's registered position."""

    def __init__(self, meta: RuleMeta, max_speed_kmh: Param, min_distance_m: float) -> None:
        super().__init__(meta)
        self.max_speed_kmh = max_speed_kmh
        self.min_distance_m = min_distance_m

    def on_reading(
        self,
        ctx: Context,
        reading: Reading,
        device: Device,
        states: Mapping[str, State] | None,
        t: float,
        out: list[Outcome],
    ) -> None:
        worker = reading.fields.get("worker_id")
        here = _position(reading.fields)
        if here is None and device.lat is not None and device.lon is not None:
            here = device.lat, device.lon
        if not isinstance(worker, str) or not worker or here is None:
            return
        group, key = ctx.group(self.meta.id), "worker:" + worker
        last = group.get(key)
        if isinstance(last, WorkerState) and t < last.ts:
            return  # a late upload of an older scan: the order of scans is what we judge
        group[key] = WorkerState(t, here[0], here[1], device.id)
        # Soft: a crash losing it skips one travel check, it never raises a false one.
        ctx.touch_group(key, soft=True)
        if not isinstance(last, WorkerState) or last.tag == device.id:
            return
        distance = haversine_m(last.lat, last.lon, here[0], here[1])
        if distance < self.min_distance_m:
            return
        elapsed = t - last.ts
        limit = self.max_speed_kmh.value(device)
        speed_kmh = math.inf if elapsed <= 0 else distance / elapsed * 3.6
        if speed_kmh <= limit:
            return
        detail: Detail = {
            "worker_id": worker,
            "from_tag": last.tag,
            "distance_m": round(distance, 1),
            "seconds": elapsed,
            "speed_kmh": None if math.isinf(speed_kmh) else round(speed_kmh, 1),
            "max_speed_kmh": limit,
        }
        self.meta.copy_fields(reading.fields, detail)
        test = ctx.is_test(device.id, reading.fields)
        ctx.alarm(self.meta, device.id, device, t, detail, test, out)
