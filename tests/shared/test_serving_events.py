"""The one builder of refused inputs and error messages: client ids kept only as their pseudonym."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from shared.pseudonym import Pseudonymiser, pseudonymise
from shared.serving.events import MESSAGE_MAX_CHARS, EventBuilder, raw_input

KEY = "serving-key"
REF = pseudonymise(640_117, KEY)


class Collect:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def publish(self, event: Any) -> None:
        self.events.append(event)


@pytest.mark.parametrize(("raw", "shape"), [
    (b'{"SK_ID_CURR": 640117, "AMT_CREDIT": -1}', "json"),
    (b'{"SK_ID_CURR": "640117"}', "json"),                            # the id as text: one client
    (b'{"SK_ID_CURR" :\n 640117 ,, "AMT', "malformed"),
    ({"SK_ID_CURR": 640117, "CODE_GENDER": "?"}, "json"),              # a batch item, parsed
    ("{'SK_ID_CURR': 640117}", "malformed"),                           # repr of an item that is not a dict
])
def test_raw_input_keeps_the_pseudonym_and_names_the_client(raw: Any, shape: str) -> None:
    text, ref = raw_input(raw, 10_000, Pseudonymiser(KEY))
    assert text is not None and "640117" not in text and REF in text
    assert ref == REF
    if shape == "json":
        assert orjson.loads(text)["SK_ID_CURR"] == REF


def test_raw_input_is_cut_after_pseudonymisation_and_none_stays_none() -> None:
    body = b'{"SK_ID_CURR": 640117, "NOTE": "' + b"x" * 500 + b'"}'
    text, ref = raw_input(body, 40, Pseudonymiser(KEY))
    assert text is not None and len(text) == 40 and "640117" not in text and ref == REF
    assert raw_input(None, 40, Pseudonymiser(KEY)) == (None, None)
    assert raw_input(b"not json", 40, Pseudonymiser(KEY)) == ("not json", None)


def test_every_invalid_and_failed_event_is_pseudonymised_at_the_source() -> None:
    sink = Collect()
    builder = EventBuilder(sink, KEY)
    builder.invalid("sync", b'{"SK_ID_CURR": 640117,', "malformed_json", "not JSON: SK_ID_CURR=640117", None, "v")
    builder.failed("async", {}, "640117", "JobInputError", "x" * MESSAGE_MAX_CHARS + "{'SK_ID_CURR': 640117}",
                   None, "v", timings=builder_timings())
    invalid, failed = (event.to_dict() for event in sink.events)
    assert invalid["client_ref"] == failed["client_ref"] == REF
    assert "640117" not in orjson.dumps(sink.events[0]).decode() + orjson.dumps(sink.events[1]).decode()
    assert len(failed["error_message"]) == MESSAGE_MAX_CHARS


def builder_timings() -> Any:
    from shared.event import Timings

    return Timings()
