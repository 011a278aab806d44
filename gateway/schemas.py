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
    "JobScore", "JobStatus", "JobTimings", "ModelInfo", "Readiness", "ScoreResponse", "Timings",
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
