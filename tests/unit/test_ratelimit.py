"""A flooding detector is throttled and counted; its neighbours' alarms pass untouched."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from gateway.metrics import Metrics
from gateway.model import Device
from gateway.pipeline import Pipeline
from gateway.profiles import load_profiles
from gateway.ratelimit import DEFAULT_BURST, DeviceRateLimit
from gateway.tracker import DeviceState, DeviceTracker
from gateway.unregistered import UnregisteredLog
from tests.unit.fakes import DictDirectory, RecordingSink, counter

PROFILES = load_profiles(Path(__file__).resolve().parents[2] / "device_profiles")
T0 = 1767225600.0
FLOODER = Device("sd-flood", "smoke-detector", "3F kitchen", "G-0101")
NEIGHBOUR = Device("sd-quiet", "smoke-detector", "3F hall", "G-0101")
TAG = Device("tag-1", "nfc-patrol-tag", "exit B", "G-0101", external_id="04:A2:2B:1C:5F:80")


def test_a_full_bucket_lets_a_burst_through_then_holds_the_device_to_its_rate() -> None:
    limit, sd1 = DeviceRateLimit(rate_per_s=2.0, burst=5), DeviceState()
    assert [limit.allow(sd1, T0) for _ in range(7)] == [True] * 5 + [False] * 2
    assert limit.allow(sd1, T0 + 0.4) is False  # 0.8 of a token is not a message
    assert limit.allow(sd1, T0 + 0.5) is True  # one token after half a second at 2/s
    assert limit.allow(sd1, T0 + 0.5) is False
    # A long silence refills the bucket to its size, never beyond it.
    assert [limit.allow(sd1, T0 + 3600) for _ in range(6)] == [True] * 5 + [False]


def test_each_device_has_its_own_bucket() -> None:
    limit, sd1, sd2 = DeviceRateLimit(rate_per_s=1.0, burst=3), DeviceState(), DeviceState()
    assert [limit.allow(sd1, T0) for _ in range(4)] == [True, True, True, False]
    assert [limit.allow(sd2, T0) for _ in range(3)] == [True, True, True]


def test_a_device_in_debt_keeps_it_and_a_quiet_one_is_full_again() -> None:
    limit = DeviceRateLimit(rate_per_s=1.0, burst=3)
    flood, quiet = DeviceState(), DeviceState()
    assert [limit.allow(flood, T0) for _ in range(4)] == [True, True, True, False]
    assert limit.allow(quiet, T0) is True
    assert limit.allow(flood, T0 + 1.5) is True  # still in debt: 1.5 tokens, not 3
    assert limit.allow(flood, T0 + 1.5) is False
    assert [limit.allow(quiet, T0 + 1.5) for _ in range(4)] == [True, True, True, False]


def test_the_bucket_lives_on_the_devices_state_and_a_restart_starts_it_full() -> None:
    """No dict of buckets to look up per message or to sweep: the number sits on the state
    every message reaches, and a state restored from the database has a full bucket."""
    limit, tracker = DeviceRateLimit(rate_per_s=1.0, burst=2), DeviceTracker()
    state = tracker.state("sd-1")
    assert [limit.allow(state, T0) for _ in range(3)] == [True, True, False]
    assert tracker.state("sd-1") is state and state.full_at > T0
    tracker.restore("sd-1", DeviceState(last_seen=T0, online=True))
    assert [limit.allow(tracker.state("sd-1"), T0) for _ in range(3)] == [True, True, False]


def test_a_clock_stepped_backwards_refills_nothing() -> None:
    limit, sd1 = DeviceRateLimit(rate_per_s=1.0, burst=2), DeviceState()
    assert [limit.allow(sd1, T0) for _ in range(3)] == [True, True, False]
    assert limit.allow(sd1, T0 - 100) is False  # NTP stepped back: no free tokens
    assert limit.allow(sd1, T0 + 1) is True  # and the refill resumes from the last time


def test_a_quiet_device_passes_a_clock_stepped_back_by_less_than_its_bucket() -> None:
    limit, sd1 = DeviceRateLimit(rate_per_s=2.0, burst=600), DeviceState()  # 300 s of refill
    assert limit.allow(sd1, T0) is True
    # NTP steps back a minute: the 599 tokens left pass but the 120 the minute would refill.
    assert [limit.allow(sd1, T0 - 60) for _ in range(479)] == [True] * 479
    assert limit.allow(sd1, T0 - 60) is False


@pytest.mark.parametrize(("rate", "burst"), [(0, 10), (-1, 10), (1, 0.5)])
def test_a_limit_that_would_let_nothing_through_is_refused(rate: float, burst: float) -> None:
    with pytest.raises(ValueError, match="rate_per_s"):
        DeviceRateLimit(rate, burst)


def _pipeline(limit: DeviceRateLimit | None) -> tuple[Pipeline, RecordingSink, Metrics]:
    sink, metrics = RecordingSink(), Metrics()
    pipeline = Pipeline(
        PROFILES,
        DictDirectory(FLOODER, NEIGHBOUR, TAG),
        [sink],
        DeviceTracker(),
        UnregisteredLog(),
        metrics,
        rate_limit=limit,
    )
    return pipeline, sink, metrics


def _smoke(device: Device, seq: int) -> tuple[str, bytes]:
    return f"devices/{device.id}/up", orjson.dumps({"smoke": seq % 2 == 0, "seq": seq})


def test_a_flooding_device_is_throttled_and_counted_while_its_neighbour_loses_nothing() -> None:
    pipeline, sink, metrics = _pipeline(DeviceRateLimit(rate_per_s=2.0, burst=10))
    kept = {FLOODER.id: 0, NEIGHBOUR.id: 0}
    # Ten seconds: the flooder sends 100 messages a second, the neighbour one a second.
    for tick in range(1000):
        now = T0 + tick / 100
        for device in [FLOODER] + ([NEIGHBOUR] if tick % 100 == 0 else []):
            if pipeline.handle(*_smoke(device, tick), now) is not None:
                kept[device.id] += 1
    assert kept[NEIGHBOUR.id] == 10  # every one of its messages
    assert 10 + 2 * 9 <= kept[FLOODER.id] <= 10 + 2 * 10  # the burst, then 2 a second
    throttled = 1000 - kept[FLOODER.id]
    assert counter(metrics, "firegrid_messages_throttled_total", device=FLOODER.id) == throttled
    assert counter(metrics, "firegrid_messages_throttled_total", device=NEIGHBOUR.id) == 0
    assert counter(metrics, "firegrid_messages_rejected_total", reason="rate_limited") == throttled
    # Nothing throttled reached the sink: a flood costs no database writes.
    stored = [r for r, _ in sink.points if r.measurement == "smoke"]
    assert len(stored) == kept[FLOODER.id] + kept[NEIGHBOUR.id]


def test_the_patrol_tag_named_in_a_scan_is_what_is_limited() -> None:
    pipeline, _, metrics = _pipeline(DeviceRateLimit(rate_per_s=1.0, burst=2))
    scan = orjson.dumps({"tag": TAG.external_id, "worker_id": "w-001", "result": "ok"})
    results = [pipeline.handle("patrol/w-001/scan", scan, T0) for _ in range(3)]
    assert [r is not None for r in results] == [True, True, False]
    assert counter(metrics, "firegrid_messages_throttled_total", device=TAG.id) == 1


def test_by_default_a_replayed_backlog_passes_and_a_flood_does_not() -> None:
    """The default burst lets a broker replay a device's queued messages after a gateway
    restart (the restart drill counts 500); a flood beyond it is cut."""
    pipeline, _, metrics = _pipeline(None)
    results = [pipeline.handle(*_smoke(FLOODER, n), T0) for n in range(int(DEFAULT_BURST) + 50)]
    assert sum(r is not None for r in results) == DEFAULT_BURST
    assert counter(metrics, "firegrid_messages_throttled_total", device=FLOODER.id) == 50
