"""The one place that builds scoring events.

Every scored application, refused input and failed attempt, on the sync path
or in a job, becomes a :class:`shared.event.ScoringEvent` here. The events are
handed to a publisher whose ``publish`` never blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import orjson

from shared.columns import CLIENT_ID
from shared.event import Path, ScoringEvent, Timings, job_event_id, new_id
from shared.pseudonym import Pseudonymiser
from shared.scorer import ScoreResult
from shared.store.mapping import storable_features

RawInput = bytes | str | Mapping[str, Any] | None
MESSAGE_MAX_CHARS = 2000
_CUT_MARGIN = 256


class Publisher(Protocol):
    """What the core needs of :class:`shared.publisher.EventPublisher`."""

    def publish(self, event: ScoringEvent | Mapping[str, Any]) -> Any: ...  # pragma: no cover


def raw_input(raw: RawInput, max_chars: int, pseudonymiser: Pseudonymiser) -> tuple[str | None, str | None]:
    """A refused input as stored text (truncated), every client id in it replaced by its pseudonym.

    The only builder of an event's ``raw_input``. The id is found by a pattern on the ``SK_ID_CURR`` key
    (:class:`shared.pseudonym.Pseudonymiser`), so a malformed body keeps no id in clear either, and its
    client is still found by erasure and access through the returned pseudonym.

    Args:
        raw: the body (bytes or text), a parsed item, or None.
        max_chars: longest text kept.
        pseudonymiser: the keyed pseudonymiser.

    Returns:
        ``(text, client_ref)``: the client's pseudonym is that of the parsed ``SK_ID_CURR`` when the input
        is a JSON object, else of the first id the pattern finds; None when there is none.
    """
    if raw is None:
        return None, None
    parsed: Any = raw
    if isinstance(raw, bytes | str):
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError:
            parsed = None
    else:
        text = orjson.dumps(raw, default=repr).decode()
    client_id = parsed.get(CLIENT_ID) if isinstance(parsed, dict) else None
    if not isinstance(client_id, int | str) or isinstance(client_id, bool):
        client_id = None
    # Cut with a margin first (a value just past the cut is still seen whole), then pseudonymise, then cut.
    text, refs = pseudonymiser.text_and_refs(text[:max_chars + _CUT_MARGIN])
    ref = pseudonymiser.ref(client_id) if client_id is not None else None
    return text[:max_chars], ref or (refs[0] if refs else None)


def split_application(application: Any) -> tuple[dict[str, Any], Any]:
    """The features (without SK_ID_CURR) and the SK_ID_CURR of a raw application dict ({} and None otherwise)."""
    if not isinstance(application, dict):
        return {}, None
    return {k: v for k, v in application.items() if k != CLIENT_ID}, application.get(CLIENT_ID)


class EventBuilder:
    """Builds events and publishes them.

    Args:
        publisher: the event publisher (never blocks).
        pseudonymisation_key: HMAC key for the client reference.
        raw_input_max_chars: longest refused input kept in an "invalid" event.
        on_error: called with the error type of each "invalid" or "error" event (metrics).
    """

    def __init__(self, publisher: Publisher, pseudonymisation_key: str, raw_input_max_chars: int = 16_384,
                 on_error: Callable[[str], None] | None = None) -> None:
        self.publisher = publisher
        self.key = pseudonymisation_key
        self.pseudonymiser = Pseudonymiser(pseudonymisation_key)
        self.raw_input_max_chars = raw_input_max_chars
        self.on_error = on_error

    def client_ref(self, client_id: Any) -> str | None:
        """Pseudonymised SK_ID_CURR (None when absent); ``100002`` and ``"100002"`` are one client."""
        return self.pseudonymiser.ref(client_id) if client_id is not None else None

    def message(self, text: str) -> str:
        """An error message as stored: a client id in it pseudonymised, truncated."""
        return self.pseudonymiser.text(text[:MESSAGE_MAX_CHARS + _CUT_MARGIN])[:MESSAGE_MAX_CHARS]

    def scored(self, path: Path, features: dict[str, Any], client_id: Any, result: ScoreResult, timings: Timings,
               request_id: str | None, job_id: str | None = None, explanation: dict[str, Any] | None = None,
               index: int | None = None) -> str:
        """Publish one scored application (``features``: the 120 raw fields, ``explanation`` when asked for).

        A job's application (``job_id`` and its ``index`` given) gets an id derived from both, so a
        job run twice stores its events once.

        Returns:
            Its event id.
        """
        event_id = job_event_id(job_id, index) if job_id is not None and index is not None else new_id()
        self.publisher.publish(ScoringEvent(
            event_id=event_id, path=path, status="ok", model_version=result.model_version, request_id=request_id,
            job_id=job_id, client_ref=self.client_ref(client_id), features=features, score=result.probability,
            decision=result.decision, threshold=result.threshold, timings=timings, explanation=explanation,
        ))
        return event_id

    def invalid(self, path: Path, raw: RawInput, error_type: str, message: str, request_id: str | None,
                model_version: str | None, validation_ms: float | None = None) -> str:
        """Publish one refused input (the client's fault), its raw input kept truncated; returns its event id."""
        self._count(error_type)
        text, client_ref = raw_input(raw, self.raw_input_max_chars, self.pseudonymiser)
        event_id = new_id()
        self.publisher.publish(ScoringEvent(
            event_id=event_id, path=path, status="invalid", model_version=model_version, request_id=request_id,
            client_ref=client_ref, raw_input=text, error_type=error_type,
            error_message=self.message(message), timings=Timings(validation_ms=validation_ms,
                                                                 total_ms=validation_ms),
        ))
        return event_id

    def failed(self, path: Path, features: dict[str, Any], client_id: Any, error_type: str, message: str,
               request_id: str | None, model_version: str | None, timings: Timings,
               job_id: str | None = None) -> str:
        """Publish one application we failed to score (our fault); returns its event id.

        Fields the store's mapping would refuse (a job's application is not validated before
        it fails) are left out and named in the message, so the event is stored, not dead-lettered.
        """
        self._count(error_type)
        features, dropped = storable_features(features)
        if dropped:
            message = f"{message} (fields not stored, not valid: {', '.join(sorted(dropped)[:20])})"
        event_id = new_id()
        self.publisher.publish(ScoringEvent(
            event_id=event_id, path=path, status="error", model_version=model_version, request_id=request_id,
            job_id=job_id, client_ref=self.client_ref(client_id), features=features, error_type=error_type,
            error_message=self.message(message), timings=timings,
        ))
        return event_id

    def _count(self, error_type: str) -> None:
        if self.on_error is not None:
            self.on_error(error_type)


def errors_summary(errors: list[dict[str, Any]]) -> str:
    """One line naming each bad field and its rule, for the event's error message."""
    return "; ".join(f"{e['field']}: {e['rule']}" for e in errors)
