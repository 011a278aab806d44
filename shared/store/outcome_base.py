"""The outcome side of the store: observed defaults, the events they belong to, performance runs.

An outcome document is keyed by ``outcome_id``: the ``event_id`` of the scored
application once matched, so a re-send (in any request, by any reference)
lands on the same document. An outcome whose event is not found yet is kept
under a key of its reference (``pending``) until the resolver matches it or,
after the retry period, marks it ``unmatched``.

Matched outcomes copy from their event what performance needs (score,
decision, threshold, model version, ``CODE_GENDER``, age band, the event's
timestamp), so the figures never need events past their retention.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # base.py imports this module: the annotation needs no runtime import
    from shared.store.base import TimeWindow

MATCHED, PENDING, UNMATCHED = "matched", "pending", "unmatched"
OUTCOME_STATUSES = (MATCHED, PENDING, UNMATCHED)

# Fields of an outcome document, in the SQLite table's column order.
OUTCOME_FIELDS = (
    "outcome_id", "status", "event_id", "request_id", "client_ref", "defaulted", "observed_at", "received_at",
    "timestamp", "model_version", "score", "decision", "threshold", "CODE_GENDER", "age_band",
)
# What makes two outcomes "the same" (with the status, see same_outcome): a re-send is unchanged.
OUTCOME_IDENTITY = ("event_id", "defaulted", "observed_at")
# The fields of an event an outcome needs (``features.`` ones are read from the features).
EVENT_CONTEXT_FIELDS = (
    "event_id", "timestamp", "request_id", "client_ref", "status", "model_version", "score", "decision",
    "threshold", "features.CODE_GENDER", "features.DAYS_BIRTH",
)


def event_context(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The light form of an event the outcomes use: top-level fields plus ``CODE_GENDER`` and ``DAYS_BIRTH``."""
    features = doc.get("features") or {}
    return {
        "event_id": doc.get("event_id"), "timestamp": doc.get("timestamp"), "request_id": doc.get("request_id"),
        "client_ref": doc.get("client_ref"), "status": doc.get("status"), "model_version": doc.get("model_version"),
        "score": doc.get("score"), "decision": doc.get("decision"), "threshold": doc.get("threshold"),
        "CODE_GENDER": features.get("CODE_GENDER"), "DAYS_BIRTH": features.get("DAYS_BIRTH"),
    }


@dataclass
class OutcomeWrite:
    """What an upsert of outcomes did.

    Attributes:
        accepted: documents that were new.
        updated: documents that replaced a different stored outcome.
        unchanged: documents equal to the stored one (nothing written).
        failed: ``outcome_id -> reason`` of documents not stored (counted nowhere else).
    """

    accepted: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    # outcome_id -> "accepted" | "updated" | "unchanged", for the callers that map back to their items
    verdicts: dict[str, str] = field(default_factory=dict)


def same_outcome(stored: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """True when ``new`` re-states ``stored``: the fields of :data:`OUTCOME_IDENTITY` agree, and so does the status.

    A pending outcome sent again after it was marked unmatched re-states it (its
    event is still not found, or it would have come matched).
    """
    if not all(stored.get(name) == new.get(name) for name in OUTCOME_IDENTITY):
        return False
    return stored.get("status") == new.get("status") or (stored.get("status"), new.get("status")) == (UNMATCHED,
                                                                                                    PENDING)


class OutcomeStore(abc.ABC):
    """Outcomes, the event look-ups that match them, and the performance runs."""

    @abc.abstractmethod
    def upsert_outcomes(self, outcomes: Sequence[Mapping[str, Any]]) -> OutcomeWrite:
        """Store outcome documents keyed by ``outcome_id``; tells accepted / updated / unchanged.

        Documents that share an ``outcome_id`` within one call: the last one wins
        and the others count as unchanged (they are re-sends of one outcome).
        """

    @abc.abstractmethod
    def get_outcome(self, outcome_id: str) -> dict[str, Any] | None:
        """One outcome document, or None."""

    @abc.abstractmethod
    def delete_outcomes(self, outcome_ids: Sequence[str]) -> int:
        """Delete outcome documents (pending ones, once matched); returns how many were deleted."""

    @abc.abstractmethod
    def events_by_id(self, event_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The :func:`event_context` of the events found, by ``event_id``."""

    @abc.abstractmethod
    def events_by_request(self, request_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """The contexts of the events of each request (a batch request holds several), by ``request_id``."""

    @abc.abstractmethod
    def newest_client_events(self, queries: Sequence[tuple[str, datetime]]) -> list[dict[str, Any] | None]:
        """For each ``(client_ref, at)``: the context of that client's newest scored event at or before ``at``."""

    @abc.abstractmethod
    def scored_summaries(self, window: TimeWindow | None = None, limit: int = 100_000) -> list[dict[str, Any]]:
        """The newest ``limit`` scored events (status ok) of the window, as :func:`event_context` dicts."""

    @abc.abstractmethod
    def matched_outcomes(self, window: TimeWindow | None = None) -> list[dict[str, Any]]:
        """Matched outcomes whose scored event's ``timestamp`` lies in the window."""

    @abc.abstractmethod
    def pending_outcomes(self, limit: int = 10_000) -> list[dict[str, Any]]:
        """Outcomes still waiting for their event, oldest received first."""

    @abc.abstractmethod
    def count_outcomes(self, status: str, window: TimeWindow | None = None) -> int:
        """Outcomes of one status, received (``received_at``) in the window."""

    @abc.abstractmethod
    def save_performance_report(self, report: Mapping[str, Any]) -> str:
        """Store one performance run (must hold ``report_id`` and ``timestamp``); returns its id."""

    @abc.abstractmethod
    def list_performance_reports(self, limit: int = 200, window: TimeWindow | None = None) -> list[dict[str, Any]]:
        """Performance runs, newest first."""
