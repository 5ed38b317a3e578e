"""Device models: what each shipped profile sends, with sensor noise and the odd event.

A model keeps one device's state (battery draining, a cable heating up, a pressure dip in
progress) and turns it into the payload that device's transport really carries: canonical JSON,
Zigbee2MQTT state, or an NB-IoT binary frame built from the profile's layout. Models are keyed
by profile name in :data:`MODELS`; each takes its own seeded random source, so a device behaves
the same whatever else the fleet contains.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

import orjson

from gateway.profiles import BinaryStructCodec, DeviceProfile
from gateway.sim.fleet import SimDevice
from gateway.sim.frames import encode_frame
from gateway.sim.plan import Message, TrafficPlan

BEIJING = timezone(timedelta(hours=8))


class Reporter(Protocol):
    """Anything that reports on a schedule: a device, or a grid worker's phone."""

    key: str  # the TrafficPlan.period_s entry giving its interval

    def report(self, now: float) -> Message: ...


def topic_for(profile: DeviceProfile, device: SimDevice) -> str:
    """The device's uplink topic, preferring its transport's own (``nbiot/{external_id}/up``)."""
    usable = [t for t in profile.topics if "{external_id}" not in t or device.external_id]
    template = min(usable, key=lambda t: "{external_id}" not in t)
    return template.format(device_id=device.id, external_id=device.external_id)


class Spell:
    """An event lasting a few reports once it starts (an alarm, a pressure dip)."""

    def __init__(self, chance: float, lengths: tuple[int, int]) -> None:
        self.chance = chance
        self.lengths = lengths
        self.left = 0

    def step(self, rng: random.Random) -> bool:
        if self.left == 0 and rng.random() < self.chance:
            self.left = rng.randint(*self.lengths)
        if self.left:
            self.left -= 1
            return True
        return False


class _Model:
    def __init__(self, device: SimDevice, profile: DeviceProfile, plan: TrafficPlan) -> None:
        self.key = device.profile
        self.device = device
        self.plan = plan
        self.topic = topic_for(profile, device)
        self.rng = random.Random(f"{device.id}/{device.profile}")
        self.seq = 0

    def _json(self, now: float, body: dict[str, Any]) -> Message:
        self.seq = (self.seq + 1) % 65536
        return Message(self.topic, orjson.dumps({**body, "ts": int(now), "seq": self.seq}))


class SmokeDetector(_Model):
    """独立式光电感烟: heartbeat with battery, an occasional alarm or test-button press."""

    def __init__(self, device: SimDevice, profile: DeviceProfile, plan: TrafficPlan) -> None:
        super().__init__(device, profile, plan)
        self.battery = self.rng.uniform(55, 100)
        self.alarm = Spell(plan.smoke_alarm_chance, (2, 4))

    def flags(self) -> dict[str, bool]:
        self.battery = max(0.0, self.battery - self.rng.uniform(0, 0.02))
        return {
            "smoke": self.alarm.step(self.rng),
            "test": self.rng.random() < self.plan.test_button_chance,
            "battery_low": self.battery < 20,
        }

    def report(self, now: float) -> Message:
        body = {**self.flags(), "fault": False, "tamper": False}
        return self._json(now, {**body, "battery_pct": round(self.battery, 1)})

    # -- what a scenario makes happen (gateway.sim.scenario) --

    def smoke(self, reports: int) -> None:
        """Smoke in the room for the next ``reports`` reports (cooking fumes, or a fire)."""
        self.alarm.left = max(self.alarm.left, reports)

    def drain(self, to_pct: float) -> None:
        """The cell runs down below the 20 % low-battery level."""
        self.battery = min(self.battery, to_pct)

    def replace_battery(self) -> None:
        self.battery = 100.0


class Z2mSmokeDetector(SmokeDetector):
    """Zigbee smoke sensor as Zigbee2MQTT republishes it, ``last_seen`` in ISO 8601."""

    def report(self, now: float) -> Message:
        flags = self.flags()
        body = {
            "smoke": flags["smoke"],
            "battery": round(self.battery),
            "battery_low": flags["battery_low"],
            "tamper": False,
            "linkquality": self.rng.randint(60, 180),
            "last_seen": datetime.fromtimestamp(now, BEIJING).isoformat(timespec="seconds"),
        }
        return Message(self.topic, orjson.dumps(body))


class NbSmokeDetector(SmokeDetector):
    """NB-IoT detector: an 18-byte frame with CRC-16/MODBUS, from the profile's layout."""

    def __init__(self, device: SimDevice, profile: DeviceProfile, plan: TrafficPlan) -> None:
        super().__init__(device, profile, plan)
        assert isinstance(profile.codec, BinaryStructCodec)
        self.codec = profile.codec
        self.base_rsrp = self.rng.uniform(-110, -85)

    def report(self, now: float) -> Message:
        self.seq = (self.seq + 1) % 65536
        fields = {
            **self.flags(),
            "battery_pct": round(self.battery),
            # A 3.6 V Li-SOCl2 cell sags towards 3.3 V as it empties.
            "battery_v": round(3.3 + 0.3 * self.battery / 100, 3),
            "temperature_c": round(self.rng.gauss(21, 0.4), 1),
            "rsrp_dbm": round(self.base_rsrp + self.rng.gauss(0, 2), 1),
        }
        return Message(self.topic, encode_frame(self.codec, fields, now, self.seq))


