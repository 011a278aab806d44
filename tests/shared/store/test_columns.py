"""The columnar sample: missing values, texts where numbers belong, absent fields, concatenation."""

from __future__ import annotations

import math

import numpy as np

from shared.store.columns import concat, rows_to_columns
from shared.store.sqlite import SQLiteEventStore

ROWS = [
    {"a": 1, "b": 2.5, "c": "x", "timestamp": "2026-01-01T00:00:03.000Z"},
    {"a": None, "b": "7", "c": None, "timestamp": "2026-01-01T00:00:02.000Z"},
    {"a": True, "b": "not a number", "timestamp": "2026-01-01T00:00:01.000Z"},  # no "c"
]


def test_rows_become_typed_columns() -> None:
    sample = rows_to_columns(ROWS, ["a", "b"], ["c"])
    assert sample.numeric.dtype == np.float64 and sample.numeric.shape == (3, 2)
    assert sample.column("a").tolist()[0] == 1.0 and math.isnan(sample.column("a")[1])
    assert sample.column("a")[2] == 1.0
    assert sample.column("b")[0] == 2.5 and sample.column("b")[1] == 7.0 and math.isnan(sample.column("b")[2])
    assert sample.column("c").tolist() == ["x", None, None]
    assert (sample.first_event, sample.last_event) == ("2026-01-01T00:00:01.000Z", "2026-01-01T00:00:03.000Z")


def test_concat_cuts_to_the_limit_and_keeps_the_times_of_the_rows_kept() -> None:
    parts = [rows_to_columns(ROWS[:2], ["a"], ["c"]), rows_to_columns(ROWS[2:], ["a"], ["c"])]
    whole = concat(parts)
    assert len(whole) == 3
    cut = concat(parts, limit=1)
    assert len(cut) == 1 and cut.first_event == cut.last_event == "2026-01-01T00:00:03.000Z"
    empty = rows_to_columns([], ["a"], ["c"])
    assert len(empty) == 0 and empty.numeric.shape == (0, 1) and empty.first_event is None


def test_the_default_sample_columns_reads_sample_applications(tmp_path: object) -> None:
    store = SQLiteEventStore(tmp_path / "events.sqlite3")  # type: ignore[operator]
    store.setup()
    try:
        sample = store.sample_columns(["score"], [], limit=10)
        assert len(sample) == 0
    finally:
        store.close()
