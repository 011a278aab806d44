"""Async scoring against a real Redis: gateway -> RQ -> worker pool -> poll -> result, and the events."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis
from fastapi.testclient import TestClient

from gateway.app import create_app
from shared.scorer import Scorer
from tests.integration.redis_support import (
    HEADERS,
    REPO,
    free_port,
    gateway_settings,
    redis_database,
    subprocess_env,
    wait_for,
    worker_pool,
)
from tests.utils.data import synthetic_applications

pytestmark = pytest.mark.integration


@pytest.fixture
def jobs_db() -> Iterator[str]:
    with redis_database("jobs") as url:
        yield url


def _poll(client: Any, job_id: str, timeout: float = 30.0) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        body: dict[str, Any] = client.get(f"/v1/jobs/{job_id}", headers=HEADERS).json()
        return body if body["status"] in ("finished", "failed") else None

    return wait_for(done, timeout, what=f"job {job_id} finished")  # type: ignore[no-any-return]


def test_enqueue_worker_poll_result_and_events(jobs_db: str, tiny_bundle: Path, tmp_path: Path) -> None:
    applications = synthetic_applications(5, seed=21)
    offline = Scorer.load(tiny_bundle).score_batch(applications)
    env = subprocess_env(jobs_db, tiny_bundle, tmp_path)
    settings = gateway_settings(jobs_db, tiny_bundle, tmp_path)
    with worker_pool(env, 2, tmp_path / "pool.log"), TestClient(create_app(settings)) as client:
        ready = client.get("/health/ready").json()
        assert ready["checks"]["redis"] == {"ok": True, "mode": "external"}
        single = client.post("/v1/jobs", content=orjson.dumps(applications[0]), headers=HEADERS)
        batch = client.post("/v1/jobs", content=orjson.dumps({"applications": applications[1:]}), headers=HEADERS)
        assert single.status_code == batch.status_code == 202
        one = _poll(client, single.json()["job_id"])
        many = _poll(client, batch.json()["job_id"])
    assert one["status"] == "finished", (one, (tmp_path / "pool.log").read_text()[-3000:])
    assert one["result"]["probability"] == pytest.approx(offline[0].probability, abs=1e-7)
    assert many["status"] == "finished"
    assert [r["probability"] for r in many["result"]["results"]] == pytest.approx(
        [o.probability for o in offline[1:]], abs=1e-7)
    stream = redis.Redis.from_url(jobs_db)
    events = [orjson.loads(f[b"event"]) for _, f in stream.xrange(settings.events_stream)]
    async_events = [e for e in events if e["path"] == "async"]
    assert len(async_events) == 5 and all(e["status"] == "ok" for e in async_events)
    assert all(e["timings"]["queue_wait_ms"] is not None for e in async_events)
    assert {e["job_id"] for e in async_events} == {single.json()["job_id"], batch.json()["job_id"]}


def test_python_m_gateway_serves_over_http(jobs_db: str, tiny_bundle: Path, tmp_path: Path) -> None:
    port = free_port()
    env = subprocess_env(jobs_db, tiny_bundle, tmp_path, API_KEYS="integration-key", PORT=port,
                         SPOOL_DIR=tmp_path / "gateway-spool", WEB_CONCURRENCY=2)
    log = tmp_path / "gateway.log"
    with log.open("wb") as out, worker_pool(env, 1, tmp_path / "pool.log"):
        server = subprocess.Popen([sys.executable, "-m", "gateway"], cwd=REPO, env=env, stdout=out,
                                  stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"

            def up() -> bool:
                try:
                    return httpx.get(f"{base}/health/ready", timeout=1).status_code == 200
                except httpx.HTTPError:
                    return False

            wait_for(up, 60, what="gateway ready")
            with httpx.Client(base_url=base, headers=HEADERS, timeout=10) as http:
                scored = http.post("/v1/score", content=orjson.dumps(synthetic_applications(1)[0]))
                assert scored.status_code == 200 and scored.headers["x-request-id"] == scored.json()["request_id"]
                job = http.post("/v1/jobs", content=orjson.dumps(synthetic_applications(1)[0])).json()
                assert _poll(http, job["job_id"])["status"] == "finished"
                metrics = http.get("/metrics").text
                assert 'gateway_requests_total{method="POST",route="/v1/score",status="200"}' in metrics
        finally:
            server.terminate()
            server.wait(20)
    text = log.read_text()
    assert '"msg":"gateway ready"' in text, text[-2000:]
    assert "Traceback" not in text, text[-4000:]