class ElectricalFireMonitor(_Model):
    """电气火灾监控: leakage current and four cable temperatures; some cables slowly heat up."""

    def __init__(
        self, device: SimDevice, profile: DeviceProfile, plan: TrafficPlan, heating: bool
    ) -> None:
        super().__init__(device, profile, plan)
        self.cables = [self.rng.uniform(28, 38) for _ in range(4)]
        self.leak_ma = self.rng.uniform(20, 80)
        self.heating = heating
        self.rise = 0.0
        self.overheating: tuple[float, float] | None = None  # scripted: (peak °C, °C per report)
        # The building's load (0-1) at a time: current and cable warmth follow it (diurnal).
        self.load: Callable[[float], float] | None = None

    def overheat(self, peak_c: float, rise_c: float) -> None:
        """Cable 2 climbs ``rise_c`` per report to ``peak_c`` and stays there until repaired."""
        self.overheating = (peak_c, rise_c)

    def repair(self) -> None:
        self.overheating = None
        self.rise = 0.0

    def _current(self, load: float) -> float:
        if self.load is None:
            return self.rng.uniform(8, 32)
        return 40 * load * self.rng.uniform(0.9, 1.1)

    def report(self, now: float) -> Message:
        if self.overheating is not None:
            peak, step = self.overheating
            self.rise = min(self.rise + step, peak - self.cables[1])
        elif self.heating:
            # A loose lug heats past the 70 °C insulation limit; at 95 °C an electrician fixes it.
            self.rise = 0.0 if self.rise > 60 else self.rise + self.plan.cable_rise_c
        load = 0.6 if self.load is None else self.load(now)
        warmth = 8 * (load - 0.6)  # loaded cables run a few degrees warmer
        temps = [round(t + warmth + self.rng.gauss(0, 0.3), 1) for t in self.cables]
        temps[1] = round(temps[1] + self.rise, 1)
        return self._json(
            now,
            {
                "residual_current_ma": round(max(0.0, self.rng.gauss(self.leak_ma, 4)), 1),
                "cable_temp_c": temps,
                "voltage_v": round(self.rng.gauss(228, 1.5), 1),
                "current_a": round(self._current(load), 1),
                "arc_fault": self.rng.random() < self.plan.arc_fault_chance,
            },
        )


class WaterPressureSensor(_Model):
    """消防水压: steady pressure with noise, now and then a dip below the 0.10 MPa floor."""

    def __init__(self, device: SimDevice, profile: DeviceProfile, plan: TrafficPlan) -> None:
        super().__init__(device, profile, plan)
        self.base = self.rng.uniform(0.25, 0.45)
        self.dip = Spell(plan.pressure_dip_chance, (3, 6))
        self.battery = self.rng.uniform(60, 100)
        self.lost: float | None = None  # a scripted loss of pressure: the level it falls to

    def lose_pressure(self, to_mpa: float) -> None:
        """A jockey pump trips or a valve is left shut: the pressure stays low until restored."""
        self.lost = to_mpa

    def restore(self) -> None:
        self.lost = None

    def report(self, now: float) -> Message:
        level = self.rng.uniform(0.04, 0.09) if self.dip.step(self.rng) else self.base
        if self.lost is not None:
            level = self.lost
        self.battery = max(0.0, self.battery - 0.01)
        return self._json(
            now,
            {
                # ±0.0015 MPa: a 0.25 %-class transducer. Noisier readings would trip the
                # water-pressure-dropping rate rule (0.05 MPa/min is 0.008 MPa over its 10 s).
                "pressure_mpa": round(max(0.0, self.rng.gauss(level, 0.0015)), 3),
                "battery_pct": round(self.battery, 1),
                "temperature_c": round(self.rng.gauss(16, 0.5), 1),
            },
        )


class WaterLevelSensor(_Model):
    """消防水箱液位: the tank drains slowly and the pump refills it; vendor key ``level``."""

    def __init__(self, device: SimDevice, profile: DeviceProfile, plan: TrafficPlan) -> None:
        super().__init__(device, profile, plan)
        self.level = self.rng.uniform(2.5, 4.0)

    def report(self, now: float) -> Message:
        self.level = 4.0 if self.level < 1.2 else self.level - self.rng.uniform(0, 0.02)
        body = {
            "level": round(self.level + self.rng.gauss(0, 0.005), 3),
            "battery_pct": 88.0,
            "temperature_c": round(self.rng.gauss(12, 0.5), 1),
        }
        return self._json(now, body)


ModelFactory = Callable[[SimDevice, DeviceProfile, TrafficPlan, int], Reporter]

MODELS: Mapping[str, ModelFactory] = {
    "smoke-detector": lambda d, p, plan, n: SmokeDetector(d, p, plan),
    "smoke-detector-z2m": lambda d, p, plan, n: Z2mSmokeDetector(d, p, plan),
    "smoke-detector-nb": lambda d, p, plan, n: NbSmokeDetector(d, p, plan),
    "electrical-fire-monitor": lambda d, p, plan, n: ElectricalFireMonitor(
        d, p, plan, heating=n % plan.hot_cable_every == 0
    ),
    "water-pressure-sensor": lambda d, p, plan, n: WaterPressureSensor(d, p, plan),
    "water-level-sensor": lambda d, p, plan, n: WaterLevelSensor(d, p, plan),
}
