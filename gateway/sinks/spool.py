"""A durable, bounded FIFO of line-protocol batches on disk: what InfluxDB could not take yet.

One file per batch, ``<seq>-<points>-<bytes>-<crc32>.lp``, holding exactly the request body
(plain line protocol: an operator can read it, or POST it by hand). Why files and not one
append-only log or SQLite:

- an append is written to ``<name>.tmp``, fsync'd, renamed, and the directory fsync'd, so a batch
  is on disk whole or not at all; taking it off is one unlink. No offsets, no compaction, and no
  second copy of up to ``max_bytes`` through a database journal;
- the name carries order, size and checksum, so opening a spool of hundreds of MiB is a directory
  listing, and a damaged file costs its own batch only: it is moved aside as ``.corrupt``,
  logged and counted, and the batches around it still replay.

Nothing here is async: the sink calls these methods in a worker thread, one at a time.
"""

from __future__ import annotations

import logging
import os
import re
import zlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gateway.ratelog import RateLimitedLogger

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{20})-(\d+)-(\d+)-([0-9a-f]{8})\.lp$")
# Why spooled points were lost: the labels of firegrid_sink_points_dropped.
FULL = "spool_full"
CORRUPT = "spool_corrupt"


@dataclass(frozen=True, slots=True)
class _Entry:
    seq: int
    points: int
    crc: int
    size: int
    path: Path


@dataclass(frozen=True, slots=True)
class SpooledBatch:
    """The oldest batch: send ``body``, then :meth:`Spool.pop` it."""

    seq: int
    points: int
    body: bytes


