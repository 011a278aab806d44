"""Sync scoring: the HTTP adapter over :class:`shared.serving.core.ScoringCore`.

The core validates, scores and emits the events; this module maps its
refusals to HTTP errors, runs large batches in a thread, and feeds the
gateway's metrics.
"""

from __future__ import annotations

from typing import Any, NoReturn

from starlette.concurrency import run_in_threadpool

from gateway.exceptions import (
    BatchTooLargeError,
    GatewayError,
    InvalidApplicationError,
    MalformedBodyError,
    ScoringError,
    ServiceUnavailableError,
)
from gateway.metrics import GatewayMetrics
from gateway.settings import GatewaySettings
from shared.event import Path
from shared.exceptions import ExplanationUnavailableError, InputRefusedError, ScoringFailedError
from shared.publisher import EventPublisher
from shared.scorer import Scorer
from shared.serving.core import Parsed, ScoringCore
from shared.serving.events import EventBuilder

_REFUSALS: dict[str, type[GatewayError]] = {
    "malformed": MalformedBodyError, "invalid": InvalidApplicationError, "too_large": BatchTooLargeError,
}


Failure = InputRefusedError | ScoringFailedError | ExplanationUnavailableError


def http_error(exc: Failure) -> GatewayError:
    """The gateway error (status, code, details) of a refusal or failure of the core."""
    if isinstance(exc, ScoringFailedError):
        return ScoringError(str(exc))
    if isinstance(exc, ExplanationUnavailableError):
        return ServiceUnavailableError(str(exc))
    return _REFUSALS[exc.reason](exc.message, **exc.details)


def raise_http(exc: Failure) -> NoReturn:
    """Raise :func:`http_error` of ``exc``, chained to it."""
    raise http_error(exc) from exc


class ScoringService:
    """The scoring core of the gateway process, with HTTP errors and metrics.

    Args:
        scorer: the preloaded scorer.
        publisher: the event publisher (never blocks).
        metrics: errors counter, scores and decisions histograms.
        settings: batch limits, pseudonymisation key, refused-input size.
    """

    def __init__(self, scorer: Scorer, publisher: EventPublisher | Any, metrics: GatewayMetrics,
                 settings: GatewaySettings) -> None:
        self.scorer = scorer
        self.metrics = metrics
        self.offload_size = settings.batch_offload_size
        self.events = EventBuilder(publisher, settings.pseudonymisation_key, settings.raw_input_max_chars,
                                   on_error=self._count_error)
        self.core = ScoringCore(scorer, self.events, settings.max_batch_size, on_scores=metrics.observe_scores)

    def _count_error(self, error_type: str) -> None:
        self.metrics.errors.labels(error_type).inc()

    def score_one(self, body: bytes, request_id: str | None, explain: bool = False) -> dict[str, Any]:
        """Validate and score one application (with its reasons when ``explain``); the answer of ``POST /v1/score``."""
        try:
            return self.core.score_one(body, request_id, explain)
        except (InputRefusedError, ScoringFailedError, ExplanationUnavailableError) as exc:
            raise_http(exc)

    def parse(self, body: bytes, path: Path, request_id: str | None, allow_single: bool = False) -> Parsed:
        """Validate a batch (or one application): see :meth:`ScoringCore.parse`."""
        try:
            return self.core.parse(body, path, request_id, allow_single)
        except InputRefusedError as exc:
            raise_http(exc)

    async def score_batch(self, body: bytes, request_id: str | None, explain: bool = False) -> dict[str, Any]:
        """Validate a batch, score its valid items as one matrix; the answer of ``POST /v1/score/batch``."""
        parsed = self.parse(body, "sync", request_id)
        try:
            if len(parsed.valid) >= self.offload_size or (explain and len(parsed.valid) > 1):
                return await run_in_threadpool(self.core.score_batch, parsed, request_id, explain)
            return self.core.score_batch(parsed, request_id, explain)
        except (ScoringFailedError, ExplanationUnavailableError) as exc:
            raise_http(exc)

    def refuse_body(self, path: Path, error_type: str, message: str, request_id: str | None) -> None:
        """Emit the "invalid" event of a body refused before it was read (too large)."""
        self.events.invalid(path, None, error_type, message, request_id, self.scorer.model_version)
