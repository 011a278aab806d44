"""POST /v1/score: the answer, its event, and every error case."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from shared.columns import CLIENT_ID, columns_by_name
from shared.event import pseudonymise
from shared.schema import example_application
from shared.scorer import Scorer
from tests.gateway.conftest import API_KEYS, HEADERS, events, post_json

FIVE_YEARS = 1826  # days: DAYS_BIRTH = +1826 means an age of minus five years


def _with(**changes: Any) -> dict[str, Any]:
    application = example_application()
    application.update(changes)
    return application


def _errors(response: Any) -> dict[str, dict[str, Any]]:
    return {e["field"]: e for e in response.json()["errors"]}


def test_score_answers_the_scorers_score_with_timings_and_request_id(client: TestClient, scorer: Scorer) -> None:
    application = example_application()
    response = post_json(client, "/v1/score", application)
    assert response.status_code == 200
    body = response.json()
    expected = scorer.score(application)
    assert body["probability"] == pytest.approx(expected.probability, abs=1e-7)
    assert body["decision"] == expected.decision
    assert body["threshold"] == scorer.threshold
    assert body["model_version"] == scorer.model_version
    assert body["request_id"] == response.headers["x-request-id"]
    assert set(body["timings"]) == {"validation_ms", "inference_ms", "total_ms"}
    assert body["timings"]["total_ms"] >= body["timings"]["inference_ms"] > 0


def test_a_scored_application_emits_one_ok_event(client: TestClient) -> None:
    application = example_application()
    response = post_json(client, "/v1/score", application)
    [event] = events(client)
    assert event["status"] == "ok" and event["path"] == "sync"
    assert event["request_id"] == response.json()["request_id"]
    assert event["client_ref"] == pseudonymise(application[CLIENT_ID], "test-pseudonymisation-key")
    assert CLIENT_ID not in event["features"] and len(event["features"]) == 120
    assert event["features"]["AMT_INCOME_TOTAL"] == application["AMT_INCOME_TOTAL"]
    assert event["score"] == response.json()["probability"]
    assert event["timings"]["total_ms"] == response.json()["timings"]["total_ms"]


def test_both_configured_keys_are_accepted(client: TestClient) -> None:
    for key in API_KEYS:
        assert post_json(client, "/v1/score", example_application(), {"X-API-Key": key}).status_code == 200


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong-key"}, {"X-API-Key": ""}],
                         ids=["no key", "wrong key", "empty key"])
def test_a_missing_or_wrong_key_is_401(client: TestClient, headers: dict[str, str]) -> None:
    response = post_json(client, "/v1/score", example_application(), headers)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert response.json()["request_id"]
    assert events(client) == []  # unauthenticated calls do not write to the event store


def test_without_keys_only_when_allowed_and_said_at_start_up(make_client: Any,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="gateway"):
        open_client = make_client(api_keys="", allow_no_api_key=True)
    assert post_json(open_client, "/v1/score", example_application(), {}).status_code == 200
    assert any("API KEYS DISABLED" in r.getMessage() for r in caplog.records)


def test_a_key_is_required_by_default(make_client: Any) -> None:
    keyed = make_client()
    assert post_json(keyed, "/v1/score", example_application(), {}).status_code == 401


def test_a_missing_required_field_is_named(client: TestClient) -> None:
    application = example_application()
    del application["AMT_CREDIT"]
    response = post_json(client, "/v1/score", application)
    assert response.status_code == 422
    assert _errors(response)["AMT_CREDIT"]["rule"] == "missing"


def test_out_of_range_values_get_one_entry_each(client: TestClient) -> None:
    response = post_json(client, "/v1/score", _with(DAYS_BIRTH=FIVE_YEARS, AMT_INCOME_TOTAL=0))
    assert response.status_code == 422
    errors = _errors(response)
    assert set(errors) == {"DAYS_BIRTH", "AMT_INCOME_TOTAL"}
    assert errors["DAYS_BIRTH"]["value"] == FIVE_YEARS and errors["DAYS_BIRTH"]["rule"] == "less_than_equal"
    assert errors["AMT_INCOME_TOTAL"]["value"] == 0 and errors["AMT_INCOME_TOTAL"]["rule"] == "greater_than"
    assert response.json()["error"] == "validation_error"


def test_text_for_a_number_is_a_type_error(client: TestClient) -> None:
    response = post_json(client, "/v1/score", _with(AMT_INCOME_TOTAL="a lot"))
    assert response.status_code == 422
    assert _errors(response)["AMT_INCOME_TOTAL"] == {"field": "AMT_INCOME_TOTAL", "value": "a lot",
                                                     "rule": "float_type", "message": "Input should be a valid number"}


def test_an_unknown_category_names_the_allowed_values(client: TestClient) -> None:
    response = post_json(client, "/v1/score", _with(NAME_CONTRACT_TYPE="Mortgage"))
    assert response.status_code == 422
    error = _errors(response)["NAME_CONTRACT_TYPE"]
    assert error["rule"] == "literal_error" and error["value"] == "Mortgage"
    for allowed in columns_by_name()["NAME_CONTRACT_TYPE"].categories:
        assert allowed in error["message"]


@pytest.mark.parametrize("field", [CLIENT_ID, "CNT_CHILDREN", "AMT_CREDIT", "EXT_SOURCE_1", "UNKNOWN_FIELD"])
def test_an_integer_beyond_64_bits_is_a_422_not_a_500(client: TestClient, field: str) -> None:
    application = example_application()
    application.pop(field, None)
    huge = 10**25  # orjson cannot write it back: the error entry carries it as text
    body = orjson.dumps(application)[:-1] + f',"{field}":{huge}}}'.encode()
    response = client.post("/v1/score", content=body, headers={**HEADERS, "Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert _errors(response)[field]["value"] == str(huge)


def test_an_extra_field_is_refused(client: TestClient) -> None:
    response = post_json(client, "/v1/score", _with(FAVOURITE_COLOUR="blue"))
    assert response.status_code == 422
    assert _errors(response)["FAVOURITE_COLOUR"]["rule"] == "extra_forbidden"


def test_an_invalid_application_emits_one_invalid_event_with_the_raw_input(client: TestClient) -> None:
    response = post_json(client, "/v1/score", _with(DAYS_BIRTH=FIVE_YEARS))
    [event] = events(client)
    assert event["status"] == "invalid" and event["error_type"] == "validation"
    assert event["request_id"] == response.json()["request_id"]
    assert "DAYS_BIRTH" in event["error_message"]
    kept = orjson.loads(event["raw_input"])
    assert kept["DAYS_BIRTH"] == FIVE_YEARS
    assert event["features"] == {} and event["score"] is None
    # the client id is kept as its pseudonym, never in clear (the refused input is stored as sent otherwise)
    assert kept["SK_ID_CURR"] == event["client_ref"] == pseudonymise(100002, "test-pseudonymisation-key")
    assert "100002" not in event["raw_input"]


@pytest.mark.parametrize("body", [b'{"SK_ID_CURR": 1,', b"", b"not json at all", b"{'single': 'quotes'}"])
def test_malformed_json_is_a_400_with_a_clear_message(client: TestClient, body: bytes) -> None:
    response = client.post("/v1/score", content=body, headers=HEADERS)
    assert response.status_code == 400
    assert response.json()["error"] == "malformed_json"
    assert response.json()["message"].startswith("the body is not valid JSON")
    [event] = events(client)
    assert event["status"] == "invalid" and event["error_type"] == "malformed_json"
    if body.startswith(b'{"SK_ID_CURR": 1,'):  # no JSON, yet the id is found, pseudonymised, and names the client
        assert event["client_ref"] == pseudonymise(1, "test-pseudonymisation-key") in event["raw_input"]
        assert '"SK_ID_CURR": 1,' not in event["raw_input"]


def test_json_that_is_not_an_object_is_a_422(client: TestClient) -> None:
    response = post_json(client, "/v1/score", [example_application()])
    assert response.status_code == 422
    assert _errors(response)["body"]["rule"] == "model_type"


def test_a_body_over_the_limit_is_413_before_reading_it(make_client: Any) -> None:
    small = make_client(max_body_bytes=1000)
    response = post_json(small, "/v1/score", example_application())
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"
    assert "1000" in response.json()["message"]
    [event] = events(small)
    assert event["status"] == "invalid" and event["error_type"] == "body_too_large"


def test_a_chunked_body_over_the_limit_is_413(make_client: Any) -> None:
    small = make_client(max_body_bytes=1000)

    def chunks() -> Any:  # no Content-Length: the limit is counted while reading
        payload = orjson.dumps(example_application())
        for start in range(0, len(payload), 256):
            yield payload[start:start + 256]

    response = small.post("/v1/score", content=chunks(), headers=HEADERS)
    assert response.status_code == 413


def test_an_internal_failure_is_a_500_with_request_id_and_no_stack_trace(client: TestClient) -> None:
    def broken(_: Any) -> Any:
        raise RuntimeError("onnxruntime exploded at /secret/path/model.onnx")

    client.app.state.resources.scorer.score_batch = broken  # type: ignore[attr-defined]
    response = post_json(client, "/v1/score", example_application(), {**HEADERS, "X-Request-ID": "trace-me-42"})
    assert response.status_code == 500
    body = response.json()
    assert body["request_id"] == "trace-me-42" and body["error"] == "scoring_failed"
    assert "Traceback" not in response.text and "secret" not in response.text and "onnxruntime" not in response.text
    [event] = events(client)
    assert event["status"] == "error" and event["request_id"] == "trace-me-42"
    assert event["features"]["AMT_CREDIT"] == example_application()["AMT_CREDIT"]
    assert "RuntimeError" in event["error_message"]


def test_an_unexpected_exception_anywhere_is_a_json_500(client: TestClient) -> None:
    def broken(*_: Any) -> Any:
        raise KeyError("boom")

    client.app.state.resources.scoring.score_one = broken  # type: ignore[attr-defined]
    response = post_json(client, "/v1/score", example_application())
    assert response.status_code == 500
    assert response.json()["error"] == "internal_error"
    assert response.json()["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text and "boom" not in response.text
