"""The check of an outcome document, shared by both adapters (the Elasticsearch mapping is strict too)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.store import common
from shared.store.mapping import DocumentError, parse_timestamp
from shared.store.outcome_base import MATCHED, OUTCOME_FIELDS, OUTCOME_STATUSES


def check_outcome(doc: Mapping[str, Any]) -> tuple[str, int | None, int]:
    """The id, event time (ms, None when unmatched) and reception time (ms) of an outcome document.

    Raises:
        DocumentError: when a required field is missing or malformed.
    """
    outcome_id = doc.get("outcome_id")
    if not isinstance(outcome_id, str) or not outcome_id:
        raise DocumentError(f"outcome_id: expected a non-empty string, got {outcome_id!r}")
    if doc.get("status") not in OUTCOME_STATUSES:
        raise DocumentError(f"status: expected one of {OUTCOME_STATUSES}, got {doc.get('status')!r}")
    if not isinstance(doc.get("defaulted"), bool):
        raise DocumentError(f"defaulted: expected a boolean, got {doc.get('defaulted')!r}")
    unknown = set(doc) - set(OUTCOME_FIELDS)
    if unknown:
        raise DocumentError(f"{sorted(unknown)[0]}: unknown field (strict mapping)")
    parse_timestamp(doc.get("observed_at"))
    received = common.to_ms(parse_timestamp(doc.get("received_at")))
    moment = None
    if doc["status"] == MATCHED:
        moment = common.to_ms(parse_timestamp(doc.get("timestamp")))
    return outcome_id, moment, received
