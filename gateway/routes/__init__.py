"""HTTP routes: thin, they read the request and map the services' answers to HTTP."""

from __future__ import annotations

from fastapi import Request

from gateway.exceptions import BodyTooLargeError
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
