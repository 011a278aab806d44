"""``POST /v1/score``, answered below FastAPI's routing: its one handler.

FastAPI's router, its exception middleware, the exit-stack middleware and the
request/response wrapper of a route cost more per request than validation,
encoding and inference together (see docs/optimisation.md). This pure-ASGI
layer sits inside :class:`gateway.middleware.RequestContextMiddleware` (request
id, API key, body limit, metrics, access log still apply) and answers every
request to ``/v1/score`` itself; the OpenAPI document describes it through
:func:`gateway.routes.score.score_operation`.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from starlette.requests import Request

from gateway.deps import scoring_of
from gateway.errors import error_body, gateway_error_response
from gateway.exceptions import GatewayError
from gateway.middleware import request_id_of
from gateway.responses import OrjsonResponse
from gateway.routes import explain_param, read_body

SCORE_PATH = "/v1/score"
ROUTE_LABEL = SimpleNamespace(path=SCORE_PATH)


class ScoreEndpoint:
    """Answer ``/v1/score`` (POST; any other method is 405); pass everything else on.

    Args:
        app: the rest of the ASGI stack.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != SCORE_PATH:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        scope["route"] = ROUTE_LABEL  # what the middleware reads for the metrics' route label
        if scope["method"] != "POST":
            response = OrjsonResponse(error_body(request, "method_not_allowed", "Method Not Allowed"), 405,
                                      {"Allow": "POST"})
        else:
            try:
                scoring = scoring_of(request)
                explain = explain_param(request, scoring, "sync") if scope["query_string"] else False
                body = await read_body(request, scoring, "sync")
                response = OrjsonResponse(scoring.score_one(body, request_id_of(scope), explain))
            except GatewayError as exc:
                response = gateway_error_response(request, exc)
        await response(scope, receive, send)
