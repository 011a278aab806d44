"""Validation of an outcomes request: the envelope (all or nothing) and each item (listed and skipped).

Hand-written rather than a pydantic model per item: an error must name the
item's index and one field with a short rule, the 10,000 items of a full
request are checked in a few milliseconds, and an item's bad field must not
hide its other bad fields.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from shared.columns import CLIENT_ID, CLIENT_ID_MAX
from shared.outcomes.exceptions import EnvelopeError

MAX_ITEMS = 10_000
CLOCK_SKEW = timedelta(minutes=5)  # an observed_at this far ahead of our clock is still taken as "now"
EVENT_ID_PATTERN = re.compile(r"[0-9a-f]{32}")  # the 32 hex digits every answer's event_id has
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # what the gateway accepts as X-Request-ID
REFERENCES = ("event_id", "request_id", CLIENT_ID)
FIELDS = frozenset((*REFERENCES, "defaulted", "observed_at"))

Reference = Literal["event_id", "request_id", "SK_ID_CURR"]


@dataclass(frozen=True, slots=True)
class OutcomeItem:
    """One valid item of the request.

    Attributes:
        index: its position in the request's ``outcomes`` list.
        kind: which reference it gives.
        ref: the reference (the clear ``SK_ID_CURR`` here: it is pseudonymised before any storage).
        defaulted: the observed outcome.
        observed_at: when it was observed (UTC).
    """

    index: int
    kind: Reference
    ref: str | int
    defaulted: bool
    observed_at: datetime

    @property
    def observed_iso(self) -> str:
        """``observed_at`` as ISO-8601 with milliseconds and a Z."""
        return self.observed_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def item_error(index: int, field: str, rule: str) -> dict[str, Any]:
    """One entry of the answer's ``errors``."""
    return {"index": index, "field": field, "rule": rule}


def parse_envelope(body: Any) -> list[Any]:
    """The ``outcomes`` list of a request body.

    Raises:
        EnvelopeError: not an object with an ``outcomes`` list of 1 to ``MAX_ITEMS`` items.
    """
    if not isinstance(body, Mapping):
        raise EnvelopeError("body", f"expected an object {{\"outcomes\": [...]}}, got {type(body).__name__}")
    if "outcomes" not in body:
        raise EnvelopeError("outcomes", "missing")
    items = body["outcomes"]
    if not isinstance(items, list):
        raise EnvelopeError("outcomes", f"expected a list, got {type(items).__name__}")
    if not items:
        raise EnvelopeError("outcomes", "at least 1 item")
    if len(items) > MAX_ITEMS:
        raise EnvelopeError("outcomes", f"at most {MAX_ITEMS:,} items, got {len(items):,}")
    return items


def parse_time(value: str) -> datetime | None:
    """An ISO-8601 time as aware UTC (a time without offset is taken as UTC); None when it does not parse."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _reference(index: int, item: Mapping[str, Any], errors: list[dict[str, Any]]) -> tuple[Reference, Any] | None:
    given = [name for name in REFERENCES if name in item]
    if not given:
        errors.append(item_error(index, "event_id", "missing: give one of event_id, request_id, SK_ID_CURR"))
        return None
    if len(given) > 1:
        errors.append(item_error(index, given[1], f"give only one of event_id, request_id, SK_ID_CURR "
                                                  f"(got {', '.join(given)})"))
        return None
    kind: Reference = given[0]  # type: ignore[assignment]
    value = item[kind]
    if kind == CLIENT_ID:
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append(item_error(index, kind, f"wrong type: expected an integer, got {type(value).__name__}"))
            return None
        if not 0 <= value <= CLIENT_ID_MAX:
            errors.append(item_error(index, kind, f"unknown id format: expected 0 to {CLIENT_ID_MAX}"))
            return None
        return kind, value
    if not isinstance(value, str):
        errors.append(item_error(index, kind, f"wrong type: expected a string, got {type(value).__name__}"))
        return None
    pattern = EVENT_ID_PATTERN if kind == "event_id" else REQUEST_ID_PATTERN
    if not pattern.fullmatch(value):
        expected = "32 lower-case hex digits" if kind == "event_id" else "1 to 128 of A-Z a-z 0-9 . _ : -"
        errors.append(item_error(index, kind, f"unknown id format: expected {expected}"))
        return None
    return kind, value


def _observed_at(index: int, item: Mapping[str, Any], now: datetime,
                 errors: list[dict[str, Any]]) -> datetime | None:
    if "observed_at" not in item:
        errors.append(item_error(index, "observed_at", "missing"))
        return None
    value = item["observed_at"]
    if not isinstance(value, str):
        errors.append(item_error(index, "observed_at", f"wrong type: expected an ISO-8601 string, "
                                                       f"got {type(value).__name__}"))
        return None
    moment = parse_time(value)
    if moment is None:
        errors.append(item_error(index, "observed_at", "not an ISO-8601 time (example: 2027-03-01T00:00:00Z)"))
        return None
    if moment > now + CLOCK_SKEW:
        errors.append(item_error(index, "observed_at", "in the future"))
        return None
    return moment


def validate_item(index: int, item: Any, now: datetime) -> tuple[OutcomeItem | None, list[dict[str, Any]]]:
    """Check one item; every bad field is listed, the item is kept only when none is.

    Args:
        index: its position in the request.
        item: the item as decoded from JSON.
        now: the current time (``observed_at`` may not lie after it).

    Returns:
        ``(item, [])`` when valid, else ``(None, errors)``.
    """
    if not isinstance(item, Mapping):
        return None, [item_error(index, "item", f"wrong type: expected an object, got {type(item).__name__}")]
    errors: list[dict[str, Any]] = []
    for name in item:
        if name not in FIELDS:
            errors.append(item_error(index, str(name), "unknown field"))
    reference = _reference(index, item, errors)
    defaulted = item.get("defaulted")
    if "defaulted" not in item:
        errors.append(item_error(index, "defaulted", "missing"))
    elif not isinstance(defaulted, bool):
        errors.append(item_error(index, "defaulted", f"wrong type: expected true or false, "
                                                     f"got {type(defaulted).__name__}"))
    observed = _observed_at(index, item, now, errors)
    if errors or reference is None or observed is None:
        return None, errors
    return OutcomeItem(index, reference[0], reference[1], bool(defaulted), observed), []


def validate_items(items: list[Any], now: datetime) -> tuple[list[OutcomeItem], list[dict[str, Any]]]:
    """Check every item: the valid ones, and the errors of the others (by index, then field order)."""
    valid: list[OutcomeItem] = []
    errors: list[dict[str, Any]] = []
    for index, raw in enumerate(items):
        item, problems = validate_item(index, raw, now)
        if item is not None:
            valid.append(item)
        errors.extend(problems)
    return valid, errors
