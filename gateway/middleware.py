"""One pure-ASGI middleware for what every request needs.

Request id in and out, the body-size limit, timing, Prometheus counters, the
access log line, and a last-resort 500 that never shows a stack trace. A pure
ASGI class costs a few microseconds a request, where Starlette's
``BaseHTTPMiddleware`` costs tens.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import MutableMapping
from typing import Any

import orjson

from gateway.exceptions import BodyTooLargeError
from gateway.logs import ACCESS_LOGGER
from gateway.metrics import GatewayMetrics

Scope = dict[str, Any]
Message = dict[str, Any]

REQUEST_ID_HEADER = b"x-request-id"
_VALID_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
_access = logging.getLogger(ACCESS_LOGGER)
_errors = logging.getLogger("gateway.errors")


def request_id_of(scope: MutableMapping[str, Any]) -> str | None:
    """The request id the middleware gave this request (None outside a request)."""
    state = scope.get("state")
    return state.get("request_id") if state else None


class RequestContextMiddleware:
    """Request id, body limit, timing, metrics, access log and the last-resort 500."""

    def __init__(self, app: Any, metrics: GatewayMetrics, max_body_bytes: int, access_log: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        rid_header = (REQUEST_ID_HEADER, request_id.encode())
        status = 500
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), rid_header]
            await send(message)

        try:
            await self.app(scope, self._limited(scope, receive), send_wrapper)
        except Exception:
            _errors.exception("unhandled error", extra={"request_id": request_id, "path": scope.get("path")})
            status = 500
            if not started:
                await _send_json(send, 500, rid_header, {
                    "error": "internal_error",
                    "message": "internal error: the request could not be completed; quote the request_id",
                    "request_id": request_id,
                })
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            template = getattr(route, "path", None) or "<unmatched>"
            self.metrics.observe_request(template, scope["method"], status, elapsed)
            if self.access_log:
                _access.info("request", extra={
                    "request_id": request_id, "method": scope["method"], "route": template,
                    "path": scope.get("path"), "status": status, "duration_ms": round(elapsed * 1000.0, 3),
                })

    def _limited(self, scope: Scope, receive: Any) -> Any:
        """Wrap ``receive`` so that a body over the limit raises :class:`BodyTooLargeError`."""
        limit = self.max_body_bytes
        declared = _content_length(scope)
        if declared is not None and declared <= limit:
            return receive  # the server never passes more than Content-Length
        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            if declared is not None:
                raise BodyTooLargeError(
                    f"request body of {declared} bytes exceeds the limit of {limit} bytes", limit=limit
                )
            message: Message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError(f"request body exceeds the limit of {limit} bytes", limit=limit)
            return message

        return receive_limited


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            return value.decode() if _VALID_REQUEST_ID.match(value) else None
    return None


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_json(send: Any, status: int, rid_header: tuple[bytes, bytes], body: dict[str, Any]) -> None:
    payload = orjson.dumps(body)
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                    rid_header],
    })
    await send({"type": "http.response.body", "body": payload})
