"""The demo's terminal view: a live table (rich ``Live``) or, off a terminal, plain summary lines.

Both read a :class:`~gateway.demo.snapshot.Snapshot` of the in-process gateway about once a
second: devices, then the open incidents and the event log, then the counters. The view is
capped to the terminal's height so a large fleet or a burst of incidents does not scroll it away.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from gateway.demo.feed import IncidentFeed
from gateway.demo.panel import event_log, incident_heading, incident_table
from gateway.demo.snapshot import (
    Snapshot,
    Watched,
    health_text,
    incidents_line,
    pairs,
    summary_lines,
    take,
)
from gateway.model import DeviceStatus

REFRESH_S = 1.0
PLAIN_EVERY_S = 5.0
_STATUS_STYLE = {
    DeviceStatus.ONLINE: "green",
    DeviceStatus.OFFLINE: "bold red",
    DeviceStatus.NEVER_SEEN: "dim",
}
# Title, three table headers with their "… more" rows, two headings and the counters.
_CHROME_LINES = 22
INCIDENT_ROWS_MAX = 8
LOG_ROWS_MAX = 8
# Ids, grid codes and status must stay readable; the profile and latest values give way.
_COLUMNS = (
    ("device", 9),
    ("profile", 8),
    ("grid", 11),
    ("status", 10),
    ("last seen", 9),
    ("latest", 20),
)


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    return f"{seconds / 60:.0f} min ago"


def device_table(snap: Snapshot, max_rows: int) -> Table:
    """One line per device, those showing an alarm first: a big fleet is cut to ``max_rows``."""
    table = Table(expand=True, show_edge=False, pad_edge=False)
    for column, min_width in _COLUMNS:
        table.add_column(column, no_wrap=True, min_width=min_width)
    alarming = sorted(snap.devices, key=lambda r: not any(v.alarm for v in r.values))
    for row in alarming[:max_rows]:
        latest = Text()
        for i, value in enumerate(row.values):
            if i:
                latest.append("  ")
            latest.append(f"{value.label} ", style="dim")
            latest.append(value.text, style="bold red" if value.alarm else "")
        status = Text(row.status.value, style=_STATUS_STYLE[row.status])
        table.add_row(row.id, row.profile, row.grid, status, _ago(row.seen_ago_s), latest)
    hidden = len(snap.devices) - max_rows
    if hidden > 0:
        table.add_row("…", "", "", "", "", f"{hidden} more: GET /api/v1/devices lists them all")
    return table


def counters(snap: Snapshot, published: int) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    s = snap.statuses
    grid.add_row(
        "devices",
        f"{s[DeviceStatus.ONLINE]} online, {s[DeviceStatus.OFFLINE]} offline, "
        f"{s[DeviceStatus.NEVER_SEEN]} never seen",
    )
    grid.add_row("messages", f"{snap.messages} received, {published} published by the simulator")
    grid.add_row("readings", pairs(snap.readings))
    grid.add_row("rejected", Text(pairs(snap.rejected), style="yellow"))
    grid.add_row("field problems", Text(pairs(snap.field_problems), style="yellow"))
    grid.add_row("stored", pairs(snap.stored))
    grid.add_row("health", health_text(snap.health))
    grid.add_row("incidents", incidents_line(snap).removeprefix("incidents: "))
    grid.add_row("closed", pairs(snap.run.closed))
    return grid


def layout(height: int) -> tuple[int, int, int]:
    """Rows for devices, open incidents and the event log in a terminal ``height`` lines tall:
    incidents and log take a quarter each (2 to 8 rows), devices the rest (at least 3)."""
    spare = height - _CHROME_LINES
    incidents = max(2, min(INCIDENT_ROWS_MAX, spare // 4))
    log = max(2, min(LOG_ROWS_MAX, spare // 4))
    return max(3, spare - incidents - log), incidents, log


def render(snap: Snapshot, published: int, title: str, height: int) -> RenderableType:
    devices, incidents, log = layout(height)
    return Group(
        Text(title, style="bold"),
        device_table(snap, devices),
        incident_heading(snap),
        incident_table(snap, incidents),
        event_log(snap, log),
        counters(snap, published),
    )


async def _tick(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def watch_live(
    source: Watched,
    feed: IncidentFeed,
    stop: asyncio.Event,
    published: Callable[[], int],
    title: Callable[[], str],
    console: Console,
) -> None:
    """Redraw the view every second until ``stop`` is set."""

    def frame() -> RenderableType:
        return render(take(source, time.time(), feed), published(), title(), console.height)

    with Live(frame(), console=console, auto_refresh=False, transient=False) as live:
        while not stop.is_set():
            await _tick(stop, REFRESH_S)
            live.update(frame(), refresh=True)


async def watch_plain(
    source: Watched,
    feed: IncidentFeed,
    stop: asyncio.Event,
    published: Callable[[], int],
    every_s: float = PLAIN_EVERY_S,
) -> None:
    """Print a one-line summary every ``every_s`` seconds until ``stop`` is set."""
    while not stop.is_set():
        await _tick(stop, every_s)
        if not stop.is_set():
            snap = take(source, time.time(), feed)
            print(" | ".join(summary_lines(snap, published())), flush=True)
