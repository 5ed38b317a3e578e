"""Liveness and latest values: what the REST API shows after any mix of messages."""

from __future__ import annotations

import sys

from gateway.model import DeviceStatus
from gateway.tracker import DeviceState, DeviceTracker
from tests.fixtures.memory import rss_mib

T0 = 1767225600.0


def test_latest_values_keep_their_types_exactly() -> None:
    tracker = DeviceTracker()
    tracker.seen("ef-1", T0)
    fields = {"smoke": True, "battery_pct": 87, "cable_temp_c_1": 31.2, "state": "ok", "z": 0.0}
    tracker.update("ef-1", T0, fields)
    state = tracker.get("ef-1")
    assert state is not None and state.online and state.last_seen == T0
    latest = state.latest
    assert latest == fields
    assert [type(v) for v in latest.values()] == [bool, int, float, str, float]
    assert tracker.status("ef-1") is DeviceStatus.ONLINE


def test_a_partial_message_keeps_the_fields_it_lacks_and_older_readings_change_nothing() -> None:
    tracker = DeviceTracker()
    tracker.update("ef-1", T0, {"residual_current_ma": 12.5, "cable_temp_c_1": 31.2})
    tracker.update("ef-1", T0 + 1, {"cable_temp_c_1": 40.0})
    tracker.update("ef-1", T0 - 5, {"residual_current_ma": 99.0})  # late: older than the latest
    state = tracker.get("ef-1")
    assert state is not None and state.latest_ts == T0 + 1
    assert state.latest == {"residual_current_ma": 12.5, "cable_temp_c_1": 40.0}


def test_values_are_held_compactly_and_an_integer_beyond_64_bits_exactly() -> None:
    names = [f"cable_temp_c_{i}" for i in range(1, 9)]
    state = DeviceState(latest=dict(zip(names, [31.25 + i for i in range(8)], strict=True)))
    as_objects = sys.getsizeof(tuple(range(8))) + 8 * sys.getsizeof(31.25)
    assert sys.getsizeof(state._values) < as_objects / 2
    huge = DeviceState(latest={"count": 2**70, "ok": True})
    assert huge.latest == {"count": 2**70, "ok": True}
    huge.merge({"ok": False})
    assert huge.latest == {"count": 2**70, "ok": False}


def test_devices_reporting_the_same_fields_share_one_names_tuple() -> None:
    a, b = DeviceState(latest={"smoke": False, "fault": False}), DeviceState()
    b.merge({"smoke": True, "fault": False})
    assert a._names is b._names


def test_twenty_thousand_devices_latest_values_cost_megabytes_not_a_buffer_each() -> None:
    """orjson's bytes are each a 4 KiB buffer shrunk in place, which the C allocator cannot
    reuse: kept per device they would cost ~80 MiB here (measured), the text ~2."""
    before = rss_mib()
    states = [
        DeviceState(latest={"smoke": False, "battery_pct": 87 + i % 9}) for i in range(20_000)
    ]
    assert rss_mib() - before < 20
    assert len(states) == 20_000
