"""Bad input is refused precisely, counted by reason, and never stops the next valid message."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest

from gateway.metrics import Metrics
from gateway.model import Device, DeviceStatus
from gateway.pipeline import Pipeline
from gateway.profiles import load_profiles
from gateway.tracker import DeviceTracker
from gateway.unregistered import UnregisteredLog
from tests.unit.fakes import DictDirectory, RecordingSink, counter

PROFILES = load_profiles(Path(__file__).resolve().parents[2] / "device_profiles")
T0 = 1767225600.0
SMOKE = Device("sd-1", "smoke-detector", "3F kitchen", "G-0301")
Z2M = Device("z2m-1", "smoke-detector-z2m", "lobby", "G-0301", external_id="lobby-1F")
TAG = Device("tag-1", "nfc-patrol-tag", "exit B", "G-0301", external_id="04:A2:2B:1C:5F:80")
EFM = Device("ef-1", "electrical-fire-monitor", "board 2", "G-0302")


@dataclass
class Harness:
    sink: RecordingSink = field(default_factory=RecordingSink)
    metrics: Metrics = field(default_factory=Metrics)
    tracker: DeviceTracker = field(default_factory=DeviceTracker)
    unregistered: UnregisteredLog = field(default_factory=UnregisteredLog)

    def __post_init__(self) -> None:
        directory = DictDirectory(SMOKE, Z2M, TAG, EFM)
        self.pipeline = Pipeline(
            PROFILES,
            directory,
            [self.sink],
            self.tracker,
            self.unregistered,
            self.metrics,
            max_payload_bytes=1024,
        )


@pytest.fixture
def h() -> Harness:
    return Harness()


def _readings(sink: RecordingSink, measurement: str = "smoke") -> list[dict[str, object]]:
    return [dict(r.fields) for r, _ in sink.points if r.measurement == measurement]


VALID = orjson.dumps({"smoke": True, "battery_pct": 80})

BAD_INPUTS = [
    ("devices/sd-1/up", b'{"smoke": tru', "rejected", "malformed_json"),
    ("devices/sd-1/up", b"[1, 2]", "rejected", "not_an_object"),
    ("devices/sd-1/up", b"x" * 2000, "rejected", "oversize"),
    ("devices/sd-1/up", orjson.dumps({"smoke": "yes"}), "rejected", "no_valid_fields"),
    ("devices/sd-1/up", orjson.dumps({"battery_pct": 101}), "field", "out_of_range"),
    ("devices/sd-1/up", orjson.dumps({"smoke": "yes"}), "field", "wrong_type"),
    ("devices/nobody/up", VALID, "rejected", "unknown_device"),
    ("devices/sd-1/down", VALID, "rejected", "unknown_topic"),
    ("zigbee2mqtt/sd-1", VALID, "rejected", "unknown_device"),
    ("nbiot/ef-1/up", VALID, "rejected", "unknown_device"),
    ("patrol/r1/scan", orjson.dumps({"result": "ok"}), "rejected", "no_device_key"),
    (
        "patrol/r1/scan",
        orjson.dumps({"tag": "sd-1", "result": "ok"}),
        "rejected",
        "topic_not_in_profile",
    ),
]


@pytest.mark.parametrize(("topic", "payload", "kind", "reason"), BAD_INPUTS)
def test_bad_input_is_counted_and_the_next_valid_message_lands(
    h: Harness,
    topic: str,
    payload: bytes,
    kind: str,
    reason: str,
) -> None:
    pipeline, sink, metrics = h.pipeline, h.sink, h.metrics
    metric = (
        "firegrid_messages_rejected_total"
        if kind == "rejected"
        else "firegrid_field_problems_total"
    )
    before = len(_readings(sink))
    pipeline.handle(topic, payload, T0)
    assert counter(metrics, metric, reason=reason) == 1
    assert all(f.get("battery_pct") != 101 for f in _readings(sink))  # nothing invalid stored
    assert pipeline.handle("devices/sd-1/up", VALID, T0 + 1) is not None
    assert _readings(sink)[before:][-1] == {"smoke": True, "battery_pct": 80.0}


def test_valid_fields_beside_an_invalid_one_are_kept(h: Harness) -> None:
    pipeline, metrics = h.pipeline, h.metrics
    reading = pipeline.handle(
        "devices/sd-1/up", orjson.dumps({"smoke": True, "battery_pct": 400}), T0
    )
    assert reading is not None and dict(reading.fields) == {"smoke": True}
    assert counter(metrics, "firegrid_field_problems_total", reason="out_of_range") == 1


def test_unregistered_devices_are_listed_not_stored(h: Harness) -> None:
    pipeline, sink, unregistered = h.pipeline, h.sink, h.unregistered
    for i in range(3):
        pipeline.handle("devices/sd-404/up", VALID, T0 + i)
    assert sink.points == []
    (source,) = unregistered.list()
    assert (source.topic, source.key, source.count) == ("devices/sd-404/up", "sd-404", 3)
    assert (source.first_seen, source.last_seen) == (T0, T0 + 2)
    assert '"smoke":true' in source.sample


def test_device_keys_from_topic_external_id_and_payload(h: Harness) -> None:
    pipeline, sink = h.pipeline, h.sink
    pipeline.handle("zigbee2mqtt/lobby-1F", orjson.dumps({"smoke": True, "battery": 50}), T0)
    scan = {"tag": "04:A2:2B:1C:5F:80", "worker_id": "w1", "result": "hazard"}
    pipeline.handle("patrol/phone-w1/scan", orjson.dumps(scan), T0)
    pipeline.handle("devices/ef-1/up", orjson.dumps({"cable_temp_c": [40.5, 41]}), T0)
    got = {
        (r.device_id, r.measurement): dict(r.fields)
        for r, _ in sink.points
        if r.measurement != "device_status"
    }
    assert got == {
        ("z2m-1", "smoke"): {"smoke": True, "battery_pct": 50.0},
        ("tag-1", "patrol"): {"worker_id": "w1", "result": "hazard"},
        ("ef-1", "electrical"): {"cable_temp_c_1": 40.5, "cable_temp_c_2": 41.0},
    }


def test_accept_hands_the_rules_the_device_each_key_kind_resolved_to(h: Harness) -> None:
    """Gateway.on_message takes the device from here, not from a second registry lookup."""
    scan = {"tag": "04:A2:2B:1C:5F:80", "worker_id": "w1", "result": "ok"}
    for topic, payload, device in (
        ("devices/sd-1/up", VALID, SMOKE),
        ("zigbee2mqtt/lobby-1F", orjson.dumps({"smoke": False}), Z2M),
        ("patrol/phone-w1/scan", orjson.dumps(scan), TAG),
    ):
        accepted = h.pipeline.accept(topic, payload, T0)
        assert accepted is not None and accepted.device is device
        assert accepted.reading.device_id == device.id
    assert h.pipeline.accept("devices/nobody/up", VALID, T0) is None


def test_any_message_is_a_heartbeat_and_status_changes_are_written(h: Harness) -> None:
    pipeline, sink, tracker = h.pipeline, h.sink, h.tracker
    assert tracker.status("sd-1") is DeviceStatus.NEVER_SEEN
    pipeline.handle("devices/sd-1/up", b"{not json", T0)  # unreadable, but the device is alive
    assert tracker.status("sd-1") is DeviceStatus.ONLINE
    gone = tracker.sweep(
        T0 + PROFILES["smoke-detector"].offline_after_s + 1,
        {"sd-1": PROFILES["smoke-detector"].offline_after_s},
    )
    assert gone == ["sd-1"] and tracker.status("sd-1") is DeviceStatus.OFFLINE
    pipeline.handle("devices/sd-1/up", VALID, T0 + 99999)
    status = [
        (r.fields["online"], r.ts) for r, _ in sink.points if r.measurement == "device_status"
    ]
    assert status == [(True, T0), (True, T0 + 99999)]
    state = tracker.get("sd-1")
    assert state is not None and state.latest == {"smoke": True, "battery_pct": 80.0}


def test_the_tracker_hands_over_only_what_changed_since_the_last_save() -> None:
    tracker = DeviceTracker()
    tracker.seen("sd-1", 100.0)
    tracker.seen("sd-2", 100.0)
    assert sorted(tracker.take_changed()) == ["sd-1", "sd-2"]
    assert tracker.take_changed() == []  # nothing heard since
    tracker.update("sd-2", 101.0, {"battery_pct": 80.0})
    assert tracker.take_changed() == ["sd-2"]
    assert tracker.sweep(1000.0, {"sd-1": 60.0}) == ["sd-1"]  # gone offline: a change too
    assert tracker.take_changed() == ["sd-1"]
    gone = tracker.get("sd-1")
    assert gone is not None and not gone.online
    tracker.mark_changed(["sd-1"])  # its save failed
    assert tracker.take_changed() == ["sd-1"]


def test_a_message_with_some_fields_updates_those_and_keeps_the_others() -> None:
    tracker = DeviceTracker()
    tracker.update("ef-1", 100.0, {"voltage_v": 228.4, "current_a": 16.2})
    tracker.update("ef-1", 101.0, {"current_a": 17.0, "arc_fault": True})
    tracker.update("ef-1", 99.0, {"voltage_v": 1.0})  # older than what is held: ignored
    tracker.update("ef-2", 100.0, {"voltage_v": 230.0, "current_a": 3.0})
    one, two = tracker.get("ef-1"), tracker.get("ef-2")
    assert one is not None and two is not None
    assert one.latest == {"voltage_v": 228.4, "current_a": 17.0, "arc_fault": True}
    assert one.latest_ts == 101.0
    assert two.latest == {"voltage_v": 230.0, "current_a": 3.0}


def test_a_sweep_counts_the_status_of_each_device_it_was_given() -> None:
    tracker = DeviceTracker()
    tracker.seen("sd-1", 100.0)  # silent since: goes offline
    tracker.seen("sd-2", 990.0)  # heard recently: stays online
    counts: Counter[DeviceStatus] = Counter()
    gone = tracker.sweep(1000.0, {"sd-1": 60.0, "sd-2": 60.0, "sd-3": 60.0}, counts)
    assert gone == ["sd-1"]
    assert counts == {
        DeviceStatus.OFFLINE: 1,
        DeviceStatus.ONLINE: 1,
        DeviceStatus.NEVER_SEEN: 1,  # registered, never heard
    }
