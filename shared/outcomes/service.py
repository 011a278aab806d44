"""The outcome ingestion: validate, match to the scored events, store, and count what was stored.

Transport-free: the HTTP route is a thin adapter over :meth:`OutcomeService.ingest`.

The service writes to the store directly and synchronously, not through the
events stream and the indexer that carry the scoring events. The answer must
count what was stored (``accepted`` / ``updated`` / ``unchanged``), which only
the store can tell after its write: a queue would only say "enqueued", and a
later failure would be a silent partial write. Outcomes come in uploads of up
to 10,000 items, not one per scoring request, so one look-up per kind of
reference and one bulk write per request cost little. When the store does not
answer, :class:`~shared.store.exceptions.StoreUnavailableError` leaves the
service with nothing counted as stored; the gateway maps it to a 503.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.event import pseudonymise
from shared.outcomes.matching import (
    CLIENT,
    Lookup,
    lookup_of,
    matched_document,
    pending_document,
    pending_id,
    resolve,
)
from shared.outcomes.validation import item_error, parse_envelope, parse_time, validate_items
from shared.store.outcome_base import PENDING, UNMATCHED, OutcomeStore

logger = logging.getLogger("shared.outcomes")

RETRY_SECONDS = 60.0  # an outcome whose event is not found is retried this long, then kept as unmatched


def iso(moment: datetime) -> str:
    """UTC ISO-8601 with milliseconds and a Z."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class OutcomeAnswer:
    """The answer to one request: how many items were stored how, and the items refused."""

    accepted: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"accepted": self.accepted, "updated": self.updated, "unchanged": self.unchanged,
                "errors": self.errors}


class OutcomeService:
    """Ingests outcome uploads into one store.

    Args:
        store: the outcome store (the events store of the deployment).
        pseudonymisation_key: the key of the events' client pseudonyms, so that a clear
            ``SK_ID_CURR`` finds its events and is never stored.
        clock: the current UTC time (tests pass a fixed one).
    """

    def __init__(self, store: OutcomeStore, pseudonymisation_key: str,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.key = pseudonymisation_key
        self.clock = clock

    def ingest(self, body: Any) -> OutcomeAnswer:
        """Validate, match and store one request's outcomes.

        Args:
            body: the decoded JSON body, ``{"outcomes": [...]}``.

        Returns:
            The counts of the stored items and the errors of the others, sorted by index.

        Raises:
            EnvelopeError: the body is not an object with an ``outcomes`` list of 1 to 10,000 items.
            StoreUnavailableError: the store did not answer (nothing is counted).
        """
        now = self.clock()
        items = parse_envelope(body)
        valid, errors = validate_items(items, now)
        lookups = [Lookup(item.kind, self._ref(item.kind, item.ref), item.observed_at) for item in valid]
        resolutions = resolve(self.store, lookups)
        received = iso(now)
        docs: list[tuple[int, dict[str, Any]]] = []
        matched_refs: list[str] = []
        for item, lookup, found in zip(valid, lookups, resolutions, strict=True):
            if found.error:
                errors.append(item_error(item.index, item.kind, found.error))
            elif found.context is not None:
                docs.append((item.index, matched_document(found.context, item.defaulted, item.observed_iso,
                                                          received)))
                matched_refs.append(pending_id(lookup))
            else:
                docs.append((item.index, pending_document(lookup, item.defaulted, item.observed_iso, received)))
        answer = OutcomeAnswer(errors=errors)
        if docs:
            write = self.store.upsert_outcomes([doc for _, doc in docs])
            seen: set[str] = set()
            for index, doc in docs:
                outcome_id = doc["outcome_id"]
                if outcome_id in write.failed:
                    answer.errors.append(item_error(index, "outcomes", f"not stored: {write.failed[outcome_id]}"))
                    continue
                verdict = "unchanged" if outcome_id in seen else write.verdicts[outcome_id]
                seen.add(outcome_id)
                setattr(answer, verdict, getattr(answer, verdict) + 1)
            if matched_refs:
                self._drop_waiting(matched_refs)
        answer.errors.sort(key=lambda error: error["index"])
        return answer

    def _ref(self, kind: str, ref: str | int) -> str:
        if kind == CLIENT:
            return pseudonymise(ref, self.key) or ""
        return str(ref)

    def _drop_waiting(self, refs: list[str]) -> None:
        """Delete the pending or unmatched copies of outcomes now matched (when there are any at all)."""
        if self.store.count_outcomes(PENDING) or self.store.count_outcomes(UNMATCHED):
            self.store.delete_outcomes(refs)


def resolve_pending(store: OutcomeStore, now: datetime | None = None,
                    retry_seconds: float = RETRY_SECONDS, limit: int = 10_000) -> dict[str, int]:
    """Match the outcomes still waiting for their event; mark those waiting longer than ``retry_seconds`` unmatched.

    Run on a schedule (the monitoring scheduler's ``outcomes`` job). Idempotent: a
    pass interrupted between the write of the matched copy and the delete of
    the pending one leaves the pending one, which the next pass matches again
    (unchanged) and deletes.

    Returns:
        ``{"matched": n, "unmatched": n, "waiting": n}``.
    """
    now = now or datetime.now(UTC)
    pending = store.pending_outcomes(limit)
    counts = {"matched": 0, "unmatched": 0, "waiting": 0}
    if not pending:
        return counts
    lookups = [lookup_of(doc, parse_time) for doc in pending]
    resolutions = resolve(store, lookups)
    matched, stale, done = [], [], []
    deadline = now - timedelta(seconds=retry_seconds)
    for doc, found in zip(pending, resolutions, strict=True):
        if found.context is not None:
            matched.append(matched_document(found.context, doc["defaulted"], doc["observed_at"], doc["received_at"]))
            done.append(doc["outcome_id"])
        elif found.error or (parse_time(doc["received_at"]) or now) <= deadline:
            stale.append({**doc, "status": UNMATCHED})
        else:
            counts["waiting"] += 1
    if matched:
        write = store.upsert_outcomes(matched)
        stored = [pid for pid, doc in zip(done, matched, strict=True) if doc["outcome_id"] not in write.failed]
        store.delete_outcomes(stored)
        counts["matched"] = len(stored)
    if stale:
        write = store.upsert_outcomes(stale)
        counts["unmatched"] = len(stale) - len(write.failed)
    if counts["matched"] or counts["unmatched"]:
        logger.info("pending outcomes resolved", extra={"event": "outcomes_resolved", **counts})
    return counts
