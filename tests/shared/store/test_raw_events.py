"""Events stored from their stream bytes (``index_raw_events``): the same documents as ``index_events``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from shared.event import ScoringEvent
from shared.store.base import EventStore
from shared.store.raw_events import raw_event_key
from tests.utils.events import make_event

T0 = datetime(2026, 3, 10, 23, 59, 59, 999000, tzinfo=UTC)


def as_bytes(doc: dict) -> bytes:
    """The bytes the publisher puts on the stream (``ScoringEvent.to_json``)."""
    return ScoringEvent.from_dict(doc).to_json()


def test_the_key_is_read_from_the_end_of_the_publisher_bytes() -> None:
    doc = make_event(T0, event_id="abc-1")
    assert raw_event_key(as_bytes(doc)) == ("abc-1", "2026.03.10")
    assert raw_event_key(as_bytes(make_event(T0 + timedelta(milliseconds=1), event_id="x"))) == ("x", "2026.03.11")


@pytest.mark.parametrize("raw", [
    b"",
    b"not json",
    orjson.dumps(make_event(T0, event_id="sorted"), option=orjson.OPT_SORT_KEYS),  # another key order
    orjson.dumps(make_event(T0, event_id="indented"), option=orjson.OPT_INDENT_2),  # line breaks
    orjson.dumps(make_event(event_id="offset", timestamp="2026-03-10T23:59:59+02:00")),  # not UTC "Z"
    b'{"nested":{"event_id":"a","timestamp":"2026-03-10T00:00:00Z"}}',  # not the top-level keys
    b'[{"event_id":"a","timestamp":"2026-03-10T00:00:00Z"}]',
])
def test_other_shapes_are_left_to_decoding(raw: bytes) -> None:
    assert raw_event_key(raw) is None


def test_raw_events_are_stored_as_the_decoded_ones(store: EventStore) -> None:
    docs = [make_event(T0 + timedelta(minutes=i), event_id=f"raw-{i}", score=i / 10) for i in range(4)]
    raws = [as_bytes(docs[0]), as_bytes(docs[1]),
            orjson.dumps(docs[2], option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2),  # decoded, then stored
            orjson.dumps(make_event(event_id="offset-time", timestamp="2026-03-11T01:00:00+02:00"))]
    result = store.index_raw_events(raws)
    store.refresh()
    assert result.indexed == 4 and not result.failed and not result.retry
    for doc in docs[:3]:
        assert store.get_event(doc["event_id"]) == doc
    assert store.get_event("offset-time") is not None
    again = store.index_raw_events(raws[:2])  # a replay overwrites
    store.refresh()
    assert again.indexed == 2 and store.count_events() == 4


def test_refused_raw_events_are_reported_by_position(store: EventStore) -> None:
    unknown_feature = make_event(T0, event_id="unknown-feature")
    unknown_feature["features"] = {**unknown_feature["features"], "NOT_A_COLUMN": 1}
    raws = [b"not json", as_bytes(make_event(T0, event_id="good")), b"[1, 2]",
            orjson.dumps(unknown_feature), orjson.dumps(make_event(T0, event_id="no-time", timestamp=None))]
    result = store.index_raw_events(raws)
    store.refresh()
    assert result.indexed == 1 and not result.retry
    assert set(result.failed) == {"<document 0>", "<document 2>", "<document 3>", "<document 4>"}
    assert result.failed["<document 0>"].startswith("undecodable: ")
    assert result.failed["<document 2>"] == "undecodable: expected a JSON object, got list"
    assert "NOT_A_COLUMN" in result.failed["<document 3>"]
    assert store.count_events() == 1 and store.get_event("good") is not None
