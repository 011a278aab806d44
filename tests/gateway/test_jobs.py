"""POST /v1/jobs and GET /v1/jobs/{id} in embedded mode (fakeredis + in-process worker)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from rq import Queue, Retry

from gateway.services.jobs import failure_reason
from shared.jobs import JOB_SERIALIZER, SCORE_JOB, application_key
from shared.schema import example_application
from shared.scorer import Scorer
from tests.gateway.conftest import HEADERS, events, post_json
from tests.utils.data import synthetic_applications


def poll(client: TestClient, job_id: str, until: tuple[str, ...] = ("finished", "failed"),
         timeout: float = 10.0) -> dict[str, Any]:
    """GET the job until its status is one of ``until`` (a deadline, not a speed check)."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"/v1/jobs/{job_id}", headers=HEADERS)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] in until or time.monotonic() > deadline:
            return body
        time.sleep(0.02)


def test_one_application_is_queued_then_finished_with_the_offline_score(client: TestClient, scorer: Scorer) -> None:
    application = example_application()
    response = post_json(client, "/v1/jobs", application)
    assert response.status_code == 202
    accepted = response.json()
    assert accepted["status"] == "queued" and accepted["count"] == 1
    assert accepted["status_url"] == f"/v1/jobs/{accepted['job_id']}" == response.headers["location"]
    body = poll(client, accepted["job_id"])
    assert body["status"] == "finished", body
    result = body["result"]
    assert result["probability"] == pytest.approx(scorer.score(application).probability, abs=1e-7)
    assert result["model_version"] == scorer.model_version
    assert result["timings"]["queue_wait_ms"] >= 0 and result["timings"]["inference_ms"] > 0
    assert body["enqueued_at"] <= body["started_at"] <= body["ended_at"]


def test_the_worker_emits_an_async_event_with_queue_wait(client: TestClient) -> None:
    accepted = post_json(client, "/v1/jobs", example_application()).json()
    poll(client, accepted["job_id"])
    [event] = events(client)
    assert event["path"] == "async" and event["status"] == "ok"
    assert event["job_id"] == accepted["job_id"] and event["request_id"] == accepted["request_id"]
    timings = event["timings"]
    assert timings["queue_wait_ms"] is not None and timings["inference_ms"] is not None
    assert timings["total_ms"] >= timings["queue_wait_ms"]


def test_a_batch_job_keeps_the_request_indices(client: TestClient, scorer: Scorer) -> None:
    applications: list[Any] = synthetic_applications(4, seed=5)
    applications[2] = {**applications[2], "CODE_GENDER": "Z"}
    response = post_json(client, "/v1/jobs", {"applications": applications})
    assert response.status_code == 202
    accepted = response.json()
    assert (accepted["count"], accepted["rejected"]) == (3, 1)
    assert accepted["errors"][0]["index"] == 2
    body = poll(client, accepted["job_id"])
    assert body["status"] == "finished"
    results = body["result"]["results"]
    assert [r["index"] for r in results] == [0, 1, 3]
    offline = scorer.score_batch([applications[i] for i in (0, 1, 3)])
    assert [r["probability"] for r in results] == pytest.approx([o.probability for o in offline], abs=1e-7)


def test_an_invalid_job_is_refused_at_submission(client: TestClient) -> None:
    application = example_application()
    application["DAYS_BIRTH"] = 1826
    response = post_json(client, "/v1/jobs", application)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "DAYS_BIRTH"
    [event] = events(client)
    assert event["path"] == "async" and event["status"] == "invalid"


def test_malformed_job_json_is_400(client: TestClient) -> None:
    assert client.post("/v1/jobs", content=b"{", headers=HEADERS).status_code == 400


def test_an_unknown_job_is_404(client: TestClient) -> None:
    for job_id in ("0b8e5a56-1f43-4d0e-9d6b-3f1ad2c4e8a1", "not a job id", "x" * 200):
        response = client.get(f"/v1/jobs/{job_id}", headers=HEADERS)
        assert response.status_code == 404
        assert response.json()["error"] == "job_not_found" and response.json()["request_id"]


def test_job_routes_need_a_key(client: TestClient) -> None:
    assert post_json(client, "/v1/jobs", example_application(), {}).status_code == 401
    assert client.get("/v1/jobs/abc").status_code == 401


def test_without_a_worker_a_job_stays_queued(make_client: Any) -> None:
    idle = make_client(embedded_worker=False)
    accepted = post_json(idle, "/v1/jobs", example_application()).json()
    body = idle.get(f"/v1/jobs/{accepted['job_id']}", headers=HEADERS).json()
    assert body["status"] == "queued" and body["started_at"] is None and "result" not in body


