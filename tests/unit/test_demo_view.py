"""The demo's incident panel and event log, from the real incident service: the panel from its
open incidents, the log from the lifecycle events it writes to ``grid/incidents/+/events``."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest
from rich.console import Console

from gateway.demo.console import layout, render
from gateway.demo.feed import IncidentFeed
from gateway.demo.snapshot import Snapshot, rung_of, summary_lines, take
from gateway.incidents.service import IncidentService
from gateway.metrics import Metrics
from gateway.profiles import DeviceProfile
from gateway.registry import Registry
from gateway.rules.outcomes import Clear, IncidentKind
from gateway.tracker import DeviceTracker
from tests.fixtures.registry import PROFILES
from tests.unit.test_sim_support import World, world


@pytest.fixture
async def w(tmp_path: Path) -> AsyncIterator[World]:
    async with world(tmp_path) as opened:
        yield opened


class Gateway:
    """What the view reads from a running gateway, over the test world."""

    def __init__(self, w: World) -> None:
        self.registry: Registry = w.access.registry
        self.tracker = DeviceTracker()
        self.metrics = Metrics()
        self.profiles: Mapping[str, DeviceProfile] = PROFILES
        self.incidents: IncidentService = w.service

    def health(self) -> dict[str, dict[str, object]]:
        return {"mqtt": {"ok": True, "detail": "connected"}}


def feed_for(w: World) -> IncidentFeed:
    return IncidentFeed(rung_of(w.access.registry), clock=w.clock)


def texts(feed: IncidentFeed) -> list[str]:
    return [line.text for line in feed.lines]


async def test_the_log_follows_an_incident_from_dispatch_to_closure(w: World) -> None:
    feed = feed_for(w)
    async with w.crew() as crew:
        fire = await w.alarm("sd-0101")
        await w.until(w.closed(fire), "closed", crew.receive, feed.receive)
    await w.deliver(feed.receive)  # the closing event, written after the last delivery
    head = f"INC-…{fire[-5:]} fire sd-0101 "
    assert [t.removeprefix(head) for t in texts(feed)] == [
        "dispatched → w-001 + station ms-1 (111 m) · smoke-fire",
        "accepted by w-001",
        "on site: w-001",
        "handled by w-001: false_alarm",
        "verified by duty-officer",
        "closed: false_alarm",
    ]
    counts = feed.counts()
    assert (counts.opened, counts.dispatched, counts.escalated) == (1, 1, 0)
    assert counts.closed == {"false_alarm": 1}


async def test_an_escalation_names_the_rung_it_went_to(w: World) -> None:
    feed = feed_for(w)
    await w.alarm("sd-0102")
    w.clock.now += 61
    await w.service.tick()
    await w.deliver(feed.receive)
    [escalated] = [t for t in texts(feed) if "escalated" in t]
    assert escalated.endswith("escalated → leader w-101: accept time limit missed at the worker")
    assert feed.counts().escalated == 1


async def test_a_recovered_incident_says_its_clear_rule_closed_it(w: World) -> None:
    feed = feed_for(w)
    await w.alarm("sd-0101", "smoke-low-battery", IncidentKind.LOW_BATTERY)
    await w.service.apply([Clear("smoke-low-battery", "sd-0101", w.clock.now)])
    await w.deliver(feed.receive)
    assert texts(feed)[-1].endswith("closed: recovered (the value came back: clear rule)")
    assert feed.counts().closed == {"recovered": 1}


async def test_a_redelivered_event_is_shown_and_counted_once(w: World) -> None:
    feed = feed_for(w)
    await w.alarm("sd-0101", test=True)
    rows = await w.store.due("mqtt", w.clock.now, 100)
    for _ in range(2):  # at least once: the broker may hand the same event over again
        for row in rows:
            feed.receive(row.topic, row.body)
    assert [t.split(" ", 3)[-1] for t in texts(feed)] == ["self-test: for the installer only"]
    assert (feed.counts().tests, feed.counts().opened) == (1, 0)


async def test_a_frame_shows_the_open_incidents_the_event_log_and_the_counts(w: World) -> None:
    feed = feed_for(w)
    fire = await w.alarm("sd-0101")
    await w.alarm("sd-0102", "smoke-low-battery", IncidentKind.LOW_BATTERY)
    await w.deliver(feed.receive)
    feed.note("smoke (cooking fumes): sd-0101 (3号楼9层厨房)")
    w.clock.now += 12
    snap = take(Gateway(w), w.clock.now, feed)

    console = Console(record=True, width=160, height=50, color_system=None)
    console.print(render(snap, published=0, title="firegrid demo", height=50))
    frame = console.export_text()

    assert "incidents 2 open: dispatched=2" in frame
    fire_row = next(line for line in frame.splitlines() if f"…{fire[-5:]}" in line)
    for cell in ("critical", "fire", "sd-0101", "G-0101", "dispatched", "12 s", "w-001 + station"):
        assert cell in fire_row, fire_row
    rows = [line for line in frame.splitlines() if re.search(r"…\w{5} ", line)]
    assert "critical" in rows[0] and "warning" in rows[1], "most urgent first"
    assert "event log" in frame and "sim  smoke (cooking fumes): sd-0101" in frame
    assert re.search(r"incidents\s+2 opened, 2 dispatched, 0 escalated", frame)


async def test_the_summary_lines_count_this_runs_incidents(w: World) -> None:
    feed = feed_for(w)
    await w.alarm("sd-0101", "smoke-low-battery", IncidentKind.LOW_BATTERY)
    await w.alarm("sd-0102")
    await w.service.apply([Clear("smoke-low-battery", "sd-0101", w.clock.now)])
    await w.deliver(feed.receive)
    lines = summary_lines(take(Gateway(w), w.clock.now, feed), published=0)
    assert lines[-2:] == (
        "incidents: 2 opened, 2 dispatched, 0 escalated, 0 self-tests; open: dispatched=1",
        "closed: recovered=1",
    )


def test_without_a_feed_the_snapshot_has_no_events_and_no_run_counts() -> None:
    snap = Snapshot((), 0, {}, {}, {}, {}, {})
    assert snap.events == () and snap.run.opened == 0 and snap.open_by_status == {}


@pytest.mark.parametrize(
    ("height", "devices", "incidents", "log"),
    [(24, 3, 2, 2), (50, 14, 7, 7), (80, 42, 8, 8)],  # small: the minimums; big: devices grow
)
def test_the_view_fits_the_terminal(height: int, devices: int, incidents: int, log: int) -> None:
    assert layout(height) == (devices, incidents, log)
