"""Scoring events from synthetic applications and the real scorer, for the monitoring scripts.

Shared by ``bench_drift.py`` and ``screenshots.py`` (the drift study goes through
the running gateway instead). Scores and decisions come from the bundle's ONNX
model; timings are drawn around the scorer's own single-row inference time.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np

from shared.columns import CLIENT_ID
from shared.event import ScoringEvent, Timings, pseudonymise
from shared.scorer import Scorer

PSEUDO_KEY = "sim-only-key"


def iso(moment: datetime) -> str:
    """UTC ISO-8601 with milliseconds and a Z."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def scored_events(apps: Sequence[dict[str, Any]], times: Sequence[datetime], scorer: Scorer, *, seed: int = 0,
                  async_share: float = 0.2, latency_factor: Sequence[float] | None = None,
                  error_mask: Sequence[bool] | None = None, invalid_mask: Sequence[bool] | None = None,
                  ) -> list[dict[str, Any]]:
    """One event per application at the given times.

    Args:
        apps: raw applications (with ``SK_ID_CURR``).
        times: event times (aware UTC).
        scorer: the loaded bundle.
        seed: random seed of the simulated timings.
        async_share: share of applications sent as RQ jobs.
        latency_factor: per-event multiplier of the latency (a spike).
        error_mask: events that fail on our side (status "error").
        invalid_mask: events refused as invalid input (status "invalid").

    Returns:
        ``ScoringEvent.to_dict()`` documents.
    """
    rng = np.random.default_rng(seed)
    results = scorer.score_batch(apps)
    per_row = max(results[0].inference_ms / max(len(apps), 1), 0.05) if results else 0.1
    n = len(apps)
    inference = rng.gamma(4.0, per_row * 2.5, n) + 0.15  # single-row calls cost more than a batch share
    overhead = rng.lognormal(np.log(1.2), 0.35, n)
    is_async = rng.random(n) < async_share
    queue_wait = rng.gamma(2.0, 15.0, n)
    events = []
    for i, (app, moment, result) in enumerate(zip(apps, times, results, strict=True)):
        factor = latency_factor[i] if latency_factor is not None else 1.0
        features = {k: v for k, v in app.items() if k != CLIENT_ID}
        path = "async" if is_async[i] else "sync"
        wait = float(queue_wait[i] * factor) if path == "async" else None
        total = float((inference[i] + overhead[i]) * factor) + (wait or 0.0)
        status = "error" if error_mask is not None and error_mask[i] else "ok"
        if invalid_mask is not None and invalid_mask[i]:
            status = "invalid"
        ok = status == "ok"
        event = ScoringEvent(
            path=path,  # type: ignore[arg-type]
            status=status,  # type: ignore[arg-type]
            model_version=scorer.model_version, request_id=uuid.uuid4().hex,
            job_id=uuid.uuid4().hex if path == "async" else None,
            client_ref=pseudonymise(app.get(CLIENT_ID), PSEUDO_KEY),
            features=features if status != "invalid" else {},
            raw_input='{"AMT_CREDIT": "a lot"}' if status == "invalid" else None,
            score=result.probability if ok else None, decision=result.decision if ok else None,
            threshold=scorer.threshold if ok else None,
            error_type={"error": "InferenceError", "invalid": "ValidationError"}.get(status),
            error_message={"error": "model runtime failed", "invalid": "AMT_CREDIT: not a number"}.get(status),
            timings=Timings(validation_ms=float(overhead[i] * 0.2), queue_wait_ms=wait,
                            inference_ms=float(inference[i] * factor) if status != "invalid" else None,
                            total_ms=total),
        )
        event.timestamp = iso(moment)
        events.append(event.to_dict())
    return events
