"""Redis stopped and restarted under a running gateway: scoring goes on, jobs answer 503, then recover.

A private redis-server on a free port (the shared one stays up for everyone).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis
from fastapi.testclient import TestClient

from gateway.app import create_app
from shared.schema import example_application
from tests.integration.redis_support import HEADERS, RedisServer, gateway_settings, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()


def test_the_gateway_survives_a_redis_restart(private_redis: RedisServer, tiny_bundle: Path, tmp_path: Path) -> None:
    body = orjson.dumps(example_application())
    settings = gateway_settings(private_redis.url, tiny_bundle, tmp_path, embedded_worker=False)
    with TestClient(create_app(settings)) as client:
        publisher = client.app.state.resources.publisher  # type: ignore[attr-defined]
        assert client.get("/health/ready").status_code == 200
        before = client.post("/v1/jobs", content=body, headers=HEADERS)
        assert before.status_code == 202

        private_redis.stop()
        scored = client.post("/v1/score", content=body, headers=HEADERS)
        assert scored.status_code == 200  # the sync path never waits for Redis
        refused = client.post("/v1/jobs", content=body, headers={**HEADERS, "X-Request-ID": "while-down"})
        assert refused.status_code == 503
        assert refused.json() == {"error": "service_unavailable", "request_id": "while-down",
                                  "message": "the job queue (Redis) is unavailable: retry later"}
        assert refused.headers["retry-after"]
        assert client.get(f"/v1/jobs/{before.json()['job_id']}", headers=HEADERS).status_code == 503
        ready = client.get("/health/ready")
        assert ready.status_code == 503 and ready.json()["checks"]["redis"]["ok"] is False
        assert ready.json()["checks"]["model"]["ok"] is True
        wait_for(lambda: publisher.stats()["spooled"] >= 2, 15, what="events spooled while Redis is down")
        assert publisher.stats()["redis_ok"] is False and publisher.stats()["dropped"] == 0

        private_redis.start()
        wait_for(lambda: client.get("/health/ready").status_code == 200, 15, what="ready again")
        after = client.post("/v1/jobs", content=body, headers=HEADERS)
        assert after.status_code == 202
        status = client.get(f"/v1/jobs/{after.json()['job_id']}", headers=HEADERS).json()
        assert status["status"] == "queued"
        wait_for(lambda: publisher.stats()["spooled"] == 0, 15, what="spooled events forwarded")
    stream = redis.Redis.from_url(private_redis.url)
    events = [orjson.loads(f[b"event"]) for _, f in stream.xrange(settings.events_stream)]
    # the scored application and the refused job, both from while Redis was down, reached the stream
    assert {(e["path"], e["status"]) for e in events} >= {("sync", "ok"), ("async", "error")}
    assert any(e["request_id"] == "while-down" and e["error_type"] == "queue_unavailable" for e in events)
