"""A bounded first-in first-out queue of JSON lines on disk, that survives a restart.

Used by the event publisher while Redis is down. Lines are appended to
segment files (``000001.jsonl``, ...) and read back in order; a ``cursor``
file records how far the reader got, so a restart resumes there (a line
forwarded but not yet recorded is forwarded twice, which the indexer's
``_id`` makes harmless). A segment read to its end is deleted.

Each process takes its own slot folder (``slot-0``, ``slot-1``, ...) under an
exclusive ``flock``, so that two gateway processes never share one file, and
a restarted process takes over a slot left with lines in it.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO

SEGMENT_BYTES = 8 * 1024 * 1024
MAX_SLOTS = 256


class Spool:
    """Lines of bytes (no newline inside) kept in order on disk, at most ``max_bytes`` of them.

    Not thread-safe: one thread (the publisher's) uses it.

    Args:
        directory: the parent folder; this spool takes the first free ``slot-N`` in it.
        max_bytes: the bound; :meth:`append` refuses lines past it.
        segment_bytes: size at which a new segment file is started.
    """

    def __init__(self, directory: str | Path, max_bytes: int, segment_bytes: int = SEGMENT_BYTES) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be > 0, got {max_bytes}")
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.path, self._lock_file = _take_slot(Path(directory))
        self._segments = sorted(int(p.stem) for p in self.path.glob("*.jsonl") if p.stem.isdigit())
        if self._segments:
            _cut_partial_line(self._segment(self._segments[-1]))
        self._offset = self._read_cursor()
        self._pending_read: list[int] = []
        self.count = 0
        self.bytes = 0
        for number in self._segments:
            with self._segment(number).open("rb") as handle:
                if number == self._segments[0]:
                    handle.seek(self._offset)
                data = handle.read()
            self.count += data.count(b"\n")
            self.bytes += len(data)

    def _segment(self, number: int) -> Path:
        return self.path / f"{number:06d}.jsonl"

    def _read_cursor(self) -> int:
        try:
            number, offset = (self.path / "cursor").read_text().split()
        except (OSError, ValueError):
            return 0
        if self._segments and int(number) == self._segments[0]:
            return int(offset)
        return 0

    def _write_cursor(self) -> None:
        if self._segments:
            tmp = self.path / "cursor.tmp"
            tmp.write_text(f"{self._segments[0]} {self._offset}")
            os.replace(tmp, self.path / "cursor")

    def append(self, lines: Sequence[bytes]) -> int:
        """Append lines in order while they fit; returns how many were kept (the rest are the caller's to count)."""
        kept = 0
        handle: IO[bytes] | None = None
        try:
            for line in lines:
                size = len(line) + 1
                if self.bytes + size > self.max_bytes:
                    break
                if not self._segments or (handle is None and self._segment(self._segments[-1]).stat().st_size
                                          >= self.segment_bytes):
                    self._segments.append((self._segments[-1] + 1) if self._segments else 1)
                if handle is None:
                    handle = self._segment(self._segments[-1]).open("ab")
                handle.write(line + b"\n")
                kept += 1
                self.count += 1
                self.bytes += size
        finally:
            if handle is not None:
                handle.flush()
                handle.close()
        return kept

    def read(self, n: int) -> list[bytes]:
        """Up to ``n`` of the oldest lines (from the oldest segment only), left in place until :meth:`consume`."""
        self._pending_read = []
        if not self._segments:
            return []
        lines = []
        with self._segment(self._segments[0]).open("rb") as handle:
            handle.seek(self._offset)
            for raw in handle:
                if not raw.endswith(b"\n"):  # a line cut by a crash mid-write: not a line
                    break
                lines.append(raw[:-1])
                self._pending_read.append(len(raw))
                if len(lines) >= n:
                    break
        if not lines and len(self._segments) > 1:  # this segment is done: move on
            self._drop_first_segment()
            return self.read(n)
        return lines

    def consume(self, n: int) -> None:
        """Mark the first ``n`` lines of the last :meth:`read` as forwarded."""
        done = self._pending_read[:n]
        self._pending_read = []
        self._offset += sum(done)
        self.count -= len(done)
        self.bytes -= sum(done)
        first = self._segment(self._segments[0])
        if self._offset >= first.stat().st_size and (len(self._segments) > 1 or self.count == 0):
            self._drop_first_segment()
        else:
            self._write_cursor()

    def _drop_first_segment(self) -> None:
        self._segment(self._segments.pop(0)).unlink(missing_ok=True)
        self._offset = 0
        if self._segments:
            self._write_cursor()
        else:
            (self.path / "cursor").unlink(missing_ok=True)

    def close(self) -> None:
        """Release the slot (its lines stay on disk for the next process)."""
        fcntl.flock(self._lock_file, fcntl.LOCK_UN)
        self._lock_file.close()


def _cut_partial_line(path: Path) -> None:
    """Drop the unfinished last line that a crash mid-write may have left."""
    with path.open("rb+") as handle:
        data = handle.read()
        if data and not data.endswith(b"\n"):
            handle.truncate(data.rfind(b"\n") + 1)


def _take_slot(directory: Path) -> tuple[Path, IO[bytes]]:
    for slot in range(MAX_SLOTS):
        path = directory / f"slot-{slot}"
        path.mkdir(parents=True, exist_ok=True)
        lock = (path / "lock").open("ab")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        return path, lock
    raise OSError(f"all {MAX_SLOTS} spool slots under {directory} are taken by running processes")
