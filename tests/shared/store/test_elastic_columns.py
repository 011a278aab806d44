"""Search responses decoded from their bytes into columns: the same columns as the general way, every case."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from shared.store.columns import rows_to_columns
from shared.store.elastic_columns import Serializer, application_row, decode_page, newest_first, raw_bodies

NUMERIC = ["AMT_CREDIT", "CNT_CHILDREN", "score"]
CATEGORICAL = ["CODE_GENDER"]


def _hit(i: int, features: dict[str, Any] | None, score: Any = 0.5, event_id: str | None = None) -> dict[str, Any]:
    source: dict[str, Any] = {"score": score, "timestamp": f"2026-01-01T00:00:{i:02d}.000Z", "status": "ok",
                              "timings": {"total_ms": 1.0}, "explanation": None}
    if features is not None:
        source["features"] = features
    return {"_index": "x", "_id": event_id or f"id-{i}", "_score": None, "_source": source, "sort": [1000 + i]}


def _body(hits: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"pit_id": "pit-2", "took": 3, "hits": {"hits": hits}})


def _general(hits: list[dict[str, Any]]) -> Any:
    return rows_to_columns([application_row(orjson.loads(orjson.dumps(h))) for h in hits], NUMERIC, CATEGORICAL)


HITS = [
    _hit(0, {"AMT_CREDIT": 1.5e5, "CNT_CHILDREN": 2, "CODE_GENDER": "F", "OTHER": [1, {"x": 2}]}),
    _hit(1, {"AMT_CREDIT": None, "CODE_GENDER": None}),  # null, and a field absent
    _hit(2, None, score=None),  # no features at all
    _hit(3, {"AMT_CREDIT": 0.1 + 0.2, "CNT_CHILDREN": 12345678901234567, "CODE_GENDER": "M"}, score=1),
]


@pytest.mark.parametrize("hits", [HITS, [
    *HITS, _hit(4, {"AMT_CREDIT": "7", "CODE_GENDER": "F"}),  # a text in a number field: the general way
], [*HITS, _hit(5, {"AMT_CREDIT": True, "CODE_GENDER": 3})], []], ids=["typed", "text-number", "bool-int", "empty"])
def test_a_page_decodes_to_the_columns_of_its_rows(hits: list[dict[str, Any]]) -> None:
    page = decode_page(_body(hits), NUMERIC, CATEGORICAL)
    expected = _general(hits)
    assert page.columns.numeric_names == NUMERIC and page.columns.categorical_names == CATEGORICAL
    assert page.columns.numeric.dtype == np.float64 and page.columns.numeric.shape == (len(hits), 3)
    assert np.array_equal(page.columns.numeric, expected.numeric, equal_nan=True)
    assert page.columns.categorical.tolist() == expected.categorical.tolist()
    assert page.columns.timestamps.tolist() == expected.timestamps.tolist()
    assert page.sort_keys.tolist() == [h["sort"][0] for h in hits]
    assert page.ids.tolist() == [h["_id"] for h in hits]
    assert page.last_sort == (hits[-1]["sort"] if hits else None) and page.pit_id == "pit-2"


def test_pages_are_put_newest_first_ties_by_the_larger_id() -> None:
    a = decode_page(_body([_hit(1, {}, 0.2, "b"), _hit(1, {}, 0.4, "d"), _hit(3, {}, 0.1, "a")]), NUMERIC,
                    CATEGORICAL)
    b = decode_page(_body([_hit(1, {}, 0.3, "c"), _hit(2, {}, 0.5, "e")]), NUMERIC, CATEGORICAL)
    sample = newest_first([a, b])
    assert sample.column("score").tolist() == [0.1, 0.5, 0.4, 0.3, 0.2]  # a; e; then d, c, b
    assert sample.timestamps.tolist() == [f"2026-01-01T00:00:0{s}.000Z" for s in (3, 2, 1, 1, 1)]


def test_the_serializer_hands_back_bytes_only_inside_raw_bodies() -> None:
    serializer = Serializer()
    assert serializer.loads(b'{"a": 1}') == {"a": 1}
    with raw_bodies():
        assert serializer.loads(b'{"a": 1}') == b'{"a": 1}'
    assert serializer.loads(b'{"a": 1}') == {"a": 1}
