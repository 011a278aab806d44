"""One pure-ASGI middleware for what every request needs.

Request id in and out, the body-size limit, timing, Prometheus counters, the
access log line, and a last-resort 500 that never shows a stack trace. A pure
ASGI class costs a few microseconds a request, where Starlette's
``BaseHTTPMiddleware`` costs tens.
"""

from __future__ import annotations

import hmac
import logging
import random
import re
import time
from collections.abc import MutableMapping, Sequence
from typing import Any

import orjson

from gateway.exceptions import BodyTooLargeError
from gateway.logs import AccessLog
from gateway.metrics import GatewayMetrics
from shared.event import new_id
from shared.logs import request_id_var

Scope = dict[str, Any]
Message = dict[str, Any]

REQUEST_ID_HEADER = b"x-request-id"
API_KEY_HEADER = b"x-api-key"
PROTECTED_PREFIX = "/v1/"
_VALID_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
_errors = logging.getLogger("gateway.errors")


def request_id_of(scope: MutableMapping[str, Any]) -> str | None:
    """The request id the middleware gave this request (None outside a request)."""
    state = scope.get("state")
    return state.get("request_id") if state else None


class RequestContextMiddleware:
    """Request id, API key, body limit, timing, metrics, access log and the last-resort 500.

    The API key is checked here rather than in a FastAPI dependency: FastAPI's
    dependency solving cost about a tenth of a ``/v1/score`` request.

    Args:
        app: the ASGI app.
        metrics: the gateway's metrics.
        max_body_bytes: larger bodies get 413.
        api_keys: accepted ``X-API-Key`` values for ``/v1/`` paths (empty: no check, ALLOW_NO_API_KEY).
        access_log: JSON access lines.
        access_log_sample: the share of ordinary requests (status below 400, faster than ``access_log_slow_ms``)
            given a line, chosen at random; errors and slow requests always get one.
        access_log_slow_ms: the duration from which a request always gets its line.
    """

    def __init__(self, app: Any, metrics: GatewayMetrics, max_body_bytes: int, api_keys: Sequence[str] = (),
                 access_log: bool = True, access_log_sample: float = 1.0, access_log_slow_ms: float = 25.0) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.api_keys = [key.encode() for key in api_keys]
        self.access_log = AccessLog() if access_log else None
        self.sample = access_log_sample
        self.slow_s = access_log_slow_ms / 1000.0

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        incoming_id, api_key, declared = read_headers(scope["headers"])
        request_id = incoming_id or new_id()
        scope.setdefault("state", {})["request_id"] = request_id
        context = request_id_var.set(request_id)  # every line logged in this request carries it
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
            refusal = self.key_refusal(scope["path"], api_key)
            if refusal is not None:
                status = 401
                await _send_json(send, 401, rid_header, {"error": "unauthorized", "message": refusal,
                                                         "request_id": request_id})
            else:
                await self.app(scope, self._limited(receive, declared), send_wrapper)
        except Exception:
            _errors.exception("unhandled error", extra={"path": scope.get("path")})
            status = 500
            if not started:
                await _send_json(send, 500, rid_header, internal_error(request_id))
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or _unrouted(scope, status)
            self.record(scope["method"], template, scope.get("path"), status, time.perf_counter() - start)
            request_id_var.reset(context)

    def record(self, method: str, route: str, path: str | None, status: int, elapsed: float) -> None:
        """Count an answered request in the metrics and write its access line (its request id from the context).

        Every request is counted. An error (status 400 or above) or a slow request always gets its line; an
        ordinary one gets it with the probability ``access_log_sample``, and its line then says so
        (``sample_rate``): a count of such lines divided by it estimates the ordinary requests.
        """
        self.metrics.observe_request(route, method, status, elapsed)
        if self.access_log is None:
            return
        fields = {"method": method, "route": route, "path": path, "status": status,
                  "duration_ms": round(elapsed * 1000.0, 3)}
        sample = self.sample
        if sample < 1.0 and status < 400 and elapsed < self.slow_s:
            if random.random() >= sample:
                return
            fields["sample_rate"] = sample
        self.access_log.write(fields)

    def key_refusal(self, path: str, given: bytes | None) -> str | None:
        """None when a request to ``path`` with the ``X-API-Key`` ``given`` may go on, else why it may not (401)."""
        if not self.api_keys or not path.startswith(PROTECTED_PREFIX):
            return None
        if not given:
            return "missing X-API-Key header"
        matched = False
        for candidate in self.api_keys:  # no early exit: the time does not tell which key nearly matched
            matched |= hmac.compare_digest(given, candidate)
        return None if matched else "invalid X-API-Key"

    def _limited(self, receive: Any, declared: int | None) -> Any:
        """Wrap ``receive`` so that a body over the limit raises :class:`BodyTooLargeError`."""
        limit = self.max_body_bytes
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


def read_headers(headers: Sequence[tuple[bytes, bytes]]) -> tuple[str | None, bytes | None, int | None]:
    """One pass over the request's headers (lower-case names): (valid incoming request id, API key, Content-Length)."""
    request_id = api_key = length = None
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            request_id = value.decode() if _VALID_REQUEST_ID.match(value) else None
        elif name == API_KEY_HEADER:
            api_key = value
        elif name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                length = None
    return request_id, api_key, length


def internal_error(request_id: str) -> dict[str, Any]:
    """The body of the last-resort 500: no stack trace, the request id to quote."""
    return {"error": "internal_error",
            "message": "internal error: the request could not be completed; quote the request_id",
            "request_id": request_id}


def _unrouted(scope: Scope, status: int) -> str:
    """The metrics label of a request no route handled: one label, so unknown paths cannot explode the series."""
    return "<unauthorized>" if status == 401 and scope["path"].startswith(PROTECTED_PREFIX) else "<unmatched>"


def json_answer(body: dict[str, Any]) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The headers (the request id's aside) and bytes of an answer the middleware writes itself."""
    payload = orjson.dumps(body)
    return [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())], payload


async def _send_json(send: Any, status: int, rid_header: tuple[bytes, bytes], body: dict[str, Any]) -> None:
    headers, payload = json_answer(body)
    await send({"type": "http.response.start", "status": status, "headers": [*headers, rid_header]})
    await send({"type": "http.response.body", "body": payload})
