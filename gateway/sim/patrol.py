"""Grid workers (网格员) on patrol: each walks the NFC tags (消防巡查标签) of their own grid and
scans them with a phone, which reports on ``patrol/{reader_id}/scan``."""

from __future__ import annotations

import random

import orjson

from gateway.sim.district import District
from gateway.sim.fleet import SimDevice
from gateway.sim.plan import PATROL, Message, TrafficPlan

HAZARDS = (
    "安全出口被杂物堵塞 exit blocked",
    "灭火器压力不足 extinguisher under-pressure",
    "电动自行车楼道充电 e-bike charging in the stairwell",
    "消防车通道被占用 fire lane blocked",
    "消火栓箱门损坏 hydrant cabinet door broken",
)
SCAN_JITTER_DEG = 0.00005  # about 5 m: a phone's GPS beside the tag


class PatrolWorker:
    """One worker's round: the tags of their grid in order, over and over."""

    key = PATROL

    def __init__(self, worker_id: str, tags: list[SimDevice], plan: TrafficPlan) -> None:
        self.worker_id = worker_id
        self.tags = tags
        self.plan = plan
        self.topic = f"patrol/phone-{worker_id}/scan"
        self.rng = random.Random(f"{worker_id}/patrol")
        self.next = 0

    def report(self, now: float) -> Message:
        tag = self.tags[self.next % len(self.tags)]
        self.next += 1
        lat, lon = tag.location.lat or 0.0, tag.location.lon or 0.0
        scan: dict[str, object] = {
            "tag": tag.external_id or tag.id,
            "worker_id": self.worker_id,
            "ts": int(now),
            "lat": round(lat + self.rng.uniform(-SCAN_JITTER_DEG, SCAN_JITTER_DEG), 6),
            "lon": round(lon + self.rng.uniform(-SCAN_JITTER_DEG, SCAN_JITTER_DEG), 6),
            "result": "ok",
        }
        if self.rng.random() < self.plan.hazard_chance:
            scan |= {"result": "hazard", "note": self.rng.choice(HAZARDS)}
        return Message(self.topic, orjson.dumps(scan))


def patrol_rounds(
    district: District, fleet: list[SimDevice], plan: TrafficPlan
) -> list[PatrolWorker]:
    """A round for each grid worker whose grid has tags."""
    tags_by_grid: dict[str, list[SimDevice]] = {}
    for device in fleet:
        if device.profile == "nfc-patrol-tag":
            tags_by_grid.setdefault(device.grid, []).append(device)
    return [
        PatrolWorker(unit.grid.worker_id, tags_by_grid[unit.grid.code], plan)
        for unit in district.base_grids()
        if unit.grid.worker_id and unit.grid.code in tags_by_grid
    ]
