"""``POST /v1/outcomes``: observed defaults of scored applications, stored for performance monitoring."""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from gateway.deps import OutcomesDep
from gateway.exceptions import InvalidEnvelopeError, MalformedBodyError, ServiceUnavailableError
from gateway.openapi import errors, outcomes_body
from gateway.schemas import OutcomesAnswer
from shared.outcomes import EnvelopeError
from shared.store.exceptions import StoreError

router = APIRouter(prefix="/v1", tags=["outcomes"])

ANSWER_EXAMPLE = {"accepted": 2, "updated": 0, "unchanged": 0,
                  "errors": [{"index": 1, "field": "defaulted", "rule": "missing"}]}


@router.post("/outcomes", summary="Report observed outcomes", response_model=OutcomesAnswer,
             openapi_extra=outcomes_body(),
             responses={200: {"content": {"application/json": {"example": ANSWER_EXAMPLE}}},
                        **errors(400, 401, 413, 422, 503)})
async def post_outcomes(request: Request, outcomes: OutcomesDep) -> Any:
    """Store whether scored applications defaulted: bad items are listed and skipped, the others stored."""
    raw = await request.body()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedBodyError(f"the body is not valid JSON ({exc})") from None
    service = outcomes.service()
    try:
        answer = await run_in_threadpool(service.ingest, body)
    except EnvelopeError as exc:
        raise InvalidEnvelopeError(str(exc), errors=[{"field": exc.field, "value": None, "rule": exc.rule,
                                                      "message": exc.rule}]) from None
    except (StoreError, sqlite3.Error) as exc:  # the store down or busy (SQLite locked): 503, never a 500
        raise ServiceUnavailableError(f"the outcome store failed ({exc}): nothing is counted, send again") from exc
    return answer.to_dict()
