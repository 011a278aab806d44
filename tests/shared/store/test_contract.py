"""The store contract: every query of EventStore, with known data, on SQLite and Elasticsearch.

The data set (``loaded``): in the window W = [10:00, 12:00) of 2026-03-10,
100 scored events one minute apart from 10:00 (i = 0..99) with score i/100,
total_ms i+1, inference_ms (i+1)/10, even i sync and odd i async (queue wait
2*i ms); 10 invalid events at 11:40-11:49; 5 errors at 11:50-11:54; and two
events just outside W (09:59:59.999 and 12:00:00.000).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from shared.store.base import EventStore, OpsBucket, TimeWindow
from tests.utils.events import make_event, many_events

T0 = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
W = TimeWindow(T0, T0 + timedelta(hours=2))


def scored(i: int) -> dict[str, Any]:
    path = "sync" if i % 2 == 0 else "async"
    return make_event(T0 + timedelta(minutes=i), score=i / 100, total_ms=float(i + 1), inference_ms=(i + 1) / 10,
                      path=path, queue_wait_ms=2.0 * i if path == "async" else None, event_id=f"ok-{i:03d}",
                      request_id=f"req-{i}", job_id=f"job-{i}" if path == "async" else None)


def dataset() -> list[dict[str, Any]]:
    events = [scored(i) for i in range(100)]
    events += [make_event(T0 + timedelta(minutes=100 + i), status="invalid", total_ms=0.5, event_id=f"inv-{i}")
               for i in range(10)]
    events += [make_event(T0 + timedelta(minutes=110 + i), status="error", total_ms=300.0, event_id=f"err-{i}")
               for i in range(5)]
    events += [make_event(T0 - timedelta(milliseconds=1), score=0.99, total_ms=5000.0, event_id="before"),
               make_event(W.until, score=0.99, total_ms=5000.0, event_id="after")]
    return events


@pytest.fixture
def loaded(store: EventStore) -> EventStore:
    result = store.index_events(dataset())
    assert result.indexed == 117 and not result.failed and not result.retry
    store.refresh()
    return store


def test_setup_is_idempotent(loaded: EventStore) -> None:
    loaded.setup()
    assert loaded.healthy()
    assert loaded.count_events() == 117


def test_counts_by_window_status_and_path(loaded: EventStore) -> None:
    assert loaded.count_events(W) == 115
    assert loaded.count_events(W, status="ok") == 100
    assert loaded.count_events(W, status="invalid") == 10
    assert loaded.count_events(W, status="error") == 5
    assert loaded.count_events(W, status="ok", path="async") == 50
    assert loaded.count_events(TimeWindow(T0, T0 + timedelta(minutes=10))) == 10


def test_get_event_round_trips_the_document(loaded: EventStore) -> None:
    assert loaded.get_event("ok-042") == scored(42)
    assert loaded.get_event("ok-043") == scored(43)
    invalid = loaded.get_event("inv-3")
    assert invalid is not None and invalid["status"] == "invalid" and invalid["raw_input"]
    assert invalid["features"] == {}
    assert loaded.get_event("nope") is None


def test_recent_events_newest_first(loaded: EventStore) -> None:
    assert [e["event_id"] for e in loaded.recent_events(3)] == ["after", "err-4", "err-3"]
    in_window = loaded.recent_events(200, W)
    assert len(in_window) == 115 and in_window[-1]["event_id"] == "ok-000"
    assert "features" in in_window[0] and "timings" in in_window[0]


def test_sample_applications_is_the_newest_scored(loaded: EventStore) -> None:
    sample = loaded.sample_applications(W, limit=10)
    assert [row["score"] for row in sample] == [i / 100 for i in range(99, 89, -1)]
    assert sample[0]["AMT_CREDIT"] == scored(99)["features"]["AMT_CREDIT"]
    assert sample[0]["timestamp"] == scored(99)["timestamp"]
    assert "status" not in sample[0] and "timings" not in sample[0]
    assert len(loaded.sample_applications(W)) == 100
    assert len(loaded.sample_applications()) == 102


def test_latency_percentiles(loaded: EventStore) -> None:
    p = loaded.latency_percentiles(W)
    assert set(p) == {50, 95, 99}
    assert p[50] == pytest.approx(50.5, abs=1.0)
    assert p[95] == pytest.approx(95.05, abs=1.5)
    assert p[99] == pytest.approx(99.01, abs=1.5)
    inference = loaded.latency_percentiles(W, field="inference_ms", percentiles=(50,))
    assert inference[50] == pytest.approx(5.05, abs=0.15)
    assert loaded.latency_percentiles(W, path="sync", percentiles=(50,))[50] == pytest.approx(50.0, abs=2.0)
    assert loaded.latency_percentiles(W, status=None, percentiles=(99,))[99] == pytest.approx(300.0, abs=5.0)
    empty = loaded.latency_percentiles(TimeWindow(T0 - timedelta(days=2), T0 - timedelta(days=1)))
    assert empty == {50: None, 95: None, 99: None}
    with pytest.raises(ValueError):
        loaded.latency_percentiles(W, field="score; DROP TABLE events")


def test_score_histogram(loaded: EventStore) -> None:
    histogram = loaded.score_histogram(W, bins=20)
    assert len(histogram) == 20
    assert histogram[0] == (0.0, 0.05, 5)
    assert histogram[-1] == (0.95, 1.0, 5)
    assert [count for _, _, count in histogram] == [5] * 20
    assert sum(c for _, _, c in loaded.score_histogram(W, bins=3)) == 100


def test_score_histogram_edges(store: EventStore) -> None:
    store.index_events([make_event(T0, score=s, event_id=f"s{i}") for i, s in enumerate((0.0, 0.5, 1.0))])
    store.refresh()
    assert [c for _, _, c in store.score_histogram(W, bins=2)] == [1, 2]


def test_decision_counts(loaded: EventStore) -> None:
    assert loaded.decision_counts(W) == {"approved": 50, "refused": 50}
    empty = TimeWindow(T0 - timedelta(days=2), T0 - timedelta(days=1))
    assert loaded.decision_counts(empty) == {"approved": 0, "refused": 0}


def test_operations_buckets(loaded: EventStore) -> None:
    buckets = loaded.operations(W, timedelta(minutes=30))
    assert [b.start for b in buckets] == [T0 + timedelta(minutes=30 * k) for k in range(4)]
    assert [b.count for b in buckets] == [30, 30, 30, 25]
    assert [b.ok for b in buckets] == [30, 30, 30, 10]
    last = buckets[3]
    assert (last.invalid, last.errors, last.approved, last.refused) == (10, 5, 0, 10)
    first = buckets[0]
    assert (first.approved, first.refused) == (30, 0)
    assert first.mean_score == pytest.approx(0.145)
    assert first.latency_p50 == pytest.approx(15.5, abs=1.0)
    assert first.latency_p99 == pytest.approx(29.7, abs=1.0)
    assert first.inference_p95 == pytest.approx(2.855, abs=0.15)
    assert first.queue_wait_p95 == pytest.approx(55.0, abs=3.0)  # async i = 1, 3, ..., 29: 2..58 ms


def _score_percentiles(buckets: list[OpsBucket]) -> list[tuple[float | None, ...]]:
    return [(b.score_p10, b.score_p50, b.score_p90) for b in buckets]


# Known answers are linear interpolation between the sorted scores (numpy's default); Elasticsearch's
# t-digest is exact on so few values, and the tolerance (half the 0.01 step between scores) keeps any
# other percentile or an event from outside the bucket from passing.
SCORE_ABS = 0.005


def test_operations_score_percentiles(loaded: EventStore) -> None:
    buckets = loaded.operations(W, timedelta(minutes=30))
    # scores i/100 of i = 0..29, 30..59, 60..89, 90..99 (the 0.99 just after W is not in the last bucket)
    expected = [(0.029, 0.145, 0.261), (0.329, 0.445, 0.561), (0.629, 0.745, 0.861), (0.909, 0.945, 0.981)]
    for got, want in zip(_score_percentiles(buckets), expected, strict=True):
        assert got == pytest.approx(want, abs=SCORE_ABS)
    window = TimeWindow(T0 + timedelta(minutes=7), T0 + timedelta(minutes=67))
    sync = loaded.operations(window, timedelta(minutes=30), path="sync")  # even i = 8..36, then 38..66
    assert _score_percentiles(sync) == [pytest.approx((0.108, 0.22, 0.332), abs=SCORE_ABS),
                                        pytest.approx((0.408, 0.52, 0.632), abs=SCORE_ABS)]


def test_operations_score_percentiles_of_a_skewed_bucket(store: EventStore) -> None:
    # 16 low scores and 4 high ones: the median stays low while the mean is pulled up.
    scores = [i / 100 for i in range(16)] + [0.90, 0.92, 0.94, 0.96]
    events = [make_event(T0 + timedelta(seconds=i), score=score, event_id=f"skew-{i}")
              for i, score in enumerate(scores)]
    events += [make_event(T0 + timedelta(minutes=40), score=0.7, event_id="alone"),
               make_event(T0 + timedelta(minutes=41), status="error", event_id="failed")]
    store.index_events(events)
    store.refresh()
    skewed, alone, quiet = store.operations(TimeWindow(T0, T0 + timedelta(minutes=90)), timedelta(minutes=30))
    assert skewed.mean_score == pytest.approx(0.246)
    assert _score_percentiles([skewed]) == [pytest.approx((0.019, 0.095, 0.922), abs=SCORE_ABS)]
    assert (alone.count, alone.ok) == (2, 1)
    assert _score_percentiles([alone]) == [pytest.approx((0.7, 0.7, 0.7))]  # the error has no score
    assert _score_percentiles([quiet]) == [(None, None, None)]


def test_operations_unaligned_window_path_and_empty_buckets(loaded: EventStore) -> None:
    window = TimeWindow(T0 + timedelta(minutes=7), T0 + timedelta(minutes=67))
    buckets = loaded.operations(window, timedelta(minutes=30), path="sync")
    assert [b.start for b in buckets] == [window.since, window.since + timedelta(minutes=30)]
    assert [b.count for b in buckets] == [15, 15]
    quiet = loaded.operations(TimeWindow(T0 - timedelta(hours=3), T0 - timedelta(hours=2)), timedelta(minutes=20))
    assert len(quiet) == 3
    assert all(b.count == 0 and b.latency_p95 is None and b.mean_score is None for b in quiet)
    assert all(b.score_p10 is None and b.score_p50 is None and b.score_p90 is None for b in quiet)
    with pytest.raises(ValueError):
        loaded.operations(W, timedelta(milliseconds=1))


def test_replay_overwrites_never_duplicates(loaded: EventStore) -> None:
    again = [scored(i) for i in range(100)]
    again[7]["score"] = 0.777
    result = loaded.index_events(again)
    loaded.refresh()
    assert result.indexed == 100
    assert loaded.count_events() == 117
    assert loaded.get_event("ok-007")["score"] == 0.777


def test_bad_documents_are_reported_not_lost(store: EventStore) -> None:
    good = make_event(T0, event_id="good")
    unknown_feature = make_event(T0, event_id="unknown-feature")
    unknown_feature["features"]["NOT_A_COLUMN"] = 1
    text_score = make_event(T0, event_id="text-score") | {"score": "high"}
    half_flag = make_event(T0, event_id="half-flag")
    half_flag["features"]["FLAG_MOBIL"] = 0.5
    extra_field = make_event(T0, event_id="extra-field", surprise="field")
    no_time = make_event(event_id="no-time", timestamp=None)
    result = store.index_events([good, unknown_feature, text_score, half_flag, extra_field, no_time])
    store.refresh()
    assert result.indexed == 1
    assert set(result.failed) == {"unknown-feature", "text-score", "half-flag", "extra-field", "no-time"}
    assert "NOT_A_COLUMN" in result.failed["unknown-feature"]
    assert all(reason for reason in result.failed.values())
    assert store.count_events() == 1 and store.get_event("good") is not None


def test_reports_and_alerts_round_trip(store: EventStore) -> None:
    for k in range(3):
        report = {"report_id": f"r{k}", "timestamp": (T0 + timedelta(hours=k)).isoformat(), "share_drifted": k / 10,
                  "features": [{"name": "AMT_CREDIT", "test": "psi", "value": 0.1 * k, "drifted": k == 2}]}
        assert store.save_report(report) == f"r{k}"
        store.save_alert({"alert_id": f"a{k}", "timestamp": (T0 + timedelta(minutes=k)).isoformat(),
                          "kind": "latency", "severity": "warning", "message": f"p95 high {k}"})
    reports = store.list_reports()
    assert [r["report_id"] for r in reports] == ["r2", "r1", "r0"]
    assert reports[0]["features"][0]["drifted"] is True
    assert [r["report_id"] for r in store.list_reports(limit=1)] == ["r2"]
    assert [r["report_id"] for r in store.list_reports(window=TimeWindow(T0, T0 + timedelta(hours=1)))] == ["r0"]
    assert [a["alert_id"] for a in store.list_alerts()] == ["a2", "a1", "a0"]
    assert store.list_alerts()[0]["message"] == "p95 high 2"
    with pytest.raises(ValueError):
        store.save_alert({"timestamp": T0.isoformat()})


def test_shadow_scores_are_stored_and_read_back(store: EventStore) -> None:
    shadowed = make_event(T0, event_id="with-shadow")
    shadowed["shadow"] = {"model_version": "challenger-1", "probability": 0.25, "decision": "refused"}
    store.index_events([shadowed, make_event(T0 + timedelta(seconds=1), event_id="without")])
    store.refresh()
    assert store.get_event("with-shadow")["shadow"] == shadowed["shadow"]
    assert store.get_event("without").get("shadow") is None
    pairs = store.shadow_events(TimeWindow(T0 - timedelta(hours=1), T0 + timedelta(hours=1)))
    assert [p["shadow"] for p in pairs] == [shadowed["shadow"]]
    assert pairs[0]["score"] == shadowed["score"] and pairs[0]["decision"] == shadowed["decision"]
    bad = make_event(T0, event_id="bad-shadow")
    bad["shadow"] = {"model_version": "x", "unknown": 1}
    assert "bad-shadow" in store.index_events([bad]).failed


def test_model_events_round_trip(store: EventStore) -> None:
    for k, action in enumerate(("register", "promote", "rollback")):
        store.save_model_event({"model_event_id": f"m{k}", "timestamp": (T0 + timedelta(minutes=k)).isoformat(),
                                "action": action, "from_version": str(k), "to_version": str(k + 1),
                                "forced": k == 1, "gate": {"passed": k != 1, "checks": []}})
    events = store.list_model_events()
    assert [e["action"] for e in events] == ["rollback", "promote", "register"]
    assert events[1]["forced"] is True and events[1]["gate"]["passed"] is False
    assert [e["model_event_id"] for e in store.list_model_events(limit=1)] == ["m2"]
    with pytest.raises(ValueError):
        store.save_model_event({"timestamp": T0.isoformat()})


def test_retention_drops_old_days(store: EventStore) -> None:
    now = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
    days_ago = (10, 5, 5, 3, 2, 0)
    store.index_events([make_event(now - timedelta(days=d), event_id=f"d{i}") for i, d in enumerate(days_ago)])
    store.refresh()
    assert store.apply_retention(3, now=now) == 2  # the days 10 and 5 days ago; 3 days ago is kept
    store.refresh()
    assert store.count_events() == 3
    assert store.get_event("d1") is None and store.get_event("d3") is not None
    assert store.apply_retention(3, now=now) == 0


def test_sample_pages_beyond_one_page(store: EventStore, monkeypatch: pytest.MonkeyPatch) -> None:
    if type(store).__module__ == "shared.store.elastic":  # (importing the client costs seconds: only then)
        monkeypatch.setattr("shared.store.elastic.PAGE", 100)  # exercise PIT + search_after with small pages
    events = many_events(350, end=T0 + timedelta(seconds=350), spread=timedelta(seconds=350))  # newest first
    assert store.index_events(events).indexed == 350
    store.refresh()
    sample = store.sample_applications(W, limit=301)
    assert len(sample) == 301
    stamps = [row["timestamp"] for row in sample]
    assert stamps == [e["timestamp"] for e in events[:301]]
    assert len(store.sample_applications(W, limit=1000)) == 350
    assert len(store.recent_events(250)) == 250


def test_sample_cut_through_one_millisecond_keeps_the_larger_event_ids(store: EventStore,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    if type(store).__module__ == "shared.store.elastic":
        monkeypatch.setattr("shared.store.elastic.PAGE", 10)  # 50 events in one millisecond: five pages
    tied = T0 + timedelta(minutes=30)
    newer = [make_event(tied + timedelta(seconds=30 - i), score=0.9, event_id=f"new-{i:02d}") for i in range(30)]
    ties = [make_event(tied, score=i / 100, event_id=f"tie-{i:02d}") for i in range(50)]
    older = [make_event(tied - timedelta(seconds=1 + i), score=0.95, event_id=f"old-{i:02d}") for i in range(40)]
    shuffled = [ties[i * 17 % 50] for i in range(50)]  # stored in neither id order
    assert store.index_events(older + shuffled + newer).indexed == 120
    store.refresh()
    expected = [f"new-{i:02d}" for i in range(30)] + [f"tie-{i:02d}" for i in range(49, 29, -1)]
    assert [e["event_id"] for e in store.recent_events(50, W)] == expected
    sample = store.sample_applications(W, limit=50)
    assert [row["score"] for row in sample] == [0.9] * 30 + [i / 100 for i in range(49, 29, -1)]
    assert [e["event_id"] for e in store.recent_events(1000, W)] == expected + [
        f"tie-{i:02d}" for i in range(29, -1, -1)] + [f"old-{i:02d}" for i in range(40)]


def test_sample_columns_are_the_columns_of_the_sample(store: EventStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.store.columns import rows_to_columns

    if type(store).__module__ == "shared.store.elastic":
        monkeypatch.setattr("shared.store.elastic.PAGE", 10)  # several ranges of several pages, ties at the cuts
    tied = T0 + timedelta(minutes=30)
    events = [make_event(tied - timedelta(seconds=i // 7), score=i / 100, event_id=f"e-{i * 37 % 90:02d}")
              for i in range(90)]
    events[3]["features"] = {**events[3]["features"], "AMT_INCOME_TOTAL": None, "NAME_CONTRACT_TYPE": None}
    events[4]["features"] = {k: v for k, v in events[4]["features"].items() if k not in ("AMT_CREDIT", "CODE_GENDER")}
    assert store.index_events(events).indexed == 90
    store.refresh()
    numeric, categorical = ["AMT_INCOME_TOTAL", "AMT_CREDIT", "CNT_CHILDREN", "score"], ["NAME_CONTRACT_TYPE",
                                                                                          "CODE_GENDER"]
    for limit in (5, 31, 90, 200):
        sample = store.sample_columns(numeric, categorical, W, limit=limit)
        expected = rows_to_columns(store.sample_applications(W, limit=limit), numeric, categorical)
        assert len(sample) == min(limit, 90)
        assert np.array_equal(sample.numeric, expected.numeric, equal_nan=True)
        assert sample.categorical.tolist() == expected.categorical.tolist()
        assert sample.timestamps.tolist() == expected.timestamps.tolist()
    sample = store.sample_columns(numeric, categorical, W, limit=90)
    assert math.isnan(sample.column("AMT_INCOME_TOTAL")[np.flatnonzero(sample.column("score") == 0.03)[0]])
    assert sample.column("CODE_GENDER")[np.flatnonzero(sample.column("score") == 0.04)[0]] is None


# --- erasure and access -----------------------------------------------------------------
KEY = "contract-key"


def test_find_and_forget_one_client_everywhere_then_nothing_is_left(store: EventStore,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.pseudonym import ClientMatcher, pseudonymise
    from shared.store.personal import PERSONAL_DATA

    if type(store).__module__ == "shared.store.elastic":
        monkeypatch.setattr("shared.store.elastic_personal.ElasticPersonalData.page", 2)  # several pages each
    ref_a, ref_b = pseudonymise(700001, KEY), pseudonymise(700002, KEY)
    at = T0 + timedelta(minutes=5)
    about_a = [
        make_event(at, event_id="a-ok", client_ref=ref_a),
        # text stored before it was pseudonymised: the clear id, in a malformed body, no client_ref
        make_event(at, status="invalid", event_id="a-legacy", client_ref=None,
                   raw_input='{"SK_ID_CURR" : "700001", "AMT_CREDIT": '),
        make_event(at, status="invalid", event_id="a-batch", client_ref=ref_b,  # a batch body naming both
                   raw_input=f'{{"applications": [{{"SK_ID_CURR": "{ref_b}"}}, {{"SK_ID_CURR": "{ref_a}"}}]}}'),
        make_event(at, status="error", event_id="a-error", client_ref=None, error_message=f"failed for {ref_a}"),
    ]
    others = [
        make_event(at, event_id="b-ok", client_ref=ref_b),
        make_event(at, status="invalid", event_id="b-near", client_ref=None, raw_input='{"SK_ID_CURR": 7000012}'),
        make_event(at, event_id="nobody", client_ref=None),
    ]
    assert store.index_events(about_a + others).indexed == 7
    store.save_alert({"alert_id": "al-a", "timestamp": "2026-03-10T10:06:00Z", "message": f"client {ref_a}"})
    store.save_alert({"alert_id": "al-x", "timestamp": "2026-03-10T10:07:00Z", "message": "error rate"})
    store.save_report({"report_id": "rep-1", "timestamp": "2026-03-10T10:08:00Z", "share_drifted": 0.0})
    store.refresh()
    matcher = ClientMatcher.for_client("700001", KEY)

    found = store.find_client(matcher)
    assert set(found) == {kind.name for kind in PERSONAL_DATA}
    assert sorted(e["event_id"] for e in found["events"]) == ["a-batch", "a-error", "a-legacy", "a-ok"]
    assert [a["alert_id"] for a in found["alerts"]] == ["al-a"]
    assert found["drift_reports"] == [] and found["outcomes"] == []
    expected = {"events": 4, "alerts": 1, "outcomes": 0, "drift_reports": 0, "performance_reports": 0,
                "model_events": 0}
    assert store.forget_client(matcher, dry_run=True) == expected
    assert store.count_events() == 7 and len(store.list_alerts()) == 2  # a dry run deletes nothing

    assert store.forget_client(matcher) == expected
    store.refresh()
    assert all(docs == [] for docs in store.find_client(matcher).values())
    assert sorted(e["event_id"] for e in store.recent_events(50)) == ["b-near", "b-ok", "nobody"]
    assert [a["alert_id"] for a in store.list_alerts()] == ["al-x"] and len(store.list_reports()) == 1
    assert store.forget_client(matcher) == dict.fromkeys(expected, 0)  # idempotent
    assert [e["event_id"] for e in store.find_client(ClientMatcher.for_client(700002, KEY))["events"]] == ["b-ok"]


def test_a_collection_added_to_the_list_is_covered_by_reference_and_by_link(store: EventStore,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A new store of client data (here "verdicts") needs one line in PERSONAL_DATA, nothing else."""
    from shared.pseudonym import ClientMatcher, pseudonymise
    from shared.store import personal

    verdicts = personal.PersonalData("verdicts", "verdicts", "verdicts", linked_by=("event_id",))
    monkeypatch.setattr(personal, "PERSONAL_DATA", (*personal.PERSONAL_DATA, verdicts))
    ref = pseudonymise(700003, KEY)
    docs = [{"verdict_id": "by-ref", "client_ref": ref, "event_id": None},
            {"verdict_id": "by-event", "client_ref": None, "event_id": "mine"},  # sent with the event id only
            {"verdict_id": "other", "client_ref": pseudonymise(700004, KEY), "event_id": "theirs"}]
    assert store.index_events([make_event(T0, event_id="mine", client_ref=ref),
                               make_event(T0, event_id="theirs", client_ref=None)]).indexed == 2
    extra_index = _add_verdicts(store, docs)
    try:
        store.refresh()
        matcher = ClientMatcher.for_client(700003, KEY)
        assert sorted(v["verdict_id"] for v in store.find_client(matcher)["verdicts"]) == ["by-event", "by-ref"]
        assert store.forget_client(matcher)["verdicts"] == 2
        store.refresh()
        assert store.find_client(matcher)["verdicts"] == [] and store.forget_client(matcher)["verdicts"] == 0
        other = ClientMatcher.for_client(700004, KEY)
        assert [v["verdict_id"] for v in store.find_client(other)["verdicts"]] == ["other"]
    finally:
        if extra_index:
            store.client.options(ignore_status=404).indices.delete(index=extra_index)  # type: ignore[attr-defined]


