"""One event field, three places: the event model, the Elasticsearch mapping, the SQLite columns.

Adding a field to the event means adding it to ``shared.event.ScoringEvent``,
``shared.store.mapping.EVENT_FIELDS`` and ``shared.store.sqlite_schema``; these
tests say so when one of the three is forgotten.
"""

from __future__ import annotations

from dataclasses import fields

from shared.event import TIMING_FIELDS, ScoringEvent, Timings
from shared.store import sqlite_schema
from shared.store.mapping import EVENT_FIELDS, events_mapping

NESTED = {"features", "timings"}


def _scalar_fields() -> set[str]:
    return {f.name for f in fields(ScoringEvent)} - NESTED


def test_every_scalar_field_of_the_event_is_mapped_for_elasticsearch() -> None:
    assert set(EVENT_FIELDS) == _scalar_fields()
    properties = events_mapping()["properties"]
    assert NESTED <= set(properties)
    assert set(properties["timings"]["properties"]) == set(TIMING_FIELDS) == {f.name for f in fields(Timings)}


def test_every_scalar_field_of_the_event_is_a_sqlite_column() -> None:
    columns = set(sqlite_schema.DOC_COLUMNS.split(", "))
    assert columns == _scalar_fields() | set(TIMING_FIELDS) | {"features"}


def test_an_event_survives_the_sqlite_row_round_trip() -> None:
    from datetime import UTC, datetime

    explanation = {"raw_score": -1.0, "base_value": -2.0, "rest": 0.1,
                   "reasons": [{"field": "AMT_CREDIT", "value": 1.0, "contribution": 0.9, "direction": "raises risk"}]}
    for explained in (None, explanation):
        event = ScoringEvent(path="sync", status="ok", request_id="r", client_ref="c", features={"AMT_CREDIT": 1.0},
                             score=0.2, decision="approved", threshold=0.5, timings=Timings(total_ms=1.5),
                             explanation=explained)
        doc = event.to_dict()
        row = sqlite_schema.event_row(doc, event.event_id, datetime.now(UTC))
        columns = sqlite_schema.TABLE_COLUMNS.split(", ")
        selected = [row[columns.index(c)] for c in sqlite_schema.DOC_COLUMNS.split(", ")]
        assert sqlite_schema.row_to_event(selected) == doc


def test_the_features_read_from_doc_values_keep_them_and_no_feature_is_indexed() -> None:
    from shared.store.elastic_outcomes import SUMMARY_FIELDS
    from shared.store.mapping import DOC_VALUE_FEATURES

    features = events_mapping()["properties"]["features"]["properties"]
    read = {f.removeprefix("features.") for f in SUMMARY_FIELDS if isinstance(f, str) and f.startswith("features.")}
    assert read and read <= set(DOC_VALUE_FEATURES)
    for name, spec in features.items():
        assert spec["index"] is False
        assert spec.get("doc_values", True) is (name in DOC_VALUE_FEATURES)
