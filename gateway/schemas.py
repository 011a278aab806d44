"""Shapes of the API's answers, for the OpenAPI document.

The scoring answers are built by the scoring core (``shared.serving``), as plain
dicts serialised by orjson; their models live beside the builders, in
:mod:`shared.serving.answers`, and are the ones documented here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from shared.serving.answers import (
    BatchRejection,
    BatchResponse,
    BatchResult,
    FieldError,
    JobBatch,
    JobScore,
    JobTimings,
    ScoreResponse,
    Timings,
)

__all__ = [
    "BatchRejection", "BatchResponse", "BatchResult", "ErrorResponse", "FieldError", "JobAccepted", "JobBatch",
    "JobScore", "JobStatus", "JobTimings", "ModelInfo", "OutcomeError", "OutcomeItem", "OutcomesAnswer",
    "OutcomesRequest", "Readiness", "ScoreResponse", "Timings",
]


class JobAccepted(BaseModel):
    """An accepted job: poll ``status_url``."""

    job_id: str
    status: Literal["queued"]
    status_url: str
    request_id: str
    count: int = Field(description="applications queued")
    rejected: int = Field(0, description="applications refused at validation (batch only)")
    errors: list[BatchRejection] = Field(default_factory=list)


class JobStatus(BaseModel):
    """Where a job is: queued, started, finished (with its result) or failed (with the reason)."""

    job_id: str
    status: Literal["queued", "started", "finished", "failed"]
    enqueued_at: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    result: JobScore | JobBatch | None = Field(None, description="when finished: a score, or a batch's results")
    reason: str | None = Field(None, description="when failed: why")


class FieldImportance(BaseModel):
    """How much one field moves the scores on average (the global importance)."""

    field: str
    mean_abs_contribution: float = Field(description="mean |contribution| to the calibrated log-odds")


class ModelInfo(BaseModel):
    """The loaded bundle."""

    model_version: str
    threshold: float
    n_features: int
    features: list[str]
    metrics: dict[str, Any] = Field(default_factory=dict)
    importance: list[FieldImportance] = Field(
        default_factory=list, description="each field's mean absolute contribution over the reference sample, "
        "largest first (empty for a bundle built before explanations)")
    metadata: dict[str, Any] = Field(default_factory=dict, description="the bundle's metadata.json, minus encoding")
    registry_version: str | None = Field(default=None, description="the registry version serving (None: MODEL_DIR)")
    champion_since: str | None = Field(default=None, description="when the serving model became champion (UTC)")
    challenger: dict[str, Any] | None = Field(
        default=None, description="the registered challenger (model_version, bundle_uri), or null"
    )


class Readiness(BaseModel):
    """Whether the gateway can serve, and which dependency is down."""

    status: Literal["ready", "not_ready"]
    checks: dict[str, dict[str, Any]]


class ErrorResponse(BaseModel):
    """Every error answer has this shape."""

    error: str
    message: str
    request_id: str | None = None
    errors: list[FieldError] | None = None


class OutcomeItem(BaseModel):
    """One observed outcome; give exactly one of ``event_id``, ``request_id``, ``SK_ID_CURR``."""

    event_id: str | None = Field(None, description="the event_id a scoring answer returned (32 hex digits)")
    request_id: str | None = Field(None, description="the X-Request-ID of a request that scored one application")
    SK_ID_CURR: int | None = Field(None, description="the client: its newest application scored at or before "
                                                     "observed_at (pseudonymised, never stored in clear)")
    defaulted: bool = Field(description="true when the client defaulted")
    observed_at: str = Field(description="ISO-8601 time the outcome was observed, not in the future")


class OutcomesRequest(BaseModel):
    """Outcomes of scored applications, 1 to 10,000 per request."""

    outcomes: list[OutcomeItem] = Field(min_length=1, max_length=10_000)


class OutcomeError(BaseModel):
    """An item skipped: its position, the field at fault and the rule it breaks."""

    index: int
    field: str
    rule: str


class OutcomesAnswer(BaseModel):
    """What was stored: every valid item counted once, every invalid one listed."""

    accepted: int = Field(description="new outcomes stored")
    updated: int = Field(description="a different outcome replaced the stored one")
    unchanged: int = Field(description="the same outcome was already stored (a re-send)")
    errors: list[OutcomeError] = Field(default_factory=list, description="items skipped, by index")
