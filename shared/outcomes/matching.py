"""Matching outcomes to their scored events, and the outcome documents built from them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.fairness import age_band
from shared.store.outcome_base import MATCHED, PENDING, OutcomeStore

EVENT, REQUEST, CLIENT = "event_id", "request_id", "SK_ID_CURR"


@dataclass(frozen=True, slots=True)
class Lookup:
    """What an outcome names: an event, a request, or a client (pseudonymised) as of ``at``."""

    kind: str
    ref: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Resolution:
    """The scored event found (``context``), nothing yet (both None), or why it can never match (``error``)."""

    context: dict[str, Any] | None = None
    error: str | None = None


def resolve(store: OutcomeStore, lookups: Sequence[Lookup]) -> list[Resolution]:
    """Find the scored event of each lookup with one store query per kind.

    An event that exists but is not a scored application, or a request that
    scored several applications, is an error (no later retry can change it).
    Nothing found yet is a plain miss: the event may not be indexed yet.
    """
    by_id = store.events_by_id([lk.ref for lk in lookups if lk.kind == EVENT])
    by_request = store.events_by_request([lk.ref for lk in lookups if lk.kind == REQUEST])
    clients = [lk for lk in lookups if lk.kind == CLIENT]
    by_client = iter(store.newest_client_events([(lk.ref, lk.at) for lk in clients]))
    answers = []
    for lookup in lookups:
        if lookup.kind == EVENT:
            answers.append(_one(by_id.get(lookup.ref)))
        elif lookup.kind == REQUEST:
            events = by_request.get(lookup.ref, [])
            if len(events) > 1:
                answers.append(Resolution(error=f"request scored {len(events)} applications: send their event_id"))
            else:
                answers.append(_one(events[0] if events else None))
        else:
            answers.append(_one(next(by_client)))
    return answers


def _one(context: dict[str, Any] | None) -> Resolution:
    if context is None:
        return Resolution()
    if context.get("status") != "ok":
        return Resolution(error=f"the event is not a scored application (status {context.get('status')})")
    return Resolution(context=context)


def pending_id(lookup: Lookup) -> str:
    """The key of an outcome not matched yet: its reference (and, for a client, the time it is as of)."""
    if lookup.kind == CLIENT:
        return f"client:{lookup.ref}:{lookup.at.isoformat(timespec='milliseconds')}"
    return f"{'event' if lookup.kind == EVENT else 'request'}:{lookup.ref}"


def matched_document(context: dict[str, Any], defaulted: bool, observed_at: str, received_at: str) -> dict[str, Any]:
    """The outcome of a found event, keyed by its ``event_id``, with what performance needs copied from it."""
    return {
        "outcome_id": context["event_id"], "status": MATCHED, "event_id": context["event_id"],
        "request_id": context.get("request_id"), "client_ref": context.get("client_ref"), "defaulted": defaulted,
        "observed_at": observed_at, "received_at": received_at, "timestamp": context.get("timestamp"),
        "model_version": context.get("model_version"), "score": context.get("score"),
        "decision": context.get("decision"), "threshold": context.get("threshold"),
        "CODE_GENDER": context.get("CODE_GENDER"), "age_band": age_band(context.get("DAYS_BIRTH")),
    }


def pending_document(lookup: Lookup, defaulted: bool, observed_at: str, received_at: str,
                     status: str = PENDING) -> dict[str, Any]:
    """The outcome of an event not found yet, keyed by :func:`pending_id`; it keeps what a later match needs."""
    return {
        "outcome_id": pending_id(lookup), "status": status,
        "event_id": lookup.ref if lookup.kind == EVENT else None,
        "request_id": lookup.ref if lookup.kind == REQUEST else None,
        "client_ref": lookup.ref if lookup.kind == CLIENT else None,
        "defaulted": defaulted, "observed_at": observed_at, "received_at": received_at, "timestamp": None,
        "model_version": None, "score": None, "decision": None, "threshold": None, "CODE_GENDER": None,
        "age_band": None,
    }


def lookup_of(doc: dict[str, Any], parse: Any) -> Lookup:
    """The lookup a pending document stands for (``parse`` turns its ``observed_at`` into a datetime)."""
    at = parse(doc["observed_at"])
    if doc.get("event_id"):
        return Lookup(EVENT, doc["event_id"], at)
    if doc.get("request_id"):
        return Lookup(REQUEST, doc["request_id"], at)
    return Lookup(CLIENT, doc["client_ref"], at)
