"""The disk spool on its own: order, the byte bound, reopening, and damaged files."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.sinks.spool import Spool

# Every line the same length, so every batch of the same count has the same size.
LINE = "smoke,device=sd-{n:04d} battery_pct=80i {n:016d}"


def batch(first: int, count: int = 3) -> list[str]:
    return [LINE.format(n=n) for n in range(first, first + count)]


def size(lines: list[str]) -> int:
    return len("\n".join(lines).encode())


def drain(spool: Spool) -> list[list[str]]:
    """Everything readable, oldest first, taking each batch off as a writer would."""
    out = []
    while (head := spool.head()) is not None:
        out.append(head.body.decode().split("\n"))
        spool.pop(head)
    return out


def opened(directory: Path, max_bytes: int = 1 << 20) -> Spool:
    spool = Spool(directory, max_bytes, "influxdb spool")
    spool.load()
    return spool


def files(directory: Path, pattern: str = "*.lp") -> list[Path]:
    return sorted(directory.glob(pattern))


def test_batches_come_back_oldest_first_and_leave_once_popped(tmp_path: Path) -> None:
    spool = opened(tmp_path)
    for first in (0, 3, 6):
        spool.append(batch(first))
    assert (len(spool), spool.points, spool.bytes) == (3, 9, 3 * size(batch(0)))
    head = spool.head()
    assert head is not None and head.points == 3
    assert spool.head() == head  # reading does not consume
    assert drain(spool) == [batch(0), batch(3), batch(6)]
    assert (len(spool), spool.points, spool.bytes) == (0, 0, 0)
    assert files(tmp_path) == []


def test_a_file_is_plain_line_protocol(tmp_path: Path) -> None:
    """An operator can read a spooled batch, or POST it to /write by hand."""
    spool = opened(tmp_path)
    spool.append(batch(0))
    [path] = files(tmp_path)
    assert path.read_text() == "\n".join(batch(0))


def test_reopening_finds_the_batches_in_order_and_appends_after_them(tmp_path: Path) -> None:
    spool = opened(tmp_path)
    for first in (0, 3):
        spool.append(batch(first))
    again = opened(tmp_path)
    assert (len(again), again.points, again.bytes) == (2, 6, spool.bytes)
    again.append(batch(6))
    assert drain(again) == [batch(0), batch(3), batch(6)]


def test_at_the_bound_the_oldest_batches_are_dropped_counted_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = opened(tmp_path, max_bytes=3 * size(batch(0)))
    with caplog.at_level(logging.WARNING, "gateway.sinks.spool"):
        for first in range(0, 15, 3):
            spool.append(batch(first), why="InfluxDB unreachable: connection refused")
    assert spool.bytes <= spool.max_bytes and spool.points == 9
    assert spool.take_lost() == {"spool_full": 6}
    assert spool.take_lost() == {}  # taken once
    assert drain(spool) == [batch(6), batch(9), batch(12)]  # exactly the newest
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2
    assert all("dropped the 3 oldest points" in w for w in warnings)
    assert all("InfluxDB unreachable: connection refused" in w for w in warnings)


def test_a_batch_larger_than_the_bound_keeps_its_newest_points_that_fit(tmp_path: Path) -> None:
    spool = opened(tmp_path, max_bytes=size(batch(0, count=2)) + 5)
    spool.append(batch(0))
    spool.append(batch(3, count=4))
    assert spool.take_lost() == {"spool_full": 3 + 2}
    assert drain(spool) == [batch(5, count=2)]


def test_a_truncated_newest_file_is_moved_aside_logged_and_the_rest_replays(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = opened(tmp_path)
    for first in (0, 3, 6):
        spool.append(batch(first))
    newest = files(tmp_path)[-1]
    newest.write_bytes(newest.read_bytes()[:10])  # e.g. the disk filled under a copy
    again = opened(tmp_path)
    with caplog.at_level(logging.ERROR, "gateway.sinks.spool"):
        assert drain(again) == [batch(0), batch(3)]
    assert again.take_lost() == {"spool_corrupt": 3}
    assert files(tmp_path) == [] and len(files(tmp_path, "*.corrupt")) == 1
    [error] = [r.getMessage() for r in caplog.records]
    assert newest.name in error and "truncated (10 of" in error and "3 points" in error
    assert opened(tmp_path).points == 0  # the file moved aside stays out of the spool


def test_a_damaged_file_in_the_middle_costs_only_its_own_batch(tmp_path: Path) -> None:
    spool = opened(tmp_path)
    for first in (0, 3, 6):
        spool.append(batch(first))
    middle = files(tmp_path)[1]
    middle.write_bytes(middle.read_bytes().replace(b"80i", b"81i", 1))
    assert drain(spool) == [batch(0), batch(6)]
    assert spool.take_lost() == {"spool_corrupt": 3}


def test_a_file_gone_behind_its_back_is_skipped(tmp_path: Path) -> None:
    spool = opened(tmp_path)
    for first in (0, 3):
        spool.append(batch(first))
    files(tmp_path)[0].unlink()
    assert drain(spool) == [batch(3)]
    assert spool.take_lost() == {"spool_corrupt": 3}


def test_an_append_cut_short_by_a_crash_is_removed_with_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = opened(tmp_path)
    spool.append(batch(0))
    spool.append(batch(3))
    last = files(tmp_path)[-1]
    # What a SIGKILL between write and rename leaves: a partial .tmp, never renamed.
    last.rename(last.with_name(last.name + ".tmp"))
    tmp = files(tmp_path, "*.tmp")[0]
    tmp.write_bytes(tmp.read_bytes()[:7])
    with caplog.at_level(logging.ERROR, "gateway.sinks.spool"):
        again = opened(tmp_path)
    assert again.take_lost() == {"spool_corrupt": 3}
    assert "interrupted by a crash: 3 points lost" in caplog.text
    again.append(batch(6))
    assert drain(again) == [batch(0), batch(6)]
    assert list(tmp_path.iterdir()) == []


def test_a_whole_tmp_file_left_by_a_crash_before_its_rename_is_kept(tmp_path: Path) -> None:
    spool = opened(tmp_path)
    for first in (0, 3):
        spool.append(batch(first))
    last = files(tmp_path)[-1]
    last.rename(last.with_name(last.name + ".tmp"))
    again = opened(tmp_path)
    assert again.take_lost() == {}
    assert drain(again) == [batch(0), batch(3)]


def test_files_it_does_not_know_are_left_alone(tmp_path: Path) -> None:
    (tmp_path / "README").write_text("not a batch")
    spool = opened(tmp_path)
    spool.append(batch(0))
    assert drain(spool) == [batch(0)]
    assert (tmp_path / "README").read_text() == "not a batch"
