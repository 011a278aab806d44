"""What only a real Elasticsearch can show: the installed template, daily indices, outages, the PIT path."""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.store.base import TimeWindow
from shared.store.elastic import ElasticsearchEventStore, _Pit
from shared.store.exceptions import StoreUnavailableError
from tests.utils.events import make_event, many_events

pytestmark = pytest.mark.integration


@pytest.fixture
def es(es_store: ElasticsearchEventStore) -> ElasticsearchEventStore:
    """The conftest's store on its own prefix, under this file's short name."""
    return es_store


def test_template_is_strict_and_typed(es: ElasticsearchEventStore) -> None:
    template = es.client.indices.get_index_template(name=f"{es.prefix}-events")["index_templates"][0]
    body = template["index_template"]
    assert body["index_patterns"] == [f"{es.prefix}-events-*"]
    mapping = body["template"]["mappings"]
    assert mapping["dynamic"] == "strict"
    features = mapping["properties"]["features"]["properties"]
    # features: typed, kept in _source only (doc values only for those the outcome summaries read)
    source_only = {"index": False, "doc_values": False}
    assert features["NAME_CONTRACT_TYPE"] == {"type": "keyword", **source_only}
    assert features["FLAG_MOBIL"] == {"type": "byte", **source_only}
    assert features["AMT_CREDIT"] == {"type": "double", **source_only}
    assert features["EXT_SOURCE_2"] == {"type": "float", **source_only}
    assert features["CODE_GENDER"] == {"type": "keyword", "index": False}
    assert features["DAYS_BIRTH"]["index"] is False and "doc_values" not in features["DAYS_BIRTH"]
    assert mapping["properties"]["raw_input"]["index"] is False
    assert f"{es.prefix}-events" in body["template"]["aliases"]


def test_events_land_in_daily_indices_by_their_timestamp(es: ElasticsearchEventStore) -> None:
    day1 = datetime(2026, 11, 26, 23, 59, 59, 999_000, tzinfo=UTC)
    result = es.index_events([make_event(day1, event_id="a"), make_event(day1 + timedelta(milliseconds=1),
                                                                         event_id="b")])
    assert result.indexed == 2
    es.refresh()
    assert sorted(es.event_indices()) == [f"{es.prefix}-events-2026.11.26", f"{es.prefix}-events-2026.11.27"]
    hit = es.client.get(index=f"{es.prefix}-events-2026.11.27", id="b")
    assert hit["_source"]["event_id"] == "b"
    assert es.client.count(index=es.events_alias)["count"] == 2
    mapping = es.client.indices.get_mapping(index=f"{es.prefix}-events-2026.11.26")
    assert next(iter(mapping.values()))["mappings"]["dynamic"] == "strict"


def test_closed_index_means_retry_not_failure(es: ElasticsearchEventStore) -> None:
    moment = datetime(2026, 1, 5, 12, tzinfo=UTC)
    es.index_events([make_event(moment, event_id="first")])
    es.client.indices.close(index=es.events_index(moment))
    try:
        result = es.index_events([make_event(moment, event_id="second")])
        assert result.indexed == 0 and not result.failed
        assert "index_closed_exception" in result.retry["second"]
    finally:
        es.client.indices.open(index=es.events_index(moment), wait_for_active_shards="1")
    assert es.index_events([make_event(moment, event_id="second")]).indexed == 1


def test_unreachable_server_raises_unavailable() -> None:
    store = ElasticsearchEventStore("http://127.0.0.1:9", "test-unreachable")
    assert not store.healthy()
    with pytest.raises(StoreUnavailableError):
        store.index_events([make_event()])
    with pytest.raises(StoreUnavailableError):
        store.count_events()


def test_sample_over_a_real_page_boundary(es: ElasticsearchEventStore) -> None:
    events = many_events(10_500)
    for k in range(0, len(events), 2_000):
        assert es.index_events(events[k:k + 2_000]).indexed == len(events[k:k + 2_000])
    es.refresh()
    sample = es.sample_applications(limit=10_200)
    assert len(sample) == 10_200
    assert sample[0]["timestamp"] == events[0]["timestamp"]
    assert sample[-1]["timestamp"] == events[10_199]["timestamp"]
    assert len({row["timestamp"] for row in sample}) == 10_200


def test_big_read_is_planned_in_page_sized_time_ranges(es: ElasticsearchEventStore,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shared.store.elastic.PAGE", 20)
    end = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    events = many_events(200, end=end, spread=timedelta(seconds=200))  # newest first, one a second
    stray = make_event(end - timedelta(days=300), event_id="stray")  # stretches the span to 300 days
    assert es.index_events([*events, stray]).indexed == 201
    es.refresh()
    query = es._query(None, "ok")
    pit = _open(es, query)
    try:
        ranges = es._time_ranges(pit, query, 150)
    finally:
        es.client.close_point_in_time(id=pit.id)
    # Finer histograms over the last 200 seconds: ranges of at most a page, newest first, without gaps.
    assert all(since < until for since, until in ranges)
    assert all(older[1] == newer[0] for newer, older in zip(ranges, ranges[1:], strict=False))
    counts = [es.count_events(_window(since, until), status="ok") for since, until in ranges]
    assert all(0 < count <= 20 for count in counts) and 150 <= sum(counts) < 170
    sample = es.sample_applications(limit=150)
    assert [row["timestamp"] for row in sample] == [e["timestamp"] for e in events[:150]]
    assert gc.isenabled()  # paused during the read only
    assert len(es.sample_applications(limit=1_000)) == 201


def _open(es: ElasticsearchEventStore, query: dict[str, Any]) -> _Pit:
    return _Pit(es.client.open_point_in_time(index=es.events_pattern, keep_alive="1m", index_filter=query)["id"])


def _window(since: int, until: int) -> TimeWindow:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return TimeWindow(epoch + timedelta(milliseconds=since), epoch + timedelta(milliseconds=until))


def test_the_columnar_sample_is_the_sample_in_columns(es: ElasticsearchEventStore,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    from shared.store.columns import rows_to_columns

    monkeypatch.setattr("shared.store.elastic.PAGE", 20)  # several ranges, read by two threads
    events = many_events(130)
    assert es.index_events(events).indexed == 130
    es.refresh()
    numeric, categorical = ["AMT_INCOME_TOTAL", "EXT_SOURCE_2", "DAYS_EMPLOYED", "score"], ["CODE_GENDER"]
    for limit in (15, 100, 1_000):
        columns = es.sample_columns(numeric, categorical, limit=limit)
        expected = rows_to_columns(es.sample_applications(limit=limit), numeric, categorical)
        assert len(columns) == len(expected) == min(limit, 130)
        assert np.array_equal(columns.numeric, expected.numeric, equal_nan=True)
        assert columns.categorical.tolist() == expected.categorical.tolist()
        assert columns.timestamps.tolist() == expected.timestamps.tolist()
        assert (columns.first_event, columns.last_event) == (expected.first_event, expected.last_event)
