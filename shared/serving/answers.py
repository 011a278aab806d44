"""The answers of the scoring core, and the models that document them.

The core builds plain dicts (serialised by orjson: the hot path skips a model
validation); the builders below are the only places these dicts are made, and
``tests/shared/test_answers.py`` checks that each one has exactly the fields of
its model. The gateway's OpenAPI document uses these very models.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from shared.event import Timings as EventTimings
from shared.scorer import ScoreResult

Decision = Literal["approved", "refused"]


class Timings(BaseModel):
    """Server-side timings, in milliseconds."""

    validation_ms: float | None = Field(None, description="parsing and validating the body")
    inference_ms: float | None = Field(None, description="encoding and model (a batch: the whole matrix)")
    total_ms: float | None = Field(None, description="from the body read to the answer ready")


class JobTimings(Timings):
    """Timings of a job, in milliseconds: ``total_ms`` runs from the enqueueing to the end."""

    queue_wait_ms: float | None = Field(None, description="from the enqueueing to the worker's start")


class FieldError(BaseModel):
    """One bad field: its name, the value sent and the rule it breaks."""

    field: str
    value: Any = None
    rule: str
    message: str


class Reason(BaseModel):
    """One field's share of the decision's log-odds."""

    field: str = Field(description="a field of the application, or a column computed from some (derived_from)")
    value: Any = Field(None, description="its value in this application (null: missing)")
    contribution: float = Field(description="what it adds to the log-odds of default (exact TreeSHAP, calibrated)")
    direction: Literal["raises risk", "lowers risk"]
    derived_from: list[str] | None = Field(None, description="the raw fields a computed column comes from")


class Explanation(BaseModel):
    """Why the model scored the application so: ``base_value + sum(reasons) + rest == raw_score``."""

    raw_score: float = Field(description="the application's log-odds of default; sigmoid(raw_score) = probability")
    base_value: float = Field(description="the log-odds of an average applicant (the model's expected value)")
    reasons: list[Reason] = Field(description="the 5 fields with the largest absolute contribution, largest first")
    rest: float = Field(description="the sum of the other fields' contributions")


EXPLANATION_DESCRIPTION = "the decision's reasons, with ?explain=true only"


class ScoreResponse(BaseModel):
    """The score of one application."""

    request_id: str
    event_id: str = Field(description="id of the stored event of this score")
    probability: float = Field(description="estimated probability of default, in [0, 1]")
    decision: Decision = Field(description="refused when probability >= threshold")
    threshold: float
    model_version: str
    timings: Timings
    explanation: Explanation | None = Field(None, description=EXPLANATION_DESCRIPTION)


class BatchResult(BaseModel):
    """One scored application of a batch, by its position in the request."""

    index: int
    event_id: str = Field(description="id of the stored event of this score")
    probability: float
    decision: Decision
    explanation: Explanation | None = Field(None, description=EXPLANATION_DESCRIPTION)


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


class JobScore(BaseModel):
    """The result of a single-application job."""

    event_id: str = Field(description="id of the stored event of this score")
    probability: float
    decision: Decision
    threshold: float
    model_version: str
    timings: JobTimings
    explanation: Explanation | None = Field(None, description=EXPLANATION_DESCRIPTION)


class JobBatch(BaseModel):
    """The result of a batch job."""

    model_version: str
    threshold: float
    count: int
    results: list[BatchResult]
    timings: JobTimings


def timings_answer(timings: EventTimings, queue: bool = False) -> dict[str, float | None]:
    """The ``timings`` object of an answer (with ``queue_wait_ms`` for a job)."""
    answer = {"validation_ms": timings.validation_ms, "inference_ms": timings.inference_ms,
              "total_ms": timings.total_ms}
    if queue:
        answer["queue_wait_ms"] = timings.queue_wait_ms
    return answer


def result_item(index: int, event_id: str, result: ScoreResult,
                explanation: dict[str, Any] | None = None) -> dict[str, Any]:
    """One entry of ``results`` (:class:`BatchResult`); ``explanation`` only when asked for."""
    item = {"index": index, "event_id": event_id, "probability": result.probability, "decision": result.decision}
    if explanation is not None:
        item["explanation"] = explanation
    return item


def score_answer(request_id: str | None, event_id: str, result: ScoreResult, timings: EventTimings,
                 explanation: dict[str, Any] | None = None) -> dict[str, Any]:
    """The answer of ``POST /v1/score`` (:class:`ScoreResponse`); ``explanation`` only when asked for."""
    answer = {"request_id": request_id, "event_id": event_id, "probability": result.probability,
              "decision": result.decision, "threshold": result.threshold, "model_version": result.model_version,
              "timings": timings_answer(timings)}
    if explanation is not None:
        answer["explanation"] = explanation
    return answer


def batch_answer(request_id: str | None, model_version: str, threshold: float, results: list[dict[str, Any]],
                 rejected: list[dict[str, Any]], timings: EventTimings) -> dict[str, Any]:
    """The answer of ``POST /v1/score/batch`` (:class:`BatchResponse`)."""
    return {"request_id": request_id, "model_version": model_version, "threshold": threshold,
            "count": len(results) + len(rejected), "scored": len(results), "rejected": len(rejected),
            "results": results, "errors": rejected, "timings": timings_answer(timings)}


def job_score(event_id: str, result: ScoreResult, timings: EventTimings,
              explanation: dict[str, Any] | None = None) -> dict[str, Any]:
    """The result of a single-application job (:class:`JobScore`); ``explanation`` only when asked for."""
    answer = {"event_id": event_id, "probability": result.probability, "decision": result.decision,
              "threshold": result.threshold, "model_version": result.model_version,
              "timings": timings_answer(timings, queue=True)}
    if explanation is not None:
        answer["explanation"] = explanation
    return answer


def job_batch(model_version: str, threshold: float, results: list[dict[str, Any]],
              timings: EventTimings) -> dict[str, Any]:
    """The result of a batch job (:class:`JobBatch`)."""
    return {"model_version": model_version, "threshold": threshold, "count": len(results), "results": results,
            "timings": timings_answer(timings, queue=True)}
