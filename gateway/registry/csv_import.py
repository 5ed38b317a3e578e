"""Bulk device registration from a spreadsheet: all rows or none.

Columns (header row required, any order, names case-insensitive):

==============  =========  ==================================================================
column          required   meaning
==============  =========  ==================================================================
``id``          yes        device id, as in ``devices/{id}/up``
``profile``     yes        device profile name, e.g. ``smoke-detector``
``name``        yes        what people call it, e.g. "3F kitchen smoke detector"
``external_id`` no         vendor or Zigbee2MQTT name (required by ``smoke-detector-z2m``)
``address``     no         street address the grid worker (网格员) walks to
``building``    no         building name or number
``floor``       no         floor, as written on site ("3", "B1")
``lat``         no         WGS 84 latitude, decimal degrees (give with ``lon``)
``lon``         no         WGS 84 longitude, decimal degrees
``grid``        no         grid code; when empty the grid is found from ``lat``/``lon``
``thresholds``  no         overrides, ``name=value;name=value`` (names from the profile)
==============  =========  ==================================================================

The file is UTF-8 (a byte-order mark, as Excel writes, is fine). Every row is checked before
anything is stored; any problem refuses the whole file and every problem is reported with its
line number.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from gateway.model import Device
from gateway.registry.devices import DeviceDraft
from gateway.registry.errors import InvalidError, Problem, RegistryError
from gateway.registry.inputs import DeviceIn
from gateway.registry.store import Registry

COLUMNS = (
    "id",
    "profile",
    "name",
    "external_id",
    "address",
    "building",
    "floor",
    "lat",
    "lon",
    "grid",
    "thresholds",
)
REQUIRED = ("id", "profile", "name")
_LOCATION = ("address", "building", "floor", "lat", "lon")


@dataclass(frozen=True, slots=True)
class LineProblem:
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.column}: {self.message}"


class CsvImportError(RegistryError):
    """The file was refused; ``problems`` holds every problem found, in line order."""

    def __init__(self, problems: Sequence[LineProblem]) -> None:
        self.problems = sorted(problems, key=lambda p: p.line)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True, slots=True)
class ParsedRows:
    drafts: list[DeviceDraft]
    lines: list[int]  # the line each draft starts on
    problems: list[LineProblem]


async def import_devices_csv(registry: Registry, data: bytes) -> list[Device]:
    """Register every device in the file, or none (CsvImportError)."""
    rows = parse_devices_csv(data)

    def name_entry(index: int) -> str:
        return f"line {rows.lines[index]}"

    if rows.problems:
        # Check the readable rows too, so one pass reports everything wrong with the file.
        found = registry.check_devices(rows.drafts, name_entry)
        raise CsvImportError(rows.problems + _on_lines(found, rows.lines))
    try:
        return await registry.add_devices(rows.drafts, name_entry)
    except InvalidError as exc:
        raise CsvImportError(_on_lines(exc.problems, rows.lines)) from exc


def parse_devices_csv(data: bytes) -> ParsedRows:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        message = 'the file is not UTF-8 (save it as "CSV UTF-8")'
        return ParsedRows([], [], [LineProblem(line, "-", message)])
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = ParsedRows([], [], [])
    header: list[str] | None = None
    end = 0
    for cells in reader:
        start, end = end + 1, reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if header is None:
            header = [cell.strip().lower() for cell in cells]
            problems = _check_header(header, start)
            if problems:
                return ParsedRows([], [], problems)
            continue
        _parse_row(header, cells, start, rows)
    if header is None:
        rows.problems.append(LineProblem(1, "-", "the file is empty; it needs a header row"))
    return rows


def _check_header(header: list[str], line: int) -> list[LineProblem]:
    problems = []
    for name in header:
        if name not in COLUMNS:
            known = ", ".join(COLUMNS)
            problems.append(LineProblem(line, name, f"unknown column; columns are: {known}"))
    for name in REQUIRED:
        if name not in header:
            problems.append(LineProblem(line, name, "required column is missing"))
    repeated = sorted({name for name in header if header.count(name) > 1})
    problems += [LineProblem(line, name, "column appears twice") for name in repeated]
    return problems


def _parse_row(header: list[str], cells: list[str], line: int, rows: ParsedRows) -> None:
    if len(cells) > len(header):
        message = f"{len(cells)} cells but the header has {len(header)} columns"
        rows.problems.append(LineProblem(line, "-", message))
        return
    values = dict(zip(header, cells, strict=False))  # spreadsheets drop trailing empty cells
    try:
        body = _body(values)
        draft = DeviceIn.model_validate(body).to_draft()
    except _CellError as exc:
        rows.problems.append(LineProblem(line, exc.column, exc.message))
        return
    except ValidationError as exc:
        rows.problems.extend(_from_pydantic(exc, line))
        return
    rows.drafts.append(draft)
    rows.lines.append(line)


class _CellError(ValueError):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column, self.message = column, message


def _body(values: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {k: v for k, v in values.items() if k not in _LOCATION}
    body["location"] = {k: v for k, v in values.items() if k in _LOCATION}
    body["thresholds"] = _thresholds(values.get("thresholds", ""))
    return body


def _thresholds(cell: str) -> dict[str, str]:
    """``battery_low_pct=15; hold_s=30`` → ``{"battery_low_pct": "15", "hold_s": "30"}``."""
    pairs: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in cell.split(";"))):
        name, sep, value = part.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise _CellError("thresholds", f"{part!r} is not name=value")
        pairs[name.strip()] = value.strip()
    return pairs


def _from_pydantic(exc: ValidationError, line: int) -> list[LineProblem]:
    problems = []
    for error in exc.errors():
        loc = list(error["loc"])
        if len(loc) > 1 and loc[0] == "location":
            loc = loc[1:]  # the CSV has lat, lon, ... columns, not a location object
        column = str(loc[0]) if loc else "-"
        message = error["msg"]
        if isinstance(error["input"], str):
            message += f" (got {error['input']!r})"
        if column == "thresholds" and len(loc) > 1:
            message = f"{loc[1]}: {message}"
        problems.append(LineProblem(line, column, message))
    return problems


def _on_lines(problems: Sequence[Problem], lines: Sequence[int]) -> list[LineProblem]:
    return [
        LineProblem(lines[p.item], str(p.field[0]) if p.field else "-", p.message) for p in problems
    ]
