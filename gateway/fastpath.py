"""``POST /v1/score`` served below FastAPI's routing: the same route, fewer layers.

FastAPI's router, its exception middleware, the exit-stack middleware and the
request/response wrapper of a route cost more per request than validation,
encoding and inference together (see docs/optimisation.md). This pure-ASGI
layer sits inside :class:`gateway.middleware.RequestContextMiddleware` (request
id, API key, body limit, metrics, access log still apply) and answers ``POST
/v1/score`` itself with the very functions the route uses: the route stays
registered (OpenAPI, ``/docs``), and the answers, errors and events are the
same; ``tests/gateway`` run every case through both.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from starlette.requests import Request

from gateway.deps import scoring_of
from gateway.errors import gateway_error_response
from gateway.exceptions import GatewayError
from gateway.middleware import request_id_of
from gateway.responses import OrjsonResponse
from gateway.routes import read_body

SCORE_PATH = "/v1/score"
ROUTE_LABEL = SimpleNamespace(path=SCORE_PATH)


class ScoreFastPath:
    """Answer ``POST /v1/score`` without FastAPI's routing; pass everything else on.

    Args:
        app: the rest of the ASGI stack.
        enabled: False serves every request through FastAPI (``SCORE_FAST_PATH=false``).
    """

    def __init__(self, app: Any, enabled: bool = True) -> None:
        self.app = app
        self.enabled = enabled

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if not self.enabled or scope["type"] != "http" or scope["path"] != SCORE_PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        scope["route"] = ROUTE_LABEL  # what the middleware reads for the metrics' route label
        try:
            scoring = scoring_of(request)
            body = await read_body(request, scoring, "sync")
            response = OrjsonResponse(scoring.score_one(body, request_id_of(scope)))
        except GatewayError as exc:
            response = gateway_error_response(request, exc)
        await response(scope, receive, send)
