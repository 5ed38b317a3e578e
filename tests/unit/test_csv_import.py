"""CSV import: a whole installation round in one file, accepted whole or refused line by line."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.registry import CsvImportError, Registry, import_devices_csv
from gateway.registry.csv_import import COLUMNS, LineProblem
from tests.fixtures.registry import FIXTURES, registry_with_district

HEADER = ",".join(COLUMNS) + "\n"


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[Registry]:
    async with registry_with_district(tmp_path / "registry.sqlite") as opened:
        yield opened


async def refused(registry: Registry, data: bytes) -> list[LineProblem]:
    with pytest.raises(CsvImportError) as exc:
        await import_devices_csv(registry, data)
    assert registry.devices() == []  # nothing imported
    return exc.value.problems


async def test_the_sample_file_imports_every_device(registry: Registry) -> None:
    devices = await import_devices_csv(registry, (FIXTURES / "devices.csv").read_bytes())
    assert [(d.id, d.grid) for d in devices] == [
        ("sd-0001", "G-0101"),
        ("sd-0002", "G-0102"),
        ("z2m-0001", "G-0104"),
        ("ef-0001", "G-0104"),
    ]
    canteen = registry.by_external_id("canteen-1F")
    assert canteen is not None and canteen.location.address == "贵州路 99 号, 食堂"
    box = registry.by_id("ef-0001")
    assert box is not None and box.thresholds == {"residual_current_ma": 500, "hold_s": 15}
    stairwell = registry.by_id("sd-0002")
    assert stairwell is not None and stairwell.location.lat is None


async def test_a_bad_file_reports_every_bad_line_and_imports_nothing(registry: Registry) -> None:
    problems = await refused(registry, (FIXTURES / "devices_bad.csv").read_bytes())
    assert [(p.line, p.column) for p in problems] == [
        (3, "lat"),
        (4, "grid"),
        (5, "profile"),
        (6, "id"),
    ]
    assert str(problems[0]) == "line 3: lat: Input should be less than or equal to 90 (got '95')"
    assert problems[1].message == "unknown grid G-9999"
    assert problems[3].message == "id sd-0101 is also given by line 2"


async def test_a_row_already_registered_is_reported_by_line(registry: Registry) -> None:
    await import_devices_csv(registry, (FIXTURES / "devices.csv").read_bytes())
    again = HEADER + "sd-0009,smoke-detector,New,,,,,31.235,121.465,,\n"
    again += "sd-0001,smoke-detector,Old,,,,,31.235,121.465,,\n"
    with pytest.raises(CsvImportError) as exc:
        await import_devices_csv(registry, again.encode())
    assert [str(p) for p in exc.value.problems] == ["line 3: id: device sd-0001 already exists"]
    assert registry.by_id("sd-0009") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id,profile,latitude\n", ["line 1: latitude: unknown column", "line 1: name: required"]),
        ("", ["line 1: -: the file is empty; it needs a header row"]),
        (
            "id,profile,name\nsd-1,smoke-detector,a,extra\n",
            ["line 2: -: 4 cells but the header has 3 columns"],
        ),
        (
            "id,profile,name,grid,thresholds\nsd-1,smoke-detector,a,G-0101,battery_low_pct\n",
            ["line 2: thresholds: 'battery_low_pct' is not name=value"],
        ),
        (
            "id,profile,name,grid,thresholds\nsd-1,smoke-detector,a,G-0101,battery_low_pct=low\n",
            ["line 2: thresholds: battery_low_pct: Input should be a valid number"],
        ),
        (
            "id,profile,name,lat\nsd-1,smoke-detector,a,31.2\n",
            ["line 2: location: Value error, give both lat and lon, or neither"],
        ),
    ],
)
async def test_malformed_files_say_where(
    registry: Registry, text: str, expected: list[str]
) -> None:
    problems = [str(p) for p in await refused(registry, text.encode())]
    assert len(problems) == len(expected)
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start)


async def test_line_numbers_count_blank_lines_and_quoted_line_breaks(registry: Registry) -> None:
    text = HEADER + "\n" + 'sd-1,smoke-detector,"two\nlines",,,,,31.235,121.465,,\n'
    text += "sd-2,nope,x,,,,,31.235,121.465,,\n"
    problems = await refused(registry, text.encode())
    assert [(p.line, p.column) for p in problems] == [(5, "profile")]


async def test_an_excel_byte_order_mark_is_fine(registry: Registry) -> None:
    text = "id,profile,name,grid\nsd-1,smoke-detector,厨房,G-0101\n"
    [device] = await import_devices_csv(registry, text.encode("utf-8-sig"))
    assert device.name == "厨房"


async def test_a_file_not_in_utf8_is_refused_at_the_line_that_is_not(registry: Registry) -> None:
    text = "id,profile,name,grid\nsd-1,smoke-detector,厨房,G-0101\n"
    problems = await refused(registry, text.encode("gbk"))
    assert [str(p) for p in problems] == [
        'line 2: -: the file is not UTF-8 (save it as "CSV UTF-8")'
    ]
