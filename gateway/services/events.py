"""Build the scoring events of the gateway and hand them to the publisher.

``publish`` appends to an in-memory queue and returns: the answer never waits
for Redis. Every scored application and every failed attempt gives one event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import orjson

from gateway.metrics import GatewayMetrics
from gateway.middleware import new_id
from shared.columns import CLIENT_ID
from shared.event import Path, ScoringEvent, Timings, pseudonymise


class Publisher(Protocol):
    """What the gateway needs of :class:`shared.publisher.EventPublisher`."""

    def publish(self, event: ScoringEvent | Mapping[str, Any]) -> Any: ...  # pragma: no cover


class EventEmitter:
    """Turns outcomes into :class:`ScoringEvent` objects and publishes them.

    Args:
        publisher: the event publisher (never blocks).
        pseudonymisation_key: HMAC key for the client reference.
        metrics: the gateway's metrics (errors by kind).
        raw_input_max_chars: longest refused input kept in an "invalid" event.
    """

    def __init__(self, publisher: Publisher, pseudonymisation_key: str, metrics: GatewayMetrics,
                 raw_input_max_chars: int = 16_384) -> None:
        self.publisher = publisher
        self.key = pseudonymisation_key
        self.metrics = metrics
        self.raw_input_max_chars = raw_input_max_chars
        # ScoringEvent's default event_id is uuid4(), which reads the OS random source (~40 us a call here)

    def client_ref(self, client_id: Any) -> str | None:
        """Pseudonymised SK_ID_CURR (None when absent)."""
        return pseudonymise(client_id, self.key) if client_id is not None else None

    def scored(self, path: Path, features: dict[str, Any], client_id: Any, probability: float, decision: str,
               threshold: float, model_version: str, timings: Timings, request_id: str | None,
               job_id: str | None = None) -> None:
        """One scored application (``features``: the 120 raw fields, without SK_ID_CURR)."""
        self._publish(ScoringEvent(
            event_id=new_id(), path=path, status="ok", model_version=model_version, request_id=request_id,
            job_id=job_id,
            client_ref=self.client_ref(client_id), features=features, score=probability, decision=decision,
            threshold=threshold, timings=timings,
        ))

    def invalid(self, path: Path, raw_input: bytes | str | Mapping[str, Any] | None, error_type: str,
                message: str, request_id: str | None, model_version: str | None,
                validation_ms: float | None = None) -> None:
        """One refused input (the client's fault); the raw input is kept, truncated."""
        self.metrics.errors.labels(error_type).inc()
        text, client_id = self._raw(raw_input)
        self._publish(ScoringEvent(
            event_id=new_id(), path=path, status="invalid", model_version=model_version, request_id=request_id,
            client_ref=self.client_ref(client_id), raw_input=text, error_type=error_type,
            error_message=message[:2000], timings=Timings(validation_ms=validation_ms, total_ms=validation_ms),
        ))

    def failed(self, path: Path, features: dict[str, Any], client_id: Any, error_type: str, message: str,
               request_id: str | None, model_version: str | None, timings: Timings,
               job_id: str | None = None) -> None:
        """One application we failed to score (our fault)."""
        self.metrics.errors.labels(error_type).inc()
        self._publish(ScoringEvent(
            event_id=new_id(), path=path, status="error", model_version=model_version, request_id=request_id,
            job_id=job_id,
            client_ref=self.client_ref(client_id), features=features, error_type=error_type,
            error_message=message[:2000], timings=timings,
        ))

    def _publish(self, event: ScoringEvent) -> None:
        self.publisher.publish(event)  # serialised by orjson from the dataclass, no to_dict() deep copy

    def _raw(self, raw: bytes | str | Mapping[str, Any] | None) -> tuple[str | None, Any]:
        """The refused input as text, and its SK_ID_CURR when one can be read."""
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
        return text[: self.raw_input_max_chars], client_id


def errors_summary(errors: list[dict[str, Any]]) -> str:
    """One line naming each bad field and its rule, for the event's error message."""
    return "; ".join(f"{e['field']}: {e['rule']}" for e in errors)