def _add_verdicts(store: EventStore, docs: list[dict[str, Any]]) -> str | None:
    """The "verdicts" collection in the store's own terms; returns the index to delete after (Elasticsearch)."""
    if type(store).__module__ == "shared.store.elastic":
        es: Any = store
        index = f"{es.prefix}-verdicts"
        es.client.indices.create(index=index, mappings={"properties": {
            name: {"type": "keyword"} for name in ("verdict_id", "client_ref", "event_id")}})
        for doc in docs:
            es.client.index(index=index, id=doc["verdict_id"], document=doc, refresh=True)
        return index
    with store._write() as conn:  # type: ignore[attr-defined]
        conn.execute("CREATE TABLE verdicts (verdict_id TEXT, client_ref TEXT, event_id TEXT)")
        conn.executemany("INSERT INTO verdicts VALUES (?, ?, ?)",
                         [(d["verdict_id"], d["client_ref"], d["event_id"]) for d in docs])
    return None


def test_audit_records_round_trip_newest_first(store: EventStore) -> None:
    for i in range(3):
        store.save_audit({"audit_id": f"au-{i}", "timestamp": f"2026-03-10T10:0{i}:00Z", "action": "forget",
                          "deleted": {"events": i}, "total": i})
    store.refresh()
    records = store.list_audit()
    assert [r["audit_id"] for r in records] == ["au-2", "au-1", "au-0"]
    assert records[0]["deleted"] == {"events": 2}


