"""The gateway's shallow event document equals ScoringEvent.to_dict()."""

from __future__ import annotations

import orjson

from gateway.services.events import event_document
from shared.event import ScoringEvent, Timings
from shared.schema import example_application


def test_event_document_is_to_dict() -> None:
    features = example_application()
    for event in (
        ScoringEvent(path="sync", status="ok", features=features, score=0.3, decision="refused", threshold=0.2,
                     model_version="m", request_id="r", client_ref="c", timings=Timings(1.0, None, 2.0, 3.0)),
        ScoringEvent(path="async", status="invalid", raw_input="{", error_type="malformed_json", error_message="x"),
    ):
        assert event_document(event) == event.to_dict()
        assert orjson.loads(orjson.dumps(event_document(event))) == orjson.loads(event.to_json())
