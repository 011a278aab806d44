"""OpenAPI pieces: request bodies (the routes read raw bytes, so FastAPI cannot infer them) and examples."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from gateway.schemas import ErrorResponse, OutcomesRequest
from shared.schema import LoanApplication, example_application

_REF = "#/components/schemas/{model}"
API_KEY_SCHEME = "APIKeyHeader"


def _example() -> dict[str, Any]:
    return example_application()


def _invalid_example() -> dict[str, Any]:
    bad = example_application()
    bad["DAYS_BIRTH"] = 1825  # positive: five years *after* the application
    bad["AMT_INCOME_TOTAL"] = 0
    bad["CODE_GENDER"] = "Q"
    return bad


EXPLAIN_PARAMETER: dict[str, Any] = {
    "name": "explain", "in": "query", "required": False,
    "description": "true (or 1): add each decision's reasons (exact contributions to the log-odds of default, "
                   "the 5 largest, and the rest) to the answer and to the stored event; false (or 0, or absent): "
                   "none. Any other value is a 422.",
    "schema": {"type": "string", "enum": ["true", "false", "1", "0"], "default": "false"},
}


def application_body() -> dict[str, Any]:
    """``openapi_extra`` of a route taking one application (and the ``explain`` parameter)."""
    return {"parameters": [EXPLAIN_PARAMETER], "requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/LoanApplication"},
        "examples": {
            "valid": {"summary": "a valid application", "value": _example()},
            "invalid": {"summary": "three bad fields (422)", "value": _invalid_example()},
        },
    }}}}


def batch_body() -> dict[str, Any]:
    """``openapi_extra`` of a route taking a batch (and the ``explain`` parameter)."""
    second = example_application()
    second.update(SK_ID_CURR=100003, AMT_INCOME_TOTAL=90000.0, EXT_SOURCE_2=0.71)
    return {"parameters": [EXPLAIN_PARAMETER], "requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/ApplicationBatch"},
        "examples": {
            "batch": {"summary": "two valid applications and an invalid one", "value": {
                "applications": [_example(), second, _invalid_example()]}},
        },
    }}}}


def jobs_body() -> dict[str, Any]:
    """``openapi_extra`` of ``POST /v1/jobs``: one application or a batch."""
    single, batch = application_body(), batch_body()
    content = single["requestBody"]["content"]["application/json"]
    content["schema"] = {"oneOf": [{"$ref": "#/components/schemas/LoanApplication"},
                                   {"$ref": "#/components/schemas/ApplicationBatch"}]}
    content["examples"].update(batch["requestBody"]["content"]["application/json"]["examples"])
    return single


def outcomes_body() -> dict[str, Any]:
    """``openapi_extra`` of ``POST /v1/outcomes`` (the route reads raw bytes: a bad item must not refuse the rest)."""
    observed = "2027-03-01T00:00:00Z"
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/OutcomesRequest"},
        "examples": {"three references": {"summary": "by event_id, by request_id, by SK_ID_CURR", "value": {
            "outcomes": [
                {"event_id": "5f0c2a9e8b7d4c1fa3e6d2b1c0a98765", "defaulted": True, "observed_at": observed},
                {"request_id": "loan-desk-20261207-0042", "defaulted": False, "observed_at": observed},
                {"SK_ID_CURR": 100002, "defaulted": False, "observed_at": observed},
            ]}}},
    }}}}


def _error(status: int, error: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": message, "content": {"application/json": {"example": {
        "error": error, "message": message, "request_id": "4f9c2b1e0a7d4c3b8e6f5a4d3c2b1a09", **extra}}}}


VALIDATION_EXAMPLE = [
    {"field": "DAYS_BIRTH", "value": 1825, "rule": "less_than_equal",
     "message": "Input should be less than or equal to -6570"},
    {"field": "AMT_INCOME_TOTAL", "value": 0, "rule": "greater_than", "message": "Input should be greater than 0"},
    {"field": "CODE_GENDER", "value": "Q", "rule": "literal_error", "message": "Input should be 'F', 'M' or 'XNA'"},
]
ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error(400, "malformed_json", "the body is not valid JSON (Invalid JSON: EOF while parsing an object)"),
    401: _error(401, "unauthorized", "missing X-API-Key header"),
    413: _error(413, "body_too_large", "request body of 9000000 bytes exceeds the limit of 8388608 bytes"),
    422: _error(422, "validation_error", "3 invalid field(s)", errors=VALIDATION_EXAMPLE),
    500: _error(500, "scoring_failed", "internal error while scoring: quote the request_id"),
    503: _error(503, "service_unavailable", "the job queue (Redis) is unavailable: retry later"),
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The documented error answers of a route."""
    return {code: ERRORS[code] for code in codes}


def add_operation(schema: dict[str, Any], path: str, method: str, operation: dict[str, Any]) -> None:
    """Document an endpoint served without a FastAPI route (``responses`` in FastAPI's form, with ``model``)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    responses = {}
    for status, response in operation["responses"].items():
        response = dict(response)
        model = response.pop("model", None)
        response.setdefault("description", "Successful Response")
        if model is not None:
            definition = model.model_json_schema(ref_template=_REF)
            components.update(definition.pop("$defs", {}))
            components[model.__name__] = definition
            media = response.setdefault("content", {}).setdefault("application/json", {})
            media["schema"] = {"$ref": _REF.format(model=model.__name__)}
        responses[str(status)] = response
    schema.setdefault("paths", {}).setdefault(path, {})[method] = {**operation, "responses": responses}


def install_openapi(app: FastAPI, max_batch_size: int, extra: dict[tuple[str, str], Any] | None = None) -> None:
    """Add the application and batch schemas to the components (the routes refer to them).

    Args:
        app: the application.
        max_batch_size: the batch limit, documented on the batch schema.
        extra: ``(path, method) -> operation`` of endpoints served below the routing (see
            :func:`add_operation`).
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for (path, method), operation in (extra or {}).items():
            add_operation(schema, path, method, operation)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        application = LoanApplication.model_json_schema(ref_template=_REF)
        components.update(application.pop("$defs", {}))
        components["LoanApplication"] = application
        outcomes = OutcomesRequest.model_json_schema(ref_template=_REF)
        components.update(outcomes.pop("$defs", {}))
        components["OutcomesRequest"] = outcomes
        components["ApplicationBatch"] = {
            "title": "ApplicationBatch", "type": "object", "additionalProperties": False,
            "required": ["applications"],
            "properties": {"applications": {"type": "array", "minItems": 1, "maxItems": max_batch_size,
                                            "items": {"$ref": "#/components/schemas/LoanApplication"}}},
        }
        # the key is checked by the middleware, so FastAPI does not know: declare it for /docs' "Authorize"
        schema["components"].setdefault("securitySchemes", {})[API_KEY_SCHEME] = {
            "type": "apiKey", "in": "header", "name": "X-API-Key",
            "description": "one of the keys in the API_KEYS environment variable",
        }
        for path, item in schema["paths"].items():
            if path.startswith("/v1/"):
                for operation in item.values():
                    operation["security"] = [{API_KEY_SCHEME: []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