def test_reads_never_show_a_clear_id_left_in_old_free_text(store: EventStore) -> None:
    from shared.pseudonym import Pseudonymiser, pseudonymise

    legacy = make_event(T0, status="invalid", event_id="legacy", client_ref=None,
                        raw_input='{"SK_ID_CURR": 700009, "AMT_CREDIT": "x"}', error_message="SK_ID_CURR=700009")
    assert store.index_events([legacy]).indexed == 1
    store.refresh()
    store.pseudonymiser = Pseudonymiser(KEY)  # what make_store sets from PSEUDONYMISATION_KEY
    for shown in (store.get_event("legacy"), store.recent_events(5)[0]):
        assert shown is not None and "700009" not in str(shown)
        assert pseudonymise(700009, KEY) in shown["raw_input"] and pseudonymise(700009, KEY) in shown["error_message"]


# --- resource samples ------------------------------------------------------------------
def resource_sample(minute: int, service: str = "gateway", pid: int = 100, **figures: Any) -> dict[str, Any]:
    moment = T0 + timedelta(minutes=minute)
    return {"sample_id": f"{moment:%Y%m%dT%H%M}-process-{service}-{pid}", "kind": "process",
            "timestamp": moment.isoformat(), "service": service, "pid": pid,
            "cpu_percent": figures.get("cpu_percent", 1.0 * minute), "rss_bytes": 1000 + minute, "open_fds": 10}


