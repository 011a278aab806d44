"""The outcome side of the store contract, on SQLite and Elasticsearch.

Events: 20 scored applications one minute apart from T0 (``ev-00`` .. ``ev-19``),
client ``c-{i % 4}``, request ``req-{i // 2}`` (two applications per request),
score i/20; plus one refused input of client ``c-0`` at T0 + 30 min.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.store.base import EventStore, TimeWindow
from shared.store.outcome_base import MATCHED, PENDING, UNMATCHED
from tests.utils.events import iso, make_event

T0 = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
RECEIVED = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def scored(i: int) -> dict[str, Any]:
    event = make_event(T0 + timedelta(minutes=i), score=i / 20, event_id=f"ev-{i:02d}", request_id=f"req-{i // 2}",
                       client_ref=f"c-{i % 4}")
    event["features"]["CODE_GENDER"] = "F" if i % 2 else "M"
    event["features"]["DAYS_BIRTH"] = -365 * (20 + i)
    return event


def outcome(i: int, defaulted: bool = False, *, status: str = MATCHED, outcome_id: str | None = None,
            observed: datetime = datetime(2027, 3, 1, tzinfo=UTC), received: datetime = RECEIVED) -> dict[str, Any]:
    matched = status == MATCHED
    return {
        "outcome_id": outcome_id or f"ev-{i:02d}", "status": status, "event_id": f"ev-{i:02d}" if matched else None,
        "request_id": None, "client_ref": f"c-{i % 4}", "defaulted": defaulted, "observed_at": iso(observed),
        "received_at": iso(received), "timestamp": iso(T0 + timedelta(minutes=i)) if matched else None,
        "model_version": "test-model-1" if matched else None, "score": i / 20 if matched else None,
        "decision": "approved" if matched else None, "threshold": 0.5 if matched else None,
        "CODE_GENDER": "M" if matched else None, "age_band": "25-34" if matched else None,
    }


@pytest.fixture
def events(store: EventStore) -> EventStore:
    docs = [scored(i) for i in range(20)]
    docs.append(make_event(T0 + timedelta(minutes=30), status="invalid", event_id="bad", client_ref="c-0"))
    assert store.index_events(docs).indexed == 21
    store.refresh()
    return store


def test_upsert_tells_accepted_updated_unchanged(store: EventStore) -> None:
    first = store.upsert_outcomes([outcome(1), outcome(2, True)])
    assert (first.accepted, first.updated, first.unchanged, first.failed) == (2, 0, 0, {})
    again = store.upsert_outcomes([outcome(1), outcome(2, False), outcome(3)])
    assert (again.accepted, again.updated, again.unchanged) == (1, 1, 1)
    assert again.verdicts == {"ev-01": "unchanged", "ev-02": "updated", "ev-03": "accepted"}
    stored = store.get_outcome("ev-02")
    assert stored == outcome(2, False)
    assert store.get_outcome("nope") is None


def test_upsert_counts_a_repeat_within_one_call_once(store: EventStore) -> None:
    result = store.upsert_outcomes([outcome(1, True), outcome(1, False)])
    assert (result.accepted, result.updated, result.unchanged) == (1, 0, 1)
    assert store.get_outcome("ev-01")["defaulted"] is False  # type: ignore[index]


def test_upsert_refuses_bad_documents_and_stores_the_rest(store: EventStore) -> None:
    bad = outcome(4)
    bad["defaulted"] = "yes"
    unknown = outcome(5)
    unknown["SK_ID_CURR"] = 100002
    result = store.upsert_outcomes([bad, unknown, outcome(6)])
    assert result.accepted == 1 and set(result.failed) == {"ev-04", "ev-05"}
    assert store.get_outcome("ev-04") is None and store.get_outcome("ev-06") is not None


def test_events_by_id_gives_the_context(events: EventStore) -> None:
    found = events.events_by_id(["ev-03", "ev-07", "missing", "ev-03"])
    assert set(found) == {"ev-03", "ev-07"}
    context = found["ev-07"]
    assert context["score"] == pytest.approx(0.35) and context["decision"] == "approved"
    assert context["CODE_GENDER"] == "F" and context["DAYS_BIRTH"] == -365 * 27
    assert context["client_ref"] == "c-3" and context["request_id"] == "req-3" and context["status"] == "ok"
    assert context["timestamp"] == iso(T0 + timedelta(minutes=7))


def test_events_by_request_groups_a_batch(events: EventStore) -> None:
    found = events.events_by_request(["req-2", "req-9", "req-none"])
    assert {k: [c["event_id"] for c in v] for k, v in found.items()} == {"req-2": ["ev-04", "ev-05"],
                                                                        "req-9": ["ev-18", "ev-19"]}


def test_newest_client_event_at_or_before(events: EventStore) -> None:
    answers = events.newest_client_events([
        ("c-1", T0 + timedelta(minutes=9)),       # c-1 scored at 1, 5, 9, 13, 17: 9 (at the moment itself)
        ("c-1", T0 + timedelta(minutes=8, seconds=59)),  # 5
        ("c-0", T0 + timedelta(hours=2)),         # 16 (its refused input at 30 min is no scored event)
        ("c-2", T0 + timedelta(minutes=1)),       # scored first at 2: none
        ("nobody", T0 + timedelta(hours=2)),
    ])
    assert [a["event_id"] if a else None for a in answers] == ["ev-09", "ev-05", "ev-16", None, None]


def test_scored_summaries_are_the_newest_scored(events: EventStore) -> None:
    rows = events.scored_summaries(limit=5)
    assert [r["event_id"] for r in rows] == ["ev-19", "ev-18", "ev-17", "ev-16", "ev-15"]
    window = TimeWindow(T0 + timedelta(minutes=2), T0 + timedelta(minutes=4))
    rows = events.scored_summaries(window)
    assert [r["event_id"] for r in rows] == ["ev-03", "ev-02"]
    assert rows[0] == events.events_by_id(["ev-03"])["ev-03"]


def test_matched_pending_and_unmatched_outcomes(store: EventStore) -> None:
    early, late = RECEIVED - timedelta(minutes=5), RECEIVED
    store.upsert_outcomes([
        outcome(1), outcome(2, True), outcome(12),
        outcome(0, status=PENDING, outcome_id="p-1", received=early),
        outcome(0, status=PENDING, outcome_id="p-2", received=late),
        outcome(0, status=UNMATCHED, outcome_id="u-1", received=late),
    ])
    store.refresh()
    window = TimeWindow(T0, T0 + timedelta(minutes=10))
    assert sorted(o["outcome_id"] for o in store.matched_outcomes(window)) == ["ev-01", "ev-02"]
    assert len(store.matched_outcomes()) == 3
    assert [o["outcome_id"] for o in store.pending_outcomes()] == ["p-1", "p-2"]
    assert [o["outcome_id"] for o in store.pending_outcomes(limit=1)] == ["p-1"]
    assert store.count_outcomes(UNMATCHED) == 1 and store.count_outcomes(PENDING) == 2
    assert store.count_outcomes(PENDING, TimeWindow(late, late + timedelta(seconds=1))) == 1
    assert store.delete_outcomes(["p-1", "nope"]) == 1
    store.refresh()
    assert [o["outcome_id"] for o in store.pending_outcomes()] == ["p-2"]


def test_performance_reports_round_trip(store: EventStore) -> None:
    for i in range(3):
        store.save_performance_report({"report_id": f"r-{i}", "timestamp": iso(T0 + timedelta(hours=i)),
                                       "kind": "performance", "realised": {"auc": 0.7 + i / 100}})
    reports = store.list_performance_reports()
    assert [r["report_id"] for r in reports] == ["r-2", "r-1", "r-0"]
    assert reports[0]["realised"] == {"auc": 0.72}
    assert len(store.list_performance_reports(window=TimeWindow(T0, T0 + timedelta(hours=1)))) == 1


def test_matched_outcomes_read_back_as_stored(store: EventStore) -> None:
    docs = [outcome(i, defaulted=i % 3 == 0) for i in range(25)]
    store.upsert_outcomes(docs)
    store.refresh()
    assert sorted(store.matched_outcomes(), key=lambda o: o["outcome_id"]) == docs
