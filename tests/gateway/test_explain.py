"""?explain=true: the same reasons from sync, batch and async; stored only when asked; bad values refused."""

from __future__ import annotations

import math

import pytest
from fastapi.testclient import TestClient

from shared.explain import sigmoid
from shared.schema import example_application
from shared.scorer import Scorer
from tests.gateway.conftest import HEADERS, events, post_json
from tests.gateway.test_jobs import poll
from tests.utils.data import synthetic_applications


def _check(explanation: dict, probability: float) -> None:
    total = explanation["base_value"] + sum(r["contribution"] for r in explanation["reasons"]) + explanation["rest"]
    assert math.isclose(total, explanation["raw_score"], abs_tol=1e-6)
    assert math.isclose(sigmoid(explanation["raw_score"]), probability, abs_tol=1e-4)
    assert len(explanation["reasons"]) == 5


def test_the_same_explanation_from_sync_batch_and_async(client: TestClient) -> None:
    application = synthetic_applications(1, seed=91)[0]
    sync = post_json(client, "/v1/score?explain=true", application)
    assert sync.status_code == 200, sync.text
    answer = sync.json()
    _check(answer["explanation"], answer["probability"])
    batch = post_json(client, "/v1/score/batch?explain=1", {"applications": [application, application]}).json()
    assert [r["explanation"] for r in batch["results"]] == [answer["explanation"]] * 2
    accepted = post_json(client, "/v1/jobs?explain=true", application).json()
    result = poll(client, accepted["job_id"])["result"]
    assert result["explanation"] == answer["explanation"]
    batch_job = post_json(client, "/v1/jobs?explain=true", {"applications": [application]}).json()
    assert poll(client, batch_job["job_id"])["result"]["results"][0]["explanation"] == answer["explanation"]


def test_without_explain_nothing_is_computed_or_stored(client: TestClient) -> None:
    application = example_application()
    for url in ("/v1/score", "/v1/score?explain=false", "/v1/score?explain=0"):
        answer = post_json(client, url, application).json()
        assert "explanation" not in answer
    assert "explanation" not in post_json(client, "/v1/score/batch", {"applications": [application]}).json()[
        "results"][0]
    result = poll(client, post_json(client, "/v1/jobs", application).json()["job_id"])["result"]
    assert "explanation" not in result
    assert [e["explanation"] for e in events(client)] == [None] * 5


def test_the_event_carries_the_explanation_when_asked(client: TestClient) -> None:
    answer = post_json(client, "/v1/score?explain=true", example_application()).json()
    accepted = post_json(client, "/v1/jobs?explain=true", example_application()).json()
    poll(client, accepted["job_id"])
    sync_event, async_event = events(client)
    assert sync_event["event_id"] == answer["event_id"]
    assert sync_event["explanation"] == answer["explanation"] == async_event["explanation"]


@pytest.mark.parametrize("url", ["/v1/score", "/v1/score/batch", "/v1/jobs"])
@pytest.mark.parametrize("value", ["yes", "TRUE", "2", "", "true&explain=false"])
def test_other_values_are_a_422_naming_the_parameter(client: TestClient, url: str, value: str) -> None:
    payload = {"applications": [example_application()]} if url.endswith("batch") else example_application()
    response = post_json(client, f"{url}?explain={value}", payload)
    assert response.status_code == 422, response.text
    body = response.json()
    assert "explain" in body["message"]
    [error] = body["errors"]
    assert error["field"] == "explain" and error["rule"] == "bool_parsing"
    invalid = [e for e in events(client) if e["status"] == "invalid"]
    assert len(invalid) == 1 and "explain" in invalid[0]["error_message"]


def test_model_info_has_the_global_importance(client: TestClient, scorer: Scorer) -> None:
    body = client.get("/v1/model", headers=HEADERS).json()
    importance = body["importance"]
    assert importance == scorer.metadata["importance"]
    values = [i["mean_abs_contribution"] for i in importance]
    assert values == sorted(values, reverse=True) and set(importance[0]) == {"field", "mean_abs_contribution"}