def test_resources_are_listed_oldest_first_by_window_and_kind(store: EventStore) -> None:
    samples = [resource_sample(m) for m in range(5)] + [resource_sample(m, "worker", 200) for m in range(5)]
    host = {"sample_id": "host-0", "kind": "host", "timestamp": (T0 + timedelta(minutes=2)).isoformat(),
            "cpu_percent": 50.0, "memory_used_bytes": 5, "memory_total_bytes": 10}
    assert store.save_resources([*samples, host]) == 11
    store.refresh()
    everything = store.list_resources()
    assert len(everything) == 11
    assert [s["timestamp"] for s in everything] == sorted(s["timestamp"] for s in everything)
    window = TimeWindow(T0 + timedelta(minutes=1), T0 + timedelta(minutes=3))
    processes = store.list_resources(window, kind="process")
    assert sorted((s["service"], s["rss_bytes"]) for s in processes) == [
        ("gateway", 1001), ("gateway", 1002), ("worker", 1001), ("worker", 1002)]
    assert [s["sample_id"] for s in store.list_resources(window, kind="host")] == ["host-0"]
    newest = store.list_resources(kind="process", limit=2)
    assert [s["rss_bytes"] for s in newest] == [1004, 1004]


def test_resource_replay_overwrites(store: EventStore) -> None:
    store.save_resources([resource_sample(0, cpu_percent=1.0)])
    store.save_resources([resource_sample(0, cpu_percent=2.0)])
    store.refresh()
    assert [s["cpu_percent"] for s in store.list_resources()] == [2.0]


@pytest.mark.parametrize("bad", [{"kind": "process"}, {"sample_id": "x", "kind": "gpu"},
                                 {"sample_id": "x", "kind": "host", "timestamp": "yesterday"}])
def test_resource_samples_without_id_kind_or_time_are_refused(store: EventStore, bad: dict[str, Any]) -> None:
    from shared.store.mapping import DocumentError

    with pytest.raises(DocumentError):
        store.save_resources([{"timestamp": T0.isoformat(), **bad}])
