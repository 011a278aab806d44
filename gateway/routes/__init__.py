"""HTTP routes: thin, they read the request and map the services' answers to HTTP."""

from __future__ import annotations

from fastapi import Request

from gateway.exceptions import BodyTooLargeError, InvalidApplicationError
from gateway.middleware import request_id_of
from gateway.services.scoring import ScoringService
from shared.event import Path


async def read_body(request: Request, scoring: ScoringService, path: Path) -> bytes:
    """The raw body; a body over the limit gives 413 and its "invalid" event."""
    try:
        return await request.body()
    except BodyTooLargeError as exc:
        scoring.refuse_body(path, "body_too_large", exc.message, request_id_of(request.scope))
        raise


EXPLAIN = "explain"
_FLAGS = {"true": True, "1": True, "false": False, "0": False}


def explain_param(request: Request, scoring: ScoringService, path: Path) -> bool:
    """The ``explain`` query parameter: ``true``/``1`` or ``false``/``0`` (absent: false).

    Raises:
        InvalidApplicationError: any other value (a 422 naming the parameter), with its "invalid" event.
    """
    values = request.query_params.getlist(EXPLAIN)
    if not values:
        return False
    if len(values) == 1 and values[0] in _FLAGS:
        return _FLAGS[values[0]]
    shown = values[0] if len(values) == 1 else values
    message = "explain must be one of true, false, 1, 0" + ("" if len(values) == 1 else ", given once")
    scoring.refuse_body(path, "validation", f"explain: {message}", request_id_of(request.scope))
    raise InvalidApplicationError(f"query parameter explain: {message}",
                                  errors=[{"field": EXPLAIN, "value": shown, "rule": "bool_parsing",
                                           "message": message}])
