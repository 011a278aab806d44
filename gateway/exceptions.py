"""Errors of the gateway, converted to HTTP answers in :mod:`gateway.errors`."""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    """Base class: carries the HTTP status and a client-safe message."""

    status_code = 500
    error = "internal_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class MalformedBodyError(GatewayError):
    """The body is not valid JSON, or not the expected JSON shape."""

    status_code = 400
    error = "malformed_json"


class InvalidApplicationError(GatewayError):
    """The application breaks the schema: one entry per bad field in ``details["errors"]``."""

    status_code = 422
    error = "validation_error"


class InvalidEnvelopeError(GatewayError):
    """The body is JSON but not the expected envelope (``{"outcomes": [1..10,000 items]}``)."""

    status_code = 422
    error = "validation_error"


class BodyTooLargeError(GatewayError):
    """The body exceeds ``MAX_BODY_BYTES``."""

    status_code = 413
    error = "body_too_large"


class BatchTooLargeError(GatewayError):
    """The batch holds more applications than ``MAX_BATCH_SIZE``."""

    status_code = 413
    error = "batch_too_large"


class JobNotFoundError(GatewayError):
    """No job with this id (never existed, or its result expired)."""

    status_code = 404
    error = "job_not_found"


class ServiceUnavailableError(GatewayError):
    """A dependency (Redis, the model, the worker code) is unavailable: retry later."""

    status_code = 503
    error = "service_unavailable"


class ScoringError(GatewayError):
    """The scorer failed on input that passed validation (our fault, not the client's)."""

    status_code = 500
    error = "scoring_failed"
