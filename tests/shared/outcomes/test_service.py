"""The outcome ingestion service on the SQLite store: matching, counting, re-sends, pending outcomes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.event import pseudonymise
from shared.outcomes import OutcomeService, resolve_pending
from shared.outcomes.exceptions import EnvelopeError
from shared.store.outcome_base import MATCHED, PENDING, UNMATCHED
from shared.store.sqlite import SQLiteEventStore
from tests.utils.events import make_event

KEY = "test-key"
T0 = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
NOW = datetime(2027, 3, 2, tzinfo=UTC)
OBSERVED = "2027-03-01T00:00:00Z"


def eid(i: int) -> str:
    return f"{i:032x}"


def scored(i: int, client: int, request: str, **extra: Any) -> dict[str, Any]:
    event = make_event(T0 + timedelta(minutes=i), score=i / 10, event_id=eid(i), request_id=request,
                       client_ref=pseudonymise(client, KEY), **extra)
    event["features"]["CODE_GENDER"] = "F"
    event["features"]["DAYS_BIRTH"] = -365 * 30
    return event


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteEventStore]:
    store = SQLiteEventStore(tmp_path / "s.sqlite3")
    store.setup()
    store.index_events([scored(1, 100001, "req-a"), scored(2, 100001, "req-b"), scored(3, 100002, "req-batch"),
                        scored(4, 100003, "req-batch"),
                        make_event(T0, status="invalid", event_id=eid(9), request_id="req-bad")])
    yield store
    store.close()


@pytest.fixture
def service(store: SQLiteEventStore) -> OutcomeService:
    return OutcomeService(store, KEY, clock=lambda: NOW)


def item(**ref: Any) -> dict[str, Any]:
    return {"defaulted": True, "observed_at": OBSERVED, **ref}


def test_each_reference_finds_its_event_and_copies_what_performance_needs(service: OutcomeService,
                                                                         store: SQLiteEventStore) -> None:
    answer = service.ingest({"outcomes": [item(event_id=eid(1)), item(request_id="req-b"),
                                          item(SK_ID_CURR=100002)]})
    assert answer.to_dict() == {"accepted": 3, "updated": 0, "unchanged": 0, "errors": []}
    stored = store.get_outcome(eid(3))
    assert stored is not None
    assert stored["status"] == MATCHED and stored["score"] == pytest.approx(0.3) and stored["decision"] == "approved"
    assert stored["CODE_GENDER"] == "F" and stored["age_band"] == "25-34" and stored["model_version"] == "test-model-1"
    assert stored["client_ref"] == pseudonymise(100002, KEY) and stored["timestamp"] == scored(3, 1, "r")["timestamp"]
    assert "100002" not in repr(stored)  # the clear SK_ID_CURR is never stored


def test_client_reference_takes_the_newest_event_at_or_before_observed_at(service: OutcomeService,
                                                                          store: SQLiteEventStore) -> None:
    at_first = (T0 + timedelta(minutes=1, seconds=30)).isoformat()
    service.ingest({"outcomes": [{"SK_ID_CURR": 100001, "defaulted": False, "observed_at": at_first}]})
    assert store.get_outcome(eid(1)) is not None and store.get_outcome(eid(2)) is None
    service.ingest({"outcomes": [item(SK_ID_CURR=100001)]})
    assert store.get_outcome(eid(2)) is not None


def test_resend_in_any_request_and_by_any_reference_is_counted_once(service: OutcomeService) -> None:
    assert service.ingest({"outcomes": [item(event_id=eid(1))]}).accepted == 1
    again = service.ingest({"outcomes": [item(request_id="req-a"), item(event_id=eid(1))]})
    assert again.to_dict() == {"accepted": 0, "updated": 0, "unchanged": 2, "errors": []}
    changed = service.ingest({"outcomes": [{**item(event_id=eid(1)), "defaulted": False}]})
    assert (changed.accepted, changed.updated, changed.unchanged) == (0, 1, 0)


def test_invalid_items_are_listed_and_valid_ones_stored(service: OutcomeService, store: SQLiteEventStore) -> None:
    answer = service.ingest({"outcomes": [item(event_id=eid(1)), {"event_id": eid(2), "observed_at": OBSERVED},
                                          item(request_id="req-batch"), item(event_id=eid(9)),
                                          item(event_id="nope")]})
    assert answer.accepted == 1
    assert [(e["index"], e["field"]) for e in answer.errors] == [(1, "defaulted"), (2, "request_id"),
                                                                  (3, "event_id"), (4, "event_id")]
    assert "scored 2 applications" in answer.errors[1]["rule"]
    assert "not a scored application" in answer.errors[2]["rule"]
    assert store.get_outcome(eid(2)) is None


def test_envelope_errors_store_nothing(service: OutcomeService, store: SQLiteEventStore) -> None:
    with pytest.raises(EnvelopeError):
        service.ingest({"outcomes": []})
    assert store.count_outcomes(MATCHED) == 0


def test_an_outcome_before_its_event_waits_then_matches(service: OutcomeService, store: SQLiteEventStore) -> None:
    answer = service.ingest({"outcomes": [item(event_id=eid(5)), item(SK_ID_CURR=100005)]})
    assert answer.accepted == 2 and store.count_outcomes(PENDING) == 2
    assert service.ingest({"outcomes": [item(event_id=eid(5))]}).unchanged == 1
    store.index_events([scored(5, 100005, "req-late")])
    counts = resolve_pending(store, now=NOW + timedelta(seconds=10))
    assert counts == {"matched": 2, "unmatched": 0, "waiting": 0}
    assert store.count_outcomes(PENDING) == 0
    matched = store.get_outcome(eid(5))
    assert matched is not None and matched["status"] == MATCHED and matched["received_at"] == "2027-03-02T00:00:00.000Z"


def test_an_outcome_never_matched_is_kept_unmatched_after_the_retry_period(service: OutcomeService,
                                                                           store: SQLiteEventStore) -> None:
    service.ingest({"outcomes": [item(event_id=eid(7))]})
    assert resolve_pending(store, now=NOW + timedelta(seconds=30)) == {"matched": 0, "unmatched": 0, "waiting": 1}
    assert resolve_pending(store, now=NOW + timedelta(seconds=61)) == {"matched": 0, "unmatched": 1, "waiting": 0}
    assert store.count_outcomes(UNMATCHED) == 1 and store.count_outcomes(PENDING) == 0
    assert service.ingest({"outcomes": [item(event_id=eid(7))]}).unchanged == 1  # a re-send changes nothing
    store.index_events([scored(7, 100007, "req-7")])  # it comes at last: a re-send now matches it
    answer = service.ingest({"outcomes": [item(event_id=eid(7))]})
    assert answer.accepted == 1 and store.count_outcomes(UNMATCHED) == 0
