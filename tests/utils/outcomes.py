"""Scored applications with known outcomes, for the outcome, performance and benchmark code.

Calibrated by construction: each application defaults with the probability it
was scored with, so realised and estimated figures agree up to sampling noise.
Small events (two features), fast to make by the hundred thousand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from shared.columns import CLIENT_ID, feature_columns
from shared.event import pseudonymise
from shared.schema import example_application

KEY = "test-key"
CLIENT_BASE = 200_000


def iso(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a Z."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Population:
    """Events (``ScoringEvent.to_dict()`` shape) and the outcome each application will have."""

    events: list[dict[str, Any]]
    defaulted: np.ndarray
    scores: np.ndarray

    def outcome_items(self, observed_at: str | None = None, every: int = 1) -> list[dict[str, Any]]:
        """Outcome items by ``event_id`` for every ``every``-th application, observed now by default."""
        observed_at = observed_at or iso(datetime.now(UTC))
        return [{"event_id": e["event_id"], "defaulted": bool(d), "observed_at": observed_at}
                for e, d in zip(self.events[::every], self.defaulted[::every], strict=True)]


def population(n: int, *, seed: int = 0, start: datetime | None = None, spacing: timedelta = timedelta(seconds=1),
               versions: tuple[str, ...] = ("model-1",), threshold: float = 0.1, key: str = KEY,
               men_refused_more: float = 0.0, full_features: bool = False) -> Population:
    """``n`` scored applications, ``spacing`` apart from ``start``, versions taking turns.

    Args:
        men_refused_more: added to the score of the applications with ``CODE_GENDER`` M (before
            the outcome is drawn, so the scores stay calibrated): a lever on disparate impact.
        full_features: events carry the example application's 120 features (as production events
            do) rather than only ``CODE_GENDER`` and ``DAYS_BIRTH``.
    """
    base: dict[str, Any] = {}
    if full_features:  # every column, None where the example has no value, as validated applications are
        base = {c.name: None for c in feature_columns()}
        base.update((k, v) for k, v in example_application().items() if k != CLIENT_ID)
    rng = np.random.default_rng(seed)
    start = start or datetime.now(UTC) - timedelta(days=1)
    genders = np.where(rng.random(n) < 0.65, "F", "M")
    scores = rng.beta(0.7, 7.0, n)
    scores = np.clip(scores + np.where(genders == "M", men_refused_more, 0.0), 0.0, 1.0)
    defaulted = rng.random(n) < scores
    days_birth = -rng.integers(21 * 365, 69 * 365, n)
    events = []
    for i in range(n):
        score = float(scores[i])
        events.append({
            "event_id": f"{seed:08x}{i:024x}", "timestamp": iso(start + i * spacing), "request_id": f"req-{seed}-{i}",
            "job_id": None, "path": "sync", "model_version": versions[i % len(versions)],
            "client_ref": pseudonymise(CLIENT_BASE + i, key), "raw_input": None, "score": score,
            "decision": "refused" if score >= threshold else "approved", "threshold": threshold, "status": "ok",
            "error_type": None, "error_message": None,
            "features": {**base, "CODE_GENDER": str(genders[i]), "DAYS_BIRTH": int(days_birth[i])},
            "timings": {"validation_ms": 0.1, "queue_wait_ms": None, "inference_ms": 1.0, "total_ms": 2.0},
        })
    return Population(events, defaulted, scores)
