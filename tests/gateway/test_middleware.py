"""Request ids, the access log line, error shape of unknown routes."""

from __future__ import annotations

import logging

import orjson
import pytest
from fastapi.testclient import TestClient

from shared.logs import JsonFormatter
from shared.schema import example_application
from tests.gateway.conftest import HEADERS, post_json


def test_a_valid_incoming_request_id_is_kept(client: TestClient) -> None:
    response = post_json(client, "/v1/score", example_application(), {**HEADERS, "X-Request-ID": "abc-123.x"})
    assert response.headers["x-request-id"] == "abc-123.x" == response.json()["request_id"]


@pytest.mark.parametrize("given", ["has space", "x" * 129, "<script>", "a/b"])
def test_an_unsafe_request_id_is_replaced(client: TestClient, given: str) -> None:
    response = client.get("/health/live", headers={"X-Request-ID": given})
    assert response.headers["x-request-id"] != given and len(response.headers["x-request-id"]) == 32


def test_an_unknown_route_is_a_json_404(client: TestClient) -> None:
    response = client.get("/v2/nothing")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found" and response.json()["request_id"]


def test_a_wrong_method_is_a_json_405(client: TestClient) -> None:
    response = client.get("/v1/score", headers=HEADERS)
    assert response.status_code == 405 and response.json()["error"] == "method_not_allowed"


def test_one_json_access_line_per_request(make_client: object, caplog: pytest.LogCaptureFixture) -> None:
    logged = make_client(access_log=True, access_log_sample=1.0)  # type: ignore[operator]
    with caplog.at_level(logging.INFO, logger="gateway.access"):
        response = post_json(logged, "/v1/score", example_application())
    records = [r for r in caplog.records if r.name == "gateway.access"]
    assert len(records) == 1
    line = orjson.loads(JsonFormatter().format(records[0]))
    assert line["request_id"] == response.headers["x-request-id"]
    assert (line["route"], line["status"], line["method"]) == ("/v1/score", 200, "POST")
    assert line["duration_ms"] > 0 and line["msg"] == "request" and line["ts"].endswith("Z")


def test_with_no_sampled_share_only_errors_get_an_access_line(make_client: object,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    logged = make_client(access_log=True, access_log_sample=0.0)  # type: ignore[operator]
    with caplog.at_level(logging.INFO, logger="gateway.access"):
        post_json(logged, "/v1/score", example_application())
        refused = post_json(logged, "/v1/score", {"SK_ID_CURR": 1})
        unauthorised = post_json(logged, "/v1/score", example_application(), headers={})
    lines = [orjson.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "gateway.access"]
    assert [(line["status"], line["request_id"]) for line in lines] == [
        (422, refused.headers["x-request-id"]), (401, unauthorised.headers["x-request-id"])]
    assert all("sample_rate" not in line for line in lines)


def test_scores_enter_the_request_middleware_directly_unless_opentelemetry_is_configured(
        make_client: object, monkeypatch: pytest.MonkeyPatch) -> None:
    direct = make_client()  # type: ignore[operator]
    fast = post_json(direct, "/v1/score", example_application(), {**HEADERS, "X-Request-ID": "same-id"})
    assert direct.app.score_stack is not None  # the framework layers were skipped
    monkeypatch.setenv("OTEL_SERVICE_NAME", "credit-scoring")
    whole = make_client()  # type: ignore[operator]
    slow = post_json(whole, "/v1/score", example_application(), {**HEADERS, "X-Request-ID": "same-id"})
    assert whole.app.score_stack is None  # FastAPI's instrumentation sees every request
    assert fast.status_code == slow.status_code == 200
    assert fast.headers.keys() == slow.headers.keys() and fast.headers["x-request-id"] == "same-id"
    drop = ("event_id", "timings")
    assert {k: v for k, v in fast.json().items() if k not in drop} == {k: v for k, v in slow.json().items()
                                                                       if k not in drop}
