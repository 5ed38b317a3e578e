"""The points the dashboards read besides readings: incident transitions, positions, gateway."""

from __future__ import annotations

from dataclasses import replace

from gateway.config import Settings
from gateway.dashboards.points import TAG_FIELDS, incident_point, position, sink_field_roles
from gateway.incidents import Incident, Outcome, Status, Transition
from gateway.metrics import Metrics
from gateway.model import Device, Location
from gateway.profiles import load_profiles
from gateway.rules.outcomes import IncidentKind, Severity
from gateway.selfmetrics import SelfMetrics, gateway_device, snapshot
from gateway.sinks.lineprotocol import LineProtocol
from tests.unit.fakes import RecordingSink

OPENED = 1_767_225_600.0
DETECTOR = Device(
    "sd-1",
    "smoke-detector",
    "3F",
    "G-0301",
    Location("", "B1", "3", 31.2, 121.5),
    None,
    {},
    "C-03",
    "S-01",
)


def fire(**changes: object) -> Incident:
    incident = Incident(
        id="INC-1",
        rule_id="smoke",
        subject="sd-1",
        device_id="sd-1",
        kind=IncidentKind.FIRE,
        severity=Severity.CRITICAL,
        title="Smoke",
        grid="G-0301",
        status=Status.REPORTED,
        opened_at=OPENED,
        last_seen=OPENED,
        location=DETECTOR.location,
        community="C-03",
        street="S-01",
        worker_id="w-0301",
    )
    return replace(incident, **changes)


def fields(incident: Incident, event: str, at: float = OPENED, actor: str = "system") -> dict:
    point = incident_point(Transition(incident, event, at, actor), DETECTOR)
    assert point is not None
    reading, device = point
    assert (reading.measurement, device.grid, device.community, device.street) == (
        "incident",
        "G-0301",
        "C-03",
        "S-01",
    )
    return dict(reading.fields)


def test_an_alarm_opens_one_incident_and_counts_one_alarm() -> None:
    opened = fields(fire(), "reported")
    assert opened == {
        "kind": "fire",
        "severity": "critical",
        "transition": "reported",
        "worker_id": "w-0301",
        "count": 1,
        "escalation_level": 0,
        "alarm": 1,
        "open_delta": 1,
        "lat": 31.2,
        "lon": 121.5,
    }
    assert fields(fire(count=2), "repeat")["alarm"] == 1
    assert "alarm" not in fields(fire(), "dispatched")


def test_each_step_carries_its_seconds_from_opening_once() -> None:
    accepted = fire(status=Status.ACCEPTED, accepted_at=OPENED + 40)
    assert fields(accepted, "accepted", OPENED + 40)["seconds_to_accept"] == 40
    # Arriving without an ack implies acceptance at that moment: both times are written.
    arrived = fire(status=Status.ON_SITE, accepted_at=OPENED + 90, on_site_at=OPENED + 90)
    step = fields(arrived, "on_site", OPENED + 90)
    assert (step["seconds_to_accept"], step["seconds_to_arrive"]) == (90, 90)
    later = replace(arrived, handled_at=OPENED + 600, status=Status.HANDLED)
    handled = fields(later, "handled", OPENED + 600)
    assert handled["seconds_to_handle"] == 600
    assert "seconds_to_accept" not in handled and "seconds_to_arrive" not in handled


def test_on_time_is_judged_once_late_at_the_first_missed_limit_else_when_handled() -> None:
    assert fields(fire(handled_at=OPENED + 60), "handled", OPENED + 60)["on_time"] == 1
    missed = fire(status=Status.ESCALATED, breaches=["accept"], escalation_level=1)
    assert fields(missed, "escalated", OPENED + 61)["on_time"] == 0
    by_hand = fields(missed, "escalated", OPENED + 61, actor="w-0301")
    assert "on_time" not in by_hand
    twice = replace(missed, breaches=["accept", "accept"])
    assert "on_time" not in fields(twice, "escalated", OPENED + 200)
    late_handled = replace(missed, handled_at=OPENED + 300)
    assert "on_time" not in fields(late_handled, "handled", OPENED + 300)
    recovered = fire(status=Status.CLOSED, outcome=Outcome.RECOVERED)
    assert "on_time" not in fields(recovered, "closed")


def test_closing_removes_it_from_the_open_count_and_says_if_it_was_a_false_alarm() -> None:
    closed = fire(status=Status.CLOSED, handled_at=OPENED + 60, outcome=Outcome.FALSE_ALARM)
    step = fields(closed, "closed", OPENED + 900)
    assert (step["open_delta"], step["false_alarm"], step["outcome"]) == (-1, 1, "false_alarm")
    fixed = replace(closed, outcome=Outcome.HAZARD_FIXED)
    assert fields(fixed, "closed", OPENED + 900)["false_alarm"] == 0


def test_test_incidents_stay_out_of_the_dashboards() -> None:
    assert incident_point(Transition(fire(test=True), "reported", OPENED, "system"), None) is None


def test_the_sink_writes_the_incidents_words_as_tags() -> None:
    tags, strings = sink_field_roles(load_profiles(Settings().profiles_dir).values())
    assert tags >= TAG_FIELDS
    point = incident_point(Transition(fire(), "reported", OPENED, "system"), DETECTOR)
    assert point is not None
    line = LineProtocol(tags, strings).line(*point)
    assert line == (
        "incident,community=C-03,device=sd-1,grid=G-0301,kind=fire,profile=smoke-detector,"
        "severity=critical,street=S-01,transition=reported,worker_id=w-0301 "
        "count=1i,escalation_level=0i,alarm=1i,open_delta=1i,lat=31.2,lon=121.5 "
        "1767225600000000"
    )


def test_a_device_status_point_carries_the_position_when_the_device_has_one() -> None:
    assert position(DETECTOR) == {"lat": 31.2, "lon": 121.5}
    assert position(DETECTOR.replace(location=Location())) == {}


def test_the_gateway_registry_becomes_one_point_per_label_set() -> None:
    metrics = Metrics()
    metrics.messages.inc(5)
    metrics.rejected.labels("bad_json").inc(2)
    metrics.sink_write_seconds.labels("influxdb").observe(0.25)
    points = snapshot(metrics.registry, gateway_device("gw-1"), 100.0)
    by_tags = {
        tuple((k, v) for k, v in r.fields.items() if isinstance(v, str)): r.fields
        for r, _ in points
    }
    assert by_tags[()]["messages_received_total"] == 5.0
    assert by_tags[(("reason", "bad_json"),)]["messages_rejected_total"] == 2.0
    sink = by_tags[(("sink", "influxdb"),)]
    assert (sink["sink_write_seconds_sum"], sink["sink_write_seconds_count"]) == (0.25, 1.0)
    assert not any(name.endswith(("_bucket", "_created")) for f in by_tags.values() for name in f)
    reading, device = points[0]
    assert (reading.measurement, reading.ts, device.id, device.profile) == (
        "gateway",
        100.0,
        "gw-1",
        "firegrid-gateway",
    )


async def test_self_metrics_write_a_snapshot_to_every_sink() -> None:
    metrics, sink = Metrics(), RecordingSink()
    metrics.mqtt_connected.set(1)
    written = await SelfMetrics(metrics.registry, [sink], "gw-1", lambda: 42.0).write()
    assert written == len(sink.points) > 0
    assert {r.ts for r, _ in sink.points} == {42.0}
    assert any(r.fields.get("mqtt_connected") == 1.0 for r, _ in sink.points)
