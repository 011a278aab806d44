"""Every line logged while the gateway answers a request carries that request's id."""

from __future__ import annotations

import logging
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from shared.logs import JsonFormatter
from shared.schema import example_application
from tests.gateway.conftest import HEADERS, post_json


@pytest.mark.parametrize(("path", "payload"), [
    ("/v1/score", example_application()),
    ("/v1/score/batch", {"applications": [example_application(), example_application()]}),
])
def test_a_line_logged_deep_inside_a_request_carries_its_id(client: TestClient, caplog: pytest.LogCaptureFixture,
                                                             path: str, payload: Any) -> None:
    scorer = client.app.state.resources.scorer  # type: ignore[attr-defined]
    score_batch = scorer.score_batch

    def logs_then_scores(rows: Any) -> Any:
        logging.getLogger("shared.scorer").warning("deep inside the scorer")
        return score_batch(rows)

    scorer.score_batch = logs_then_scores
    with caplog.at_level(logging.WARNING, logger="shared.scorer"):
        response = post_json(client, path, payload, {**HEADERS, "X-Request-ID": "deep-1"})
        logging.getLogger("shared.scorer").warning("outside any request")
    assert response.status_code == 200 and response.json()["request_id"] == "deep-1"
    lines = [orjson.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "shared.scorer"]
    assert [(line["msg"], line.get("request_id")) for line in lines] == [
        ("deep inside the scorer", "deep-1"), ("outside any request", None)]
    assert "job_id" not in lines[0]
