"""Shapes of the API's answers, for the OpenAPI document.

The routes build plain dicts and serialise them with orjson (the hot path
skips response-model validation); these models document those dicts, and
``tests/gateway`` checks that real answers match them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class Timings(BaseModel):
    """Server-side timings, in milliseconds."""

    validation_ms: float | None = Field(None, description="parsing and validating the body")
    inference_ms: float | None = Field(None, description="encoding and model (a batch: the whole matrix)")
    total_ms: float | None = Field(None, description="from the body read to the answer ready")


class ScoreResponse(BaseModel):
    """The score of one application."""

    request_id: str
    probability: float = Field(description="estimated probability of default, in [0, 1]")
    decision: Literal["approved", "refused"] = Field(description="refused when probability >= threshold")
    threshold: float
    model_version: str
    timings: Timings


class FieldError(BaseModel):
    """One bad field: its name, the value sent and the rule it breaks."""

    field: str
    value: Any = None
    rule: str
    message: str


class BatchResult(BaseModel):
    """One scored application of a batch, by its position in the request."""

    index: int
    probability: float
    decision: Literal["approved", "refused"]


class BatchRejection(BaseModel):
    """One refused application of a batch, by its position in the request."""

    index: int
    errors: list[FieldError]


class BatchResponse(BaseModel):
    """Scores of a batch: valid items scored as one matrix, invalid ones reported by index."""

    request_id: str
    model_version: str
    threshold: float
    count: int = Field(description="applications received")
    scored: int
    rejected: int
    results: list[BatchResult]
    errors: list[BatchRejection]
    timings: Timings


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
    result: dict[str, Any] | None = Field(None, description="when finished: a score, or a batch's results")
    reason: str | None = Field(None, description="when failed: why")


class ModelInfo(BaseModel):
    """The loaded bundle."""

    model_version: str
    threshold: float
    n_features: int
    features: list[str]
    metrics: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict, description="the bundle's metadata.json, minus encoding")


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
