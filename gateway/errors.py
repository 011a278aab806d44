"""Exception handlers: every error is JSON with a request id, never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.exceptions import GatewayError, ServiceUnavailableError
from gateway.middleware import request_id_of
from gateway.responses import OrjsonResponse

logger = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = "5"


def error_body(request: Request, error: str, message: str, **extra: Any) -> dict[str, Any]:
    """The one error shape: ``error`` (a code), ``message``, ``request_id``, then details."""
    return {"error": error, "message": message, "request_id": request_id_of(request.scope), **extra}


async def _gateway_error(request: Request, exc: Exception) -> OrjsonResponse:
    assert isinstance(exc, GatewayError)
    return gateway_error_response(request, exc)


def gateway_error_response(request: Request, exc: GatewayError) -> OrjsonResponse:
    """The JSON answer of a :class:`GatewayError` (its status, code, message, details)."""
    headers = {"Retry-After": RETRY_AFTER_SECONDS} if isinstance(exc, ServiceUnavailableError) else None
    if exc.status_code >= 500:
        logger.error("%s: %s", exc.error, exc.message,
                     extra={"cause": repr(exc.__cause__)})
    return OrjsonResponse(error_body(request, exc.error, exc.message, **exc.details), exc.status_code, headers)


async def _request_validation(request: Request, exc: Exception) -> OrjsonResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "field": ".".join(str(p) for p in item.get("loc", ()) if p not in ("body", "path", "query", "header")),
            "value": item.get("input") if isinstance(item.get("input"), (str, int, float, bool)) else None,
            "rule": item.get("type", "invalid"),
            "message": item.get("msg", "invalid value"),
        }
        for item in exc.errors()
    ]
    return OrjsonResponse(
        error_body(request, "validation_error", f"{len(errors)} invalid parameter(s)", errors=errors), 422
    )


async def _http_error(request: Request, exc: Exception) -> OrjsonResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return OrjsonResponse(
        error_body(request, code, str(exc.detail)), exc.status_code, dict(exc.headers or {}) or None
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``; anything else is caught by the middleware (500)."""
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
