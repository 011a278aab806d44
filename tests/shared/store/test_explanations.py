"""Explanations in the store: stored when the request asked for one, refused when malformed; events of a job."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shared.store.base import EventStore
from shared.store.sqlite import SQLiteEventStore
from tests.utils.events import make_event

T0 = datetime(2026, 3, 11, 9, 0, tzinfo=UTC)
EXPLANATION: dict[str, Any] = {
    "raw_score": -1.2, "base_value": -2.4, "rest": 0.05,
    "reasons": [
        {"field": "EXT_SOURCE_3", "value": 0.139, "contribution": 0.84, "direction": "raises risk"},
        {"field": "NAME_EDUCATION_TYPE", "value": "Higher education", "contribution": -0.2,
         "direction": "lowers risk"},
        {"field": "CREDIT_INCOME_RATIO", "value": 2.0, "contribution": 0.31, "direction": "raises risk",
         "derived_from": ["AMT_CREDIT", "AMT_INCOME_TOTAL"]},
        {"field": "OWN_CAR_AGE", "value": None, "contribution": 0.0, "direction": "lowers risk"},
    ],
}


def test_an_explanation_round_trips_and_its_absence_too(store: EventStore) -> None:
    explained = make_event(T0, event_id="explained", explanation=EXPLANATION)
    plain = make_event(T0, event_id="plain")
    assert plain["explanation"] is None  # the event field exists, empty unless asked for
    result = store.index_events([explained, plain])
    assert result.indexed == 2 and not result.failed
    store.refresh()
    assert store.get_event("explained") == explained
    assert store.get_event("plain") == plain


def test_a_malformed_explanation_is_refused(store: EventStore) -> None:
    unknown = make_event(T0, event_id="unknown-key", explanation={**EXPLANATION, "surprise": 1})
    reason = make_event(T0, event_id="bad-reason",
                        explanation={**EXPLANATION, "reasons": [{"field": "X", "weight": 1.0}]})
    text = make_event(T0, event_id="text-score", explanation={**EXPLANATION, "raw_score": "high"})
    result = store.index_events([unknown, reason, text, make_event(T0, event_id="good")])
    store.refresh()
    assert set(result.failed) == {"unknown-key", "bad-reason", "text-score"}
    assert store.count_events() == 1


def test_events_of_a_job_oldest_first(store: EventStore) -> None:
    events = [make_event(T0 + timedelta(seconds=i), path="async", event_id=f"j-{i}", job_id="job-a")
              for i in (2, 0, 1)]
    events.append(make_event(T0, path="async", event_id="other", job_id="job-b"))
    events.append(make_event(T0, path="sync", event_id="sync-one"))
    assert store.index_events(events).indexed == 5
    store.refresh()
    assert [e["event_id"] for e in store.events_of_job("job-a")] == ["j-0", "j-1", "j-2"]
    assert [e["event_id"] for e in store.events_of_job("job-a", limit=2)] == ["j-0", "j-1"]
    assert store.events_of_job("nope") == []


def test_an_older_sqlite_file_gains_the_explanation_column(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    store = SQLiteEventStore(path)
    store.setup()
    store.close()
    with sqlite3.connect(path) as conn:  # the file as written before explanations existed
        conn.execute("ALTER TABLE events DROP COLUMN explanation")
    reopened = SQLiteEventStore(path)
    reopened.setup()
    event = make_event(T0, event_id="after", explanation=EXPLANATION)
    assert reopened.index_events([event]).indexed == 1
    assert reopened.get_event("after") == event
    reopened.close()