class Spool:
    """Batches on disk in ``directory``, oldest first, at most ``max_bytes`` of them.

    At the bound, the oldest batches are dropped to make room (the newest data is the most
    useful to a fire-safety officer), logged with the count and why, and tallied for
    :meth:`take_lost`.
    """

    def __init__(self, directory: Path, max_bytes: int, name: str = "spool") -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.directory = directory
        self.max_bytes = max_bytes
        self.name = name
        self.points = 0
        self.bytes = 0
        self._entries: deque[_Entry] = deque()
        self._next_seq = 1
        self._lost: dict[str, int] = {}
        self._ratelog = RateLimitedLogger(log)

    def __len__(self) -> int:
        return len(self._entries)

    def load(self) -> None:
        """Read the directory: what an earlier run left is replayed first."""
        self.directory.mkdir(parents=True, exist_ok=True)
        found: list[_Entry] = []
        for path in self.directory.iterdir():
            match = _NAME.match(path.name.removesuffix(".tmp").removesuffix(".corrupt"))
            if match is None:
                continue
            entry = _entry(path, match)
            self._next_seq = max(self._next_seq, entry.seq + 1)
            if path.suffix == ".tmp":
                recovered = self._finish_interrupted(entry)
                found += [recovered] if recovered is not None else []
            elif path.suffix == ".lp":
                found.append(entry)
        for entry in sorted(found, key=lambda e: e.seq):
            self._push(entry)
        if self._entries:
            log.info(
                "%s: %d points (%d bytes) in %d batches left by an earlier run, replayed first",
                self.name,
                self.points,
                self.bytes,
                len(self._entries),
            )

    def append(self, lines: Sequence[str], why: str | None = None) -> None:
        """Add one batch behind the others, durably; drop the oldest beyond the bound."""
        kept = _newest_within(lines, self.max_bytes)
        body = "\n".join(kept).encode()
        dropped = len(lines) - len(kept) + self._make_room(len(body))
        if kept:
            self._push(self._write(body, len(kept)))
        if dropped:
            self._lose(FULL, dropped)
            self._ratelog.warning(
                FULL,
                "%s full (bound %d bytes): dropped the %d oldest points to keep the newest (%s)",
                self.name,
                self.max_bytes,
                dropped,
                why or "the database is not taking writes",
            )

    def head(self) -> SpooledBatch | None:
        """The oldest readable batch; damaged ones on the way are moved aside and counted."""
        while self._entries:
            entry = self._entries[0]
            try:
                body = entry.path.read_bytes()
            except OSError as exc:
                self._discard(entry, f"unreadable ({exc})")
                continue
            if len(body) != entry.size:
                self._discard(entry, f"truncated ({len(body)} of {entry.size} bytes)")
                continue
            if zlib.crc32(body) != entry.crc:
                self._discard(entry, "damaged (bad checksum)")
                continue
            return SpooledBatch(entry.seq, entry.points, body)
        return None

    def pop(self, batch: SpooledBatch) -> None:
        """Take ``batch`` off once the database has it (a no-op if the bound dropped it)."""
        if not self._entries or self._entries[0].seq != batch.seq:
            return
        entry = self._pop_oldest()
        try:
            entry.path.unlink(missing_ok=True)
        except OSError as exc:
            # It will be sent again after a restart: InfluxDB keeps one point per series and time.
            log.warning("%s: could not remove sent batch %s: %s", self.name, entry.path, exc)

    def take_lost(self) -> dict[str, int]:
        """Points lost since the last call, by reason (``spool_full``, ``spool_corrupt``)."""
        lost, self._lost = self._lost, {}
        return lost

    def _write(self, body: bytes, points: int) -> _Entry:
        seq = self._next_seq
        crc = zlib.crc32(body)
        path = self.directory / f"{seq:020d}-{points}-{len(body)}-{crc:08x}.lp"
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as out:
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
        tmp.rename(path)
        _fsync_dir(self.directory)
        self._next_seq = seq + 1
        return _Entry(seq, points, crc, len(body), path)

    def _make_room(self, size: int) -> int:
        dropped = 0
        while self._entries and self.bytes + size > self.max_bytes:
            entry = self._pop_oldest()
            entry.path.unlink(missing_ok=True)
            dropped += entry.points
        return dropped

    def _finish_interrupted(self, entry: _Entry) -> _Entry | None:
        """A ``.tmp`` is an append cut short by a crash: keep it if it is whole, else remove it."""
        tmp = entry.path
        final = tmp.with_name(tmp.name.removesuffix(".tmp"))
        try:
            body = tmp.read_bytes()
            whole = len(body) == entry.size and zlib.crc32(body) == entry.crc
            if whole:
                tmp.rename(final)
                return _Entry(entry.seq, entry.points, entry.crc, entry.size, final)
            tmp.unlink()
        except OSError as exc:
            log.error("%s: cannot recover %s: %s", self.name, tmp, exc)
            return None
        self._lose(CORRUPT, entry.points)
        log.error(
            "%s: removed %s, a batch whose write was interrupted by a crash: %d points lost",
            self.name,
            tmp.name,
            entry.points,
        )
        return None

    def _discard(self, entry: _Entry, why: str) -> None:
        self._pop_oldest()
        aside = entry.path.with_name(entry.path.name + ".corrupt")
        try:
            entry.path.rename(aside)
            where = f"moved aside to {aside.name}"
        except OSError:
            where = "could not be moved aside"
        self._lose(CORRUPT, entry.points)
        log.error(
            "%s: batch %s is %s and %s; its %d points are not replayed, the next batch is",
            self.name,
            entry.path.name,
            why,
            where,
            entry.points,
        )

    def _push(self, entry: _Entry) -> None:
        self._entries.append(entry)
        self.points += entry.points
        self.bytes += entry.size

    def _pop_oldest(self) -> _Entry:
        entry = self._entries.popleft()
        self.points -= entry.points
        self.bytes -= entry.size
        return entry

    def _lose(self, reason: str, points: int) -> None:
        self._lost[reason] = self._lost.get(reason, 0) + points


def _entry(path: Path, match: re.Match[str]) -> _Entry:
    seq, points, size, crc = match.groups()
    return _Entry(int(seq), int(points), int(crc, 16), int(size), path)


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX: the directory entry lives in the directory)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _newest_within(lines: Sequence[str], max_bytes: int) -> Sequence[str]:
    """The newest lines whose batch fits in ``max_bytes`` (all of them, but for a tiny bound)."""
    size = -1  # n lines take n - 1 separators
    for i in range(len(lines) - 1, -1, -1):
        size += len(lines[i].encode()) + 1
        if size > max_bytes:
            return lines[i + 1 :]
    return lines
