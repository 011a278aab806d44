"""``POST /v1/score/batch``, and the OpenAPI documentation of ``POST /v1/score``.

``POST /v1/score`` itself is answered by :class:`gateway.fastpath.ScoreEndpoint`,
below FastAPI's routing: its one handler. :func:`score_operation` documents it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from gateway.deps import scoring_of
from gateway.middleware import request_id_of
from gateway.openapi import application_body, batch_body, errors
from gateway.responses import OrjsonResponse
from gateway.routes import explain_param, read_body
from gateway.schemas import BatchResponse, ScoreResponse

router = APIRouter(prefix="/v1", tags=["scoring"])

_TIMINGS = {"validation_ms": 0.031, "inference_ms": 0.152, "total_ms": 0.201}
SCORE_EXAMPLE = {"request_id": "4f9c2b1e0a7d4c3b8e6f5a4d3c2b1a09", "event_id": "9a1c3e5f7b2d4f6a8c0e1b3d5f7a9c2e",
                 "probability": 0.0712, "decision": "approved", "threshold": 0.1187,
                 "model_version": "20250101T000000-lgbm", "timings": _TIMINGS}
BATCH_EXAMPLE = {
    "request_id": "4f9c2b1e0a7d4c3b8e6f5a4d3c2b1a09", "model_version": "20250101T000000-lgbm", "threshold": 0.1187,
    "count": 3, "scored": 2, "rejected": 1,
    "results": [{"index": 0, "event_id": "9a1c3e5f7b2d4f6a8c0e1b3d5f7a9c2e", "probability": 0.0712,
                 "decision": "approved"},
                {"index": 1, "event_id": "0b2d4f6a8c1e3a5c7e9b1d3f5a7c9e1b", "probability": 0.2034,
                 "decision": "refused"}],
    "errors": [{"index": 2, "errors": [{"field": "CODE_GENDER", "value": "Q", "rule": "literal_error",
                                        "message": "Input should be 'F', 'M' or 'XNA'"}]}],
    "timings": {"validation_ms": 0.09, "inference_ms": 0.21, "total_ms": 0.35},
}
SCORE_SUMMARY = "Score one application"
SCORE_DESCRIPTION = "Score one application now: probability of default, decision, threshold and model version."


def _ok(model: type, example: dict) -> dict:
    return {"model": model, "content": {"application/json": {"example": example}}}


def score_operation() -> dict[str, Any]:
    """The OpenAPI operation of ``POST /v1/score`` (its responses in FastAPI's ``responses`` form)."""
    return {"tags": ["scoring"], "summary": SCORE_SUMMARY, "description": SCORE_DESCRIPTION,
            "operationId": "score_v1_score_post", **application_body(),
            "responses": {200: {"description": "Successful Response",
                                **_ok(ScoreResponse, SCORE_EXAMPLE)},
                          **errors(400, 401, 413, 422, 500, 503)}}


@router.post(
    "/score/batch", summary="Score a batch of applications", response_class=OrjsonResponse,
    responses={200: _ok(BatchResponse, BATCH_EXAMPLE), **errors(400, 401, 413, 422, 500, 503)},
    openapi_extra=batch_body(),
)
async def score_batch(request: Request) -> OrjsonResponse:
    """Score up to MAX_BATCH_SIZE applications as one matrix; invalid items are reported by index."""
    scoring = scoring_of(request)
    explain = explain_param(request, scoring, "sync")
    body = await read_body(request, scoring, "sync")
    return OrjsonResponse(await scoring.score_batch(body, request_id_of(request.scope), explain))
