"""``POST /v1/score``, answered below FastAPI's routing: its handler in the app.

FastAPI's router, its exception middleware, the exit-stack middleware and the
request/response wrapper of a route cost more per request than validation,
encoding and inference together (see docs/optimisation.md). This pure-ASGI
layer sits inside :class:`gateway.middleware.RequestContextMiddleware` (request
id, API key, body limit, metrics, access log still apply) and answers every
request to ``/v1/score`` that reaches the app; the OpenAPI document describes it through
:func:`gateway.routes.score.score_operation`. Under ``python -m gateway`` most scores do not
reach it: :class:`gateway.server.GatewayHttpProtocol` answers them with :func:`answer`, the
same function, as soon as their body is in.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request

from gateway.deps import scoring_of
from gateway.errors import error_body, gateway_error_response
from gateway.exceptions import BodyTooLargeError, GatewayError
from gateway.middleware import request_id_of
from gateway.responses import OrjsonResponse
from gateway.routes import explain_param
from gateway.services.scoring import ScoringService

SCORE_PATH = "/v1/score"
ROUTE_LABEL = SimpleNamespace(path=SCORE_PATH)
_JSON_TYPE = (b"content-type", b"application/json")
_ANSWER_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS  # those of OrjsonResponse


async def receive_body(receive: Any) -> bytes:
    """The whole request body, as Starlette's ``Request.body()`` reads it, without its stream machinery.

    Raises:
        ClientDisconnect: the client went away before the body's end.
        BodyTooLargeError: from the middleware's ``receive``, when the body is over the limit.
    """
    chunks: list[bytes] = []
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "http.request":
            body = message.get("body", b"")
            if not message.get("more_body", False):
                if not chunks:
                    return body  # the usual case: the whole body in one message
                chunks.append(body)
                return b"".join(chunks)
            if body:
                chunks.append(body)
        elif kind == "http.disconnect":
            raise ClientDisconnect()


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
                try:
                    body = await receive_body(receive)
                except BodyTooLargeError as exc:  # its "invalid" event, then 413
                    scoring.refuse_body("sync", "body_too_large", exc.message, request_id_of(scope))
                    raise
            except GatewayError as exc:
                response = gateway_error_response(request, exc)
            else:
                status, headers, payload = answer(scoring, body, request_id_of(scope), explain)
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": payload})
                return
        await response(scope, receive, send)


def answer(scoring: ScoringService, body: bytes, request_id: str | None,
           explain: bool) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """The status, headers and body of the answer to a body read whole: its score, or its error's JSON.

    The headers are those :class:`gateway.responses.OrjsonResponse` sends, in its order, the body its bytes.
    """
    try:
        payload = orjson.dumps(scoring.score_one(body, request_id, explain), option=_ANSWER_OPTIONS)
    except GatewayError as exc:  # its body names the request id, as every error's does
        response = gateway_error_response(Request({"type": "http", "state": {"request_id": request_id}}), exc)
        return response.status_code, response.raw_headers, bytes(response.body)
    return 200, [(b"content-length", str(len(payload)).encode("latin-1")), _JSON_TYPE], payload
