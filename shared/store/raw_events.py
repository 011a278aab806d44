"""Events as the stream carries them (JSON bytes): decoding, and the key read without decoding.

The indexer hands the store the bytes of each stream entry. An adapter that keeps
the JSON document as it is (Elasticsearch's ``_source``) needs only the event's id
and day from it: :func:`raw_event_key` reads both from the end of the bytes, where
``ScoringEvent.to_json`` puts them, without building the document's ~150 Python
objects. Bytes of any other shape are decoded (:func:`decode_event`) as before.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

# the end of ScoringEvent.to_json(): ...,"event_id":"<id>","timestamp":"YYYY-MM-DDThh:mm:ss[.fff]Z"}
_TAIL = re.compile(rb',"event_id":"([0-9A-Za-z_.:-]{1,200})",'
                   rb'"timestamp":"(\d{4})-(\d{2})-(\d{2})T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z"\}\Z')
_TAIL_BYTES = 300  # the match lies within the last bytes: the search starts there


def decode_event(raw: bytes) -> dict[str, Any]:
    """The event document of a stream entry's bytes.

    Raises:
        ValueError: not JSON, or not a JSON object (the reason says which).
    """
    doc = orjson.loads(raw)
    if not isinstance(doc, dict):
        raise ValueError(f"expected a JSON object, got {type(doc).__name__}")
    return doc


def raw_event_key(raw: bytes) -> tuple[str, str] | None:
    """``(event_id, "YYYY.MM.DD")`` (the UTC day) read from the end of an event's JSON bytes, or None.

    None when the bytes are not in the shape ``ScoringEvent.to_json`` writes (another key order,
    white space, a time with an offset, a line break anywhere): the caller then decodes them.
    The bytes themselves are not validated here: a broken document is refused by the store.
    """
    if not raw.startswith(b"{") or b"\n" in raw:
        return None
    match = _TAIL.search(raw, max(0, len(raw) - _TAIL_BYTES))
    if match is None:
        return None
    event_id, year, month, day = match.groups()
    return event_id.decode(), f"{year.decode()}.{month.decode()}.{day.decode()}"
