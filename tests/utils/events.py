"""Scoring events for the store, publisher and indexer tests: valid documents, fast to make in bulk."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from shared.columns import CLIENT_ID
from shared.event import ScoringEvent, Timings, pseudonymise
from shared.schema import example_application


def iso(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a Z, as events carry it."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@cache
def _features() -> dict[str, Any]:
    app = example_application()
    app.pop(CLIENT_ID, None)
    return app


def make_event(at: datetime | None = None, *, status: str = "ok", score: float | None = 0.2,
               path: str = "sync", total_ms: float | None = 10.0, inference_ms: float | None = 2.0,
               queue_wait_ms: float | None = None, event_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    """One event document (``ScoringEvent.to_dict()``).

    An "ok" event carries the example application's features, a score and its
    decision (refused from 0.5); "invalid" carries only ``raw_input``; "error"
    carries features and an error.
    """
    ok = status == "ok"
    event = ScoringEvent(
        path=path,  # type: ignore[arg-type]
        status=status,  # type: ignore[arg-type]
        model_version="test-model-1",
        request_id=uuid.uuid4().hex,
        job_id=uuid.uuid4().hex if path == "async" else None,
        client_ref=pseudonymise(100002, "test-key"),
        features=dict(_features()) if status != "invalid" else {},
        raw_input='{"AMT_CREDIT": "lots"}' if status == "invalid" else None,
        score=score if ok else None,
        decision=("refused" if (score or 0) >= 0.5 else "approved") if ok else None,
        threshold=0.5 if ok else None,
        error_type={"invalid": "ValidationError", "error": "InferenceError"}.get(status),
        error_message={"invalid": "AMT_CREDIT: not a number", "error": "model failed"}.get(status),
        timings=Timings(validation_ms=0.1, queue_wait_ms=queue_wait_ms,
                        inference_ms=inference_ms if status != "invalid" else None, total_ms=total_ms),
    )
    if event_id:
        event.event_id = event_id
    if at is not None:
        event.timestamp = iso(at)
    doc = event.to_dict()
    doc.update(overrides)
    return doc


def many_events(n: int, end: datetime | None = None, spread: timedelta = timedelta(hours=1)) -> list[dict[str, Any]]:
    """``n`` distinct scored events spread evenly over ``spread`` before ``end``, newest first.

    Fast: one template copied, so the events share one ``features`` dict (do not mutate it).
    """
    template = make_event()
    end = end or datetime.now(UTC)
    step = spread / max(n, 1)
    events = []
    for i in range(n):
        event = dict(template)
        event["event_id"] = uuid.uuid4().hex
        event["request_id"] = uuid.uuid4().hex
        event["timestamp"] = iso(end - step * i)
        event["score"] = (i % 1000) / 1000
        event["decision"] = "refused" if event["score"] >= 0.5 else "approved"
        events.append(event)
    return events
