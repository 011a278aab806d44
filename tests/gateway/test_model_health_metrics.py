"""GET /v1/model, /health/live, /health/ready and /metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from shared.schema import example_application
from shared.scorer import Scorer
from tests.gateway.conftest import HEADERS, post_json


def test_model_describes_the_loaded_bundle(client: TestClient, scorer: Scorer) -> None:
    response = client.get("/v1/model", headers=HEADERS)
    assert response.status_code == 200
    body = response.json()
    assert body["model_version"] == scorer.model_version and body["threshold"] == scorer.threshold
    assert body["n_features"] == scorer.state.n_features
    assert len(body["features"]) == 120 and body["features"][0]["name"] == "NAME_CONTRACT_TYPE"
    assert "encoding" not in body["metadata"]
    assert client.get("/v1/model").status_code == 401


def test_live_needs_nothing(client: TestClient) -> None:
    assert client.get("/health/live").json() == {"status": "alive"}


def test_ready_lists_each_dependency(client: TestClient) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert response.json()["status"] == "ready"
    assert checks["model"]["ok"] and checks["redis"] == {"ok": True, "mode": "embedded"}
    assert checks["events"]["ok"] and checks["events"]["redis_ok"] is True
    assert checks["worker"] == {"ok": True}


def test_without_a_model_the_gateway_starts_but_is_not_ready(make_client: Any, tmp_path: Path) -> None:
    empty = make_client(model_dir=tmp_path / "no-bundle-here")
    response = empty.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    assert not body["checks"]["model"]["ok"] and "model.onnx is missing" in body["checks"]["model"]["error"]
    assert body["checks"]["redis"]["ok"]
    scored = post_json(empty, "/v1/score", example_application())
    assert scored.status_code == 503 and "no-bundle-here" in scored.json()["message"]
    assert post_json(empty, "/v1/jobs", example_application()).status_code == 503


def test_ready_says_when_redis_is_down(client: TestClient) -> None:
    resources = client.app.state.resources  # type: ignore[attr-defined]

    def down() -> None:
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    resources.redis.ping = down
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"]["ok"] is False
    assert "Connection refused" in response.json()["checks"]["redis"]["error"]


def _metric(text: str, name: str) -> float:
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name)]
    assert values, f"{name} not in /metrics"
    return sum(values)


def test_metrics_count_requests_scores_decisions_errors_and_state(client: TestClient) -> None:
    post_json(client, "/v1/score", example_application())
    post_json(client, "/v1/score", {"SK_ID_CURR": 1})
    client.post("/v1/score", content=b"{", headers=HEADERS)
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert _metric(text, 'gateway_requests_total{method="POST",route="/v1/score",status="200"}') == 1
    assert _metric(text, 'gateway_requests_total{method="POST",route="/v1/score",status="422"}') == 1
    assert _metric(text, 'gateway_request_duration_seconds_count{method="POST",route="/v1/score"}') == 3
    assert _metric(text, 'gateway_score_count{path="sync"}') == 1
    assert _metric(text, "gateway_decisions_total") == 1
    assert _metric(text, 'gateway_errors_total{kind="validation"}') == 1
    assert _metric(text, 'gateway_errors_total{kind="malformed_json"}') == 1
    assert _metric(text, "gateway_queue_depth") == 0
    assert _metric(text, "gateway_queue_oldest_age_seconds") == 0
    assert _metric(text, "gateway_model_loaded") == 1
    for name in ("gateway_events_pending", "gateway_events_spooled", "gateway_events_dropped",
                 "gateway_events_published", "gateway_events_redis_ok"):
        _metric(text, name)


def test_metrics_publish_the_backlog_of_the_in_process_queue(make_client: Any) -> None:
    idle = make_client(embedded_worker=False)  # no worker: the jobs stay queued
    for _ in range(2):
        assert post_json(idle, "/v1/jobs", example_application()).status_code == 202
    text = idle.get("/metrics").text
    assert _metric(text, "gateway_queue_depth") == 2
    assert 0 <= _metric(text, "gateway_queue_oldest_age_seconds") < 60  # the oldest job was enqueued just now


def test_unknown_paths_share_one_metrics_label(client: TestClient) -> None:
    for path in ("/a", "/b", "/c"):
        assert client.get(path).status_code == 404
    text = client.get("/metrics").text
    assert _metric(text, 'gateway_requests_total{method="GET",route="<unmatched>",status="404"}') == 3


def test_embedded_mode_indexes_the_events_into_sqlite(make_client: Any, tmp_path: Path) -> None:
    from shared.store.sqlite import SQLiteEventStore
    from tests.utils.waiting import wait_until

    indexed = make_client(embedded_indexer=True, sqlite_path=tmp_path / "indexed.sqlite3")
    assert indexed.get("/health/ready").json()["checks"]["indexer"] == {"ok": True}
    post_json(indexed, "/v1/score", example_application())
    post_json(indexed, "/v1/score", {"SK_ID_CURR": 5})
    store = SQLiteEventStore(tmp_path / "indexed.sqlite3")
    store.setup()  # idempotent: the indexer thread may not have created the tables yet
    try:
        wait_until(lambda: store.count_events() == 2, timeout=30)
        assert store.count_events(status="ok") == 1 and store.count_events(status="invalid") == 1
    finally:
        store.close()
