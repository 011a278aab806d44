"""A failed application's event is stored even when its fields were never validated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shared.event import ScoringEvent, Timings
from shared.serving.events import EventBuilder
from shared.store.sqlite import SQLiteEventStore


class _Keep:
    def __init__(self) -> None:
        self.events: list[ScoringEvent] = []

    def publish(self, event: Any) -> None:
        self.events.append(event)


def test_unstorable_fields_are_left_out_and_named(tmp_path: Path) -> None:
    publisher = _Keep()
    builder = EventBuilder(publisher, "test-key")
    builder.failed("async", {"AMT_CREDIT": "lots", "AMT_INCOME_TOTAL": 120000.0, "NOT_A_FIELD": 1}, 100002,
                   "JobInputError", "application 0 is invalid", "req-1", "v1", Timings(total_ms=1.0), job_id="job-1")
    event = publisher.events[0].to_dict()
    assert event["features"] == {"AMT_INCOME_TOTAL": 120000.0}
    assert "AMT_CREDIT" in event["error_message"] and "NOT_A_FIELD" in event["error_message"]
    store = SQLiteEventStore(tmp_path / "events.sqlite3")
    store.setup()
    result = store.index_events([event])  # the strict mapping's checks: accepted, not dead-lettered
    assert not result.failed and store.get_event(event["event_id"]) is not None


def test_valid_fields_are_kept_as_they_are() -> None:
    publisher = _Keep()
    EventBuilder(publisher, "test-key").failed("sync", {"AMT_CREDIT": 1000.0}, None, "scoring_failed", "boom", None,
                                               "v1", Timings())
    assert publisher.events[0].features == {"AMT_CREDIT": 1000.0}
    assert publisher.events[0].error_message == "boom"
