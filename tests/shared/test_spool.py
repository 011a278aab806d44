"""The on-disk spool: order, bound, segments, restart and crash leftovers."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.spool import Spool


def lines(start: int, n: int) -> list[bytes]:
    return [b'{"n": %d}' % i for i in range(start, start + n)]


def drain(spool: Spool, step: int = 7) -> list[bytes]:
    out: list[bytes] = []
    while spool.count:
        got = spool.read(step)
        assert got, "count says lines are left but none can be read"
        spool.consume(len(got))
        out += got
    return out


def test_fifo_across_segments(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1_000_000, segment_bytes=100)
    for k in range(5):
        assert spool.append(lines(10 * k, 10)) == 10
    assert spool.count == 50
    assert len(list(spool.path.glob("*.jsonl"))) > 2
    assert drain(spool) == lines(0, 50)
    assert spool.count == 0 and spool.bytes == 0
    assert not list(spool.path.glob("*.jsonl"))


def test_read_without_consume_reads_again(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1_000_000)
    spool.append(lines(0, 5))
    assert spool.read(3) == lines(0, 3)
    assert spool.read(3) == lines(0, 3)
    spool.consume(2)
    assert spool.read(10) == lines(2, 3)


def test_bound_refuses_the_rest(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=100)
    kept = spool.append(lines(0, 50))
    assert 0 < kept < 50
    assert spool.bytes <= 100
    assert spool.append(lines(50, 1)) == 0
    spool.consume(0)
    spool.read(kept)
    spool.consume(kept)
    assert spool.append(lines(50, 1)) == 1


def test_restart_resumes_at_the_cursor(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1_000_000, segment_bytes=60)
    spool.append(lines(0, 20))
    spool.read(4)
    spool.consume(4)
    spool.close()
    again = Spool(tmp_path, max_bytes=1_000_000, segment_bytes=60)
    assert again.path == spool.path
    assert again.count == 16
    assert drain(again) == lines(4, 16)


def test_partial_last_line_is_cut(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1_000_000)
    spool.append(lines(0, 3))
    spool.close()
    segment = next(spool.path.glob("*.jsonl"))
    with segment.open("ab") as handle:
        handle.write(b'{"n": 99')  # a crash mid-write
    again = Spool(tmp_path, max_bytes=1_000_000)
    assert again.count == 3
    again.append(lines(3, 1))
    assert drain(again) == lines(0, 4)


def test_each_process_takes_its_own_slot(tmp_path: Path) -> None:
    first = Spool(tmp_path, max_bytes=1000)
    second = Spool(tmp_path, max_bytes=1000)
    assert first.path != second.path
    first.close()
    third = Spool(tmp_path, max_bytes=1000)
    assert third.path == first.path


def test_positive_bound_required(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        Spool(tmp_path, max_bytes=0)
