"""POST /v1/score/batch: one matrix, invalid items by index, limits."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from shared.scorer import Scorer
from tests.gateway.conftest import HEADERS, events, post_json
from tests.utils.data import synthetic_applications


def test_valid_items_are_scored_and_invalid_ones_reported_by_index(client: TestClient, scorer: Scorer) -> None:
    applications: list[Any] = synthetic_applications(5, seed=3)
    applications[1] = {**applications[1], "AMT_CREDIT": -5.0}
    applications[3] = "not an application"
    response = post_json(client, "/v1/score/batch", {"applications": applications})
    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["scored"], body["rejected"]) == (5, 3, 2)
    assert [r["index"] for r in body["results"]] == [0, 2, 4]
    expected = scorer.score_batch([applications[i] for i in (0, 2, 4)])
    for result, offline in zip(body["results"], expected, strict=True):
        assert result["probability"] == pytest.approx(offline.probability, abs=1e-7)
        assert result["decision"] == offline.decision
    rejected = {e["index"]: e["errors"] for e in body["errors"]}
    assert rejected[1] == [{"field": "AMT_CREDIT", "value": -5.0, "rule": "greater_than",
                            "message": "Input should be greater than 0"}]
    assert rejected[3][0]["rule"] == "model_type"
    statuses = sorted(e["status"] for e in events(client))
    assert statuses == ["invalid", "invalid", "ok", "ok", "ok"]


def test_a_large_batch_is_scored_off_the_event_loop_with_the_same_scores(client: TestClient, scorer: Scorer) -> None:
    applications = synthetic_applications(200, seed=4)
    response = post_json(client, "/v1/score/batch", {"applications": applications})
    assert response.status_code == 200
    offline = [r.probability for r in scorer.score_batch(applications)]
    assert [r["probability"] for r in response.json()["results"]] == pytest.approx(offline, abs=1e-7)


def test_a_batch_over_the_limit_is_413_with_a_clear_message(make_client: Any) -> None:
    small = make_client(max_batch_size=3)
    response = post_json(small, "/v1/score/batch", {"applications": synthetic_applications(4)})
    assert response.status_code == 413
    assert response.json()["error"] == "batch_too_large"
    assert response.json()["message"] == "a batch of 4 applications exceeds the limit of 3"
    [event] = events(small)  # one event for the refused request, not one per item
    assert event["error_type"] == "batch_too_large"


def test_the_default_limit_is_1000(client: TestClient) -> None:
    response = post_json(client, "/v1/score/batch", {"applications": [{}] * 1001})
    assert response.status_code == 413
    assert "1000" in response.json()["message"]


@pytest.mark.parametrize(("payload", "rule"), [
    ({"apps": []}, "missing"),
    ([], "missing"),
    ({"applications": {}}, "list_type"),
    ({"applications": []}, "too_short"),
    ({"applications": [{}], "extra": 1}, "extra_forbidden"),
])
def test_a_wrong_envelope_is_a_422(client: TestClient, payload: Any, rule: str) -> None:
    response = post_json(client, "/v1/score/batch", payload)
    assert response.status_code == 422
    assert response.json()["errors"][0]["rule"] == rule


def test_a_batch_with_no_valid_item_is_a_422_listing_each(client: TestClient) -> None:
    response = post_json(client, "/v1/score/batch", {"applications": [{"SK_ID_CURR": 1}, {}]})
    assert response.status_code == 422
    assert [item["index"] for item in response.json()["items"]] == [0, 1]


def test_malformed_batch_json_is_400(client: TestClient) -> None:
    response = client.post("/v1/score/batch", content=b'{"applications": [', headers=HEADERS)
    assert response.status_code == 400
    assert response.json()["error"] == "malformed_json"


def test_the_batch_route_needs_a_key(client: TestClient) -> None:
    assert post_json(client, "/v1/score/batch", {"applications": synthetic_applications(1)}, {}).status_code == 401
