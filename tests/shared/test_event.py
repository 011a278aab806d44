"""The scoring event and the pseudonymisation of client references."""

from __future__ import annotations

import re

import orjson
import pytest

from shared.event import ScoringEvent, Timings, pseudonymise


def test_round_trip_through_json() -> None:
    event = ScoringEvent(
        path="async", status="ok", model_version="v1", request_id="r1", job_id="j1", client_ref="abc",
        features={"AMT_CREDIT": 1.0, "EXT_SOURCE_1": None}, score=0.12, decision="approved", threshold=0.3,
        timings=Timings(validation_ms=0.1, queue_wait_ms=3.0, inference_ms=0.2, total_ms=4.0),
    )
    assert ScoringEvent.from_json(event.to_json()) == event


def test_ids_are_unique_and_timestamps_utc() -> None:
    a, b = ScoringEvent(path="sync", status="ok"), ScoringEvent(path="sync", status="ok")
    assert a.event_id != b.event_id
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", a.timestamp)


def test_document_has_the_timing_fields() -> None:
    doc = orjson.loads(ScoringEvent(path="sync", status="invalid", raw_input="{").to_json())
    assert set(doc["timings"]) == {"validation_ms", "queue_wait_ms", "inference_ms", "total_ms"}
    assert doc["raw_input"] == "{" and doc["features"] == {}


def test_pseudonymise_is_keyed_stable_and_not_reversible_by_eye() -> None:
    one = pseudonymise(100002, "key-a")
    assert one == pseudonymise("100002", "key-a")
    assert one != pseudonymise(100002, "key-b")
    assert one != pseudonymise(100003, "key-a")
    assert one is not None and "100002" not in one and len(one) == 32
    assert pseudonymise(None, "key-a") is None


@pytest.mark.parametrize("now", [1767225600_000000000, 1767225600_123456789, 1798761599_999999999,
                                 1700000000_000999999])
def test_the_timestamp_is_the_text_datetime_gives(monkeypatch: pytest.MonkeyPatch, now: int) -> None:
    from datetime import UTC, datetime

    import shared.event

    monkeypatch.setattr(shared.event.time, "time_ns", lambda: now)
    second, nanoseconds = divmod(now, 10**9)
    as_datetime = datetime.fromtimestamp(second, UTC).replace(microsecond=nanoseconds // 1000)
    expected = as_datetime.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert shared.event.utc_now_iso() == expected
    assert shared.event.utc_now_iso() == expected  # the second's text kept from the first call