def test_a_job_that_cannot_succeed_fails_at_once_with_its_reason(client: TestClient) -> None:
    # a payload the gateway would never send (another version, or tampering): the worker re-validates
    resources = client.app.state.resources  # type: ignore[attr-defined]
    queue = Queue(resources.settings.queue_name, connection=resources.redis, serializer=JOB_SERIALIZER)
    job = queue.enqueue_call(SCORE_JOB, kwargs={"applications": [{"SK_ID_CURR": 7}], "single": True},
                             retry=Retry(max=3, interval=0))
    body = poll(client, job.id)
    assert body["status"] == "failed"
    assert body["reason"].startswith("JobInputError: application 0 is invalid")
    assert "Traceback" not in body["reason"]
    [event] = events(client)
    assert event["status"] == "error" and event["error_type"] == "JobInputError" and event["job_id"] == job.id


def test_a_transient_failure_is_retried_then_finishes(client: TestClient) -> None:
    scorer = client.app.state.resources.scorer  # type: ignore[attr-defined]
    real, calls = scorer.score_batch, []

    def flaky(applications: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("transient: onnxruntime busy")
        return real(applications)

    scorer.score_batch = flaky
    accepted = post_json(client, "/v1/jobs", example_application()).json()
    body = poll(client, accepted["job_id"], timeout=15.0)  # first retry after JOB_RETRY_INTERVALS[0] = 1 s
    assert body["status"] == "finished", body
    assert len(calls) == 2
    assert [e["status"] for e in events(client)] == ["error", "ok"]


def test_the_queue_is_unavailable_without_worker_code(gateway_settings: Any) -> None:
    """The gateway alone (its image has no worker code), without REDIS_URL: jobs 503, scores served."""
    from gateway.app import create_app as create_gateway_app

    with TestClient(create_gateway_app(gateway_settings()), raise_server_exceptions=False) as gateway_image:
        response = post_json(gateway_image, "/v1/jobs", example_application())
        assert response.status_code == 503
        assert "worker code not installed" in response.json()["message"]
        assert response.headers["retry-after"]
        assert post_json(gateway_image, "/v1/score", example_application()).status_code == 200


@pytest.mark.parametrize(("exc_string", "reason"), [
    ("Traceback (most recent call last):\n  File \"x.py\", line 1\nworker.exceptions.JobInputError: bad input\n",
     "JobInputError: bad input"),
    ("Moved to FailedJobRegistry, due to AbandonedJobError, at 2025-01-01",
     "AbandonedJobError: the worker stopped while running the job, and no retry was left"),
    ("Traceback...\nrq.timeouts.JobTimeoutException: Task exceeded maximum timeout value (30 seconds)",
     "JobTimeoutException: Task exceeded maximum timeout value (30 seconds)"),
    (None, "failed (no reason recorded)"),
])
def test_failure_reason_is_the_last_line_without_module_path(exc_string: str | None, reason: str) -> None:
    assert failure_reason(exc_string) == reason


def test_a_job_holding_a_clear_client_id_expires_in_every_state(make_client: Any) -> None:
    from rq.job import Job

    idle = make_client(embedded_worker=False, job_queue_ttl=120, job_result_ttl=60)
    redis = idle.app.state.resources.redis  # type: ignore[attr-defined]
    settings = idle.app.state.resources.settings  # type: ignore[attr-defined]
    # a single application: its group job holds it (client id in clear), its record only the group's id
    queued = post_json(idle, "/v1/jobs", example_application()).json()["job_id"]
    group = redis.hget(application_key(queued), "group").decode()
    assert 0 < redis.ttl(f"rq:job:{group}") <= 120  # discarded if no worker takes it in time
    job = Job.fetch(group, connection=redis, serializer=JOB_SERIALIZER)
    assert (job.ttl, job.result_ttl, job.failure_ttl) == (120, 60, 60)
    assert 0 < redis.ttl(application_key(queued)) <= settings.job_clear_id_max_s
    # a batch is a job of its own
    batch = post_json(idle, "/v1/jobs", {"applications": synthetic_applications(2, seed=3)}).json()["job_id"]
    assert 0 < redis.ttl(f"rq:job:{batch}") <= 120
    job = Job.fetch(batch, connection=redis, serializer=JOB_SERIALIZER)
    assert (job.ttl, job.result_ttl, job.failure_ttl) == (120, 60, 60)
    working = make_client(job_queue_ttl=120, job_result_ttl=60)
    redis = working.app.state.resources.redis  # type: ignore[attr-defined]
    done = post_json(working, "/v1/jobs", example_application()).json()["job_id"]
    assert poll(working, done)["status"] == "finished"
    group = redis.hget(application_key(done), "group").decode()
    assert 0 < redis.ttl(f"rq:job:{group}") <= 60
    assert 0 < redis.ttl(application_key(done)) <= 60  # the result, pseudonymous, as long as a job's
