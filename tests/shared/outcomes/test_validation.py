"""Validation of outcome requests: the envelope is all or nothing, each bad item is listed by index and field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.outcomes.exceptions import EnvelopeError
from shared.outcomes.validation import MAX_ITEMS, parse_envelope, validate_item, validate_items

NOW = datetime(2027, 3, 2, tzinfo=UTC)
EVENT_ID = "0123456789abcdef0123456789abcdef"


def good(**changes: Any) -> dict[str, Any]:
    item = {"event_id": EVENT_ID, "defaulted": True, "observed_at": "2027-03-01T00:00:00Z"}
    item.update(changes)
    return {k: v for k, v in item.items() if v is not ...}


@pytest.mark.parametrize("body, field", [
    ([], "body"), ("x", "body"), ({}, "outcomes"), ({"outcomes": {}}, "outcomes"), ({"outcomes": []}, "outcomes"),
    ({"outcomes": [good()] * (MAX_ITEMS + 1)}, "outcomes"),
])
def test_envelope_errors(body: Any, field: str) -> None:
    with pytest.raises(EnvelopeError) as info:
        parse_envelope(body)
    assert info.value.field == field


def test_envelope_limits_are_inclusive() -> None:
    assert len(parse_envelope({"outcomes": [good()]})) == 1
    assert len(parse_envelope({"outcomes": [good()] * MAX_ITEMS})) == MAX_ITEMS


def test_valid_items_of_each_reference() -> None:
    items = [good(), good(event_id=..., request_id="req-1.a:b_c"), good(event_id=..., SK_ID_CURR=100002,
                                                                           observed_at="2027-03-01T01:00:00+01:00")]
    valid, errors = validate_items(items, NOW)
    assert errors == []
    assert [(v.index, v.kind, v.ref) for v in valid] == [(0, "event_id", EVENT_ID), (1, "request_id", "req-1.a:b_c"),
                                                         (2, "SK_ID_CURR", 100002)]
    assert valid[2].observed_at == datetime(2027, 3, 1, tzinfo=UTC)
    assert valid[2].observed_iso == "2027-03-01T00:00:00.000Z"


@pytest.mark.parametrize("item, field, rule", [
    (good(defaulted=...), "defaulted", "missing"),
    (good(defaulted="yes"), "defaulted", "wrong type"),
    (good(defaulted=1), "defaulted", "wrong type"),
    (good(event_id="not-an-event"), "event_id", "unknown id format"),
    (good(event_id=EVENT_ID.upper()), "event_id", "unknown id format"),
    (good(event_id=42), "event_id", "wrong type"),
    (good(event_id=..., request_id="bad id with spaces"), "request_id", "unknown id format"),
    (good(event_id=..., SK_ID_CURR="100002"), "SK_ID_CURR", "wrong type"),
    (good(event_id=..., SK_ID_CURR=True), "SK_ID_CURR", "wrong type"),
    (good(event_id=..., SK_ID_CURR=-1), "SK_ID_CURR", "unknown id format"),
    (good(event_id=...), "event_id", "missing"),
    (good(request_id="r-1"), "request_id", "give only one"),
    (good(observed_at=...), "observed_at", "missing"),
    (good(observed_at="yesterday"), "observed_at", "not an ISO-8601 time"),
    (good(observed_at="2027-02-30T00:00:00Z"), "observed_at", "not an ISO-8601 time"),
    (good(observed_at=20270301), "observed_at", "wrong type"),
    (good(observed_at="2027-03-03T00:00:00Z"), "observed_at", "in the future"),
    (good(comment="x"), "comment", "unknown field"),
    ("not an object", "item", "wrong type"),
])
def test_bad_item_is_listed_with_its_field(item: Any, field: str, rule: str) -> None:
    valid, errors = validate_item(7, item, NOW)
    assert valid is None
    assert len(errors) == 1
    assert errors[0]["index"] == 7 and errors[0]["field"] == field and errors[0]["rule"].startswith(rule)


def test_every_bad_field_of_an_item_is_listed() -> None:
    valid, errors = validate_item(3, {"event_id": "x", "defaulted": "no", "observed_at": "soon"}, NOW)
    assert valid is None
    assert [e["field"] for e in errors] == ["event_id", "defaulted", "observed_at"]


def test_valid_and_invalid_items_are_separated_by_index() -> None:
    valid, errors = validate_items([good(), good(defaulted=...), good(), "x"], NOW)
    assert [v.index for v in valid] == [0, 2]
    assert [(e["index"], e["field"]) for e in errors] == [(1, "defaulted"), (3, "item")]
