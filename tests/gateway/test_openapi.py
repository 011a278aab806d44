"""/docs and /openapi.json: every endpoint, with request and response examples."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

ENDPOINTS = {
    ("post", "/v1/score"), ("post", "/v1/score/batch"), ("post", "/v1/jobs"), ("get", "/v1/jobs/{job_id}"),
    ("get", "/v1/model"), ("get", "/health/live"), ("get", "/health/ready"), ("get", "/metrics"),
}


def _has_example(content: dict[str, Any]) -> bool:
    return any("example" in media or "examples" in media for media in content.values())


def test_every_endpoint_is_documented_with_examples(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    documented = {(method, path) for path, item in spec["paths"].items() for method in item}
    assert ENDPOINTS <= documented
    for method, path in ENDPOINTS:
        operation = spec["paths"][path][method]
        assert operation.get("summary") and operation.get("description"), (method, path)
        ok = "202" if path == "/v1/jobs" else "200"
        assert _has_example(operation["responses"][ok]["content"]), (method, path)
        if method == "post":
            body = operation["requestBody"]["content"]["application/json"]
            assert body["examples"], path
            assert "$ref" in body["schema"] or "oneOf" in body["schema"]


def test_error_answers_are_documented(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/v1/score"]["post"]
    for status in ("400", "401", "413", "422", "500", "503"):
        assert _has_example(operation["responses"][status]["content"]), status


def test_the_application_schema_is_a_component_with_its_120_fields(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    application = spec["components"]["schemas"]["LoanApplication"]
    assert len(application["properties"]) == 121  # 120 features + SK_ID_CURR
    assert application["additionalProperties"] is False
    assert "AMT_CREDIT" in application["required"]


def test_the_api_key_scheme_is_declared(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert any(s["type"] == "apiKey" and s["name"] == "X-API-Key" for s in schemes.values())
    assert spec["paths"]["/v1/score"]["post"]["security"]


def test_docs_page_is_served(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200 and "swagger" in response.text.lower()
