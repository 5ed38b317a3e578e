"""The live view's incident half: the open incidents, most urgent first, and the event log."""

from __future__ import annotations

import time

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from gateway.demo.snapshot import Snapshot, pairs

SEVERITY_STYLE = {
    "critical": "bold red",
    "major": "red",
    "minor": "yellow",
    "warning": "dim yellow",
}
STATUS_STYLE = {
    "reported": "yellow",
    "dispatched": "yellow",
    "accepted": "cyan",
    "on_site": "cyan",
    "handled": "green",
    "verified": "green",
    "escalated": "bold red",
}
# Ids, kind, status and the recipients must stay readable; the title-like columns give way.
_COLUMNS = (
    ("incident", 10),
    ("severity", 8),
    ("kind", 10),
    ("device", 8),
    ("grid", 11),
    ("status", 10),
    ("age", 6),
    ("n", 3),
    ("to", 14),
)


def _age(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def incident_table(snap: Snapshot, max_rows: int) -> Table:
    table = Table(expand=True, show_edge=False, pad_edge=False)
    for column, min_width in _COLUMNS:
        table.add_column(column, no_wrap=True, min_width=min_width, overflow="ellipsis")
    for row in snap.incidents[:max_rows]:
        dim = "dim" if row.test else ""
        table.add_row(
            Text(f"…{row.id[-5:]}", style=dim),
            Text(row.severity, style=dim or SEVERITY_STYLE.get(row.severity, "")),
            Text(row.kind, style=dim),
            Text(row.device, style=dim),
            Text(row.grid, style=dim),
            Text(row.status, style=dim or STATUS_STYLE.get(row.status, "")),
            _age(row.age_s),
            str(row.count),
            Text(row.to, style=dim),
        )
    hidden = len(snap.incidents) - max_rows
    if hidden > 0:
        table.add_row("…", "", "", "", "", "", "", "", f"{hidden} more: GET /api/v1/incidents")
    elif not snap.incidents:
        table.add_row(Text("none open", style="dim"), *[""] * (len(_COLUMNS) - 1))
    return table


def incident_heading(snap: Snapshot) -> Text:
    heading = Text("incidents ", style="bold")
    heading.append(f"{len(snap.incidents)} open", style="bold")
    if snap.incidents:
        heading.append(f": {pairs(snap.open_by_status)}")
    return heading


def event_log(snap: Snapshot, max_rows: int) -> RenderableType:
    log = Table.grid(padding=(0, 1), expand=True)
    log.add_column(no_wrap=True, style="dim")
    log.add_column(no_wrap=True, overflow="ellipsis", ratio=1)
    shown = snap.events[-max_rows:] if max_rows else ()
    for line in shown:
        log.add_row(time.strftime("%H:%M:%S", time.localtime(line.at)), Text(line.text, line.style))
    for _ in range(max_rows - len(shown)):  # a steady height: the table below does not jump
        log.add_row("", "")
    return Group(Text("event log", style="bold"), log)
