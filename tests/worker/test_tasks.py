"""Scoring jobs run by a ScoringWorker on fakeredis: results, events, one load per process, failures."""

from __future__ import annotations

import logging
import time
from typing import Any

import fakeredis
import orjson
import pytest
from rq import Queue, Retry
from rq.job import Job, JobStatus

from shared.columns import CLIENT_ID
from shared.event import pseudonymise
from shared.jobs import JOB_SERIALIZER, SCORE_JOB
from shared.logs import JsonFormatter
from shared.scorer import Scorer
from tests.utils.data import synthetic_applications
from worker import tasks
from worker.pool import ScoringWorker
from worker.settings import WorkerSettings


def _queue(redis: fakeredis.FakeRedis, settings: WorkerSettings) -> Queue:
    return Queue(settings.queue_name, connection=redis, serializer=JOB_SERIALIZER)


def _run(redis: fakeredis.FakeRedis, settings: WorkerSettings) -> ScoringWorker:
    worker = ScoringWorker([_queue(redis, settings)], connection=redis)
    worker.work(burst=True)
    return worker


def _events(redis: fakeredis.FakeRedis, settings: WorkerSettings) -> list[dict[str, Any]]:
    return [orjson.loads(f[b"event"]) for _, f in redis.xrange(settings.events_stream)]


def test_jobs_are_scored_with_one_scorer_load(fake_redis: fakeredis.FakeRedis, worker_settings: WorkerSettings,
                                              worker_bundle: Any) -> None:
    applications = synthetic_applications(6, seed=11)
    queue = _queue(fake_redis, worker_settings)
    jobs = [queue.enqueue_call(SCORE_JOB, kwargs={"applications": [a], "single": True, "request_id": f"r{i}",
                                                  "validation_ms": 0.1}) for i, a in enumerate(applications)]
    _run(fake_redis, worker_settings)
    assert int(fake_redis.get(tasks.LOADS_KEY)) == 1  # six jobs, one load
    offline = Scorer.load(worker_bundle).score_batch(applications)
    for job, expected in zip(jobs, offline, strict=True):
        job.refresh()
        assert job.get_status() == JobStatus.FINISHED
        result = job.return_value()
        assert result["probability"] == pytest.approx(expected.probability, abs=1e-7)
        assert result["decision"] == expected.decision
        assert result["timings"]["queue_wait_ms"] >= 0


def test_each_scored_application_emits_an_async_event(fake_redis: fakeredis.FakeRedis,
                                                       worker_settings: WorkerSettings) -> None:
    applications = synthetic_applications(3, seed=12)
    job = _queue(fake_redis, worker_settings).enqueue_call(
        SCORE_JOB, kwargs={"applications": applications, "indices": [0, 2, 5], "request_id": "req-1",
                           "validation_ms": 0.2})
    _run(fake_redis, worker_settings)  # the runtime is closed at the end of work(): the publisher has flushed
    events = _events(fake_redis, worker_settings)
    assert [e["status"] for e in events] == ["ok"] * 3
    for event, application in zip(events, applications, strict=True):
        assert event["path"] == "async" and event["job_id"] == job.id and event["request_id"] == "req-1"
        assert event["client_ref"] == pseudonymise(application[CLIENT_ID], "worker-test-key")
        assert event["features"] == {k: v for k, v in application.items() if k != CLIENT_ID}
        assert event["timings"]["validation_ms"] == 0.2
        assert event["timings"]["queue_wait_ms"] is not None and event["timings"]["inference_ms"] is not None
    assert [r["index"] for r in Job.fetch(job.id, fake_redis, serializer=JOB_SERIALIZER).return_value()["results"]] \
        == [0, 2, 5]


def test_invalid_arguments_fail_at_once_despite_retries(fake_redis: fakeredis.FakeRedis,
                                                        worker_settings: WorkerSettings) -> None:
    bad = synthetic_applications(1, seed=13)[0] | {"AMT_CREDIT": "lots"}
    job = _queue(fake_redis, worker_settings).enqueue_call(SCORE_JOB, kwargs={"applications": [bad]},
                                                           retry=Retry(max=3))
    _run(fake_redis, worker_settings)
    job.refresh()
    assert job.get_status() == JobStatus.FAILED
    assert "JobInputError: application 0 is invalid: AMT_CREDIT (float_type)" in job.latest_result().exc_string
    [event] = _events(fake_redis, worker_settings)
    assert event["status"] == "error" and event["error_type"] == "JobInputError"


def test_a_missing_bundle_is_retried_not_lost(fake_redis: fakeredis.FakeRedis, worker_settings: WorkerSettings,
                                              tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("worker.pool.RESTART_DELAY_S", 0)
    missing = worker_settings.model_copy(update={"model_dir": tmp_path / "missing"})
    monkeypatch.setattr(ScoringWorker, "settings", missing)
    job = _queue(fake_redis, missing).enqueue_call(SCORE_JOB, kwargs={"applications": synthetic_applications(1)})
    _run(fake_redis, missing)
    assert job.get_status() == JobStatus.QUEUED  # the worker refused to start: the job waits for a healthy one
    assert fake_redis.get(tasks.LOADS_KEY) is None


def test_an_abandoned_job_is_retried_or_failed_with_its_reason(fake_redis: fakeredis.FakeRedis,
                                                               worker_settings: WorkerSettings) -> None:
    """What RQ's clean-up does with the job of a worker that died mid-job, with our handler."""
    queue = _queue(fake_redis, worker_settings)
    tasks.load_runtime(fake_redis, worker_settings)
    worker = ScoringWorker([queue], connection=fake_redis)
    retried = queue.enqueue_call(SCORE_JOB, kwargs={"applications": synthetic_applications(1)}, retry=Retry(max=1),
                                 timeout=5)
    lost = queue.enqueue_call(SCORE_JOB, kwargs={"applications": synthetic_applications(1), "request_id": "gone"},
                              timeout=5)
    prepared_from = time.time()  # the executions expire at (prepare time + timeout + grace) >= this + 6 s
    for job in (retried, lost):  # what a worker does before running a job, then it "dies"
        queue.remove(job)
        worker.prepare_execution(job)
        worker.prepare_job_execution(job)
    assert {retried.get_status(), lost.get_status()} == {JobStatus.STARTED}
    # the execution record expires after the job's timeout + the grace: not before
    queue.started_job_registry.cleanup(timestamp=prepared_from + 5, exception_handlers=worker._exc_handlers)
    assert lost.get_status() == JobStatus.STARTED
    queue.started_job_registry.cleanup(timestamp=time.time() + 7, exception_handlers=worker._exc_handlers)
    retried.refresh()
    assert retried.get_status() == JobStatus.QUEUED and retried.retries_left == 0
    assert lost.get_status() == JobStatus.FAILED
    assert "AbandonedJobError" in lost.latest_result().exc_string
    tasks.current_runtime().publisher.flush(5)  # type: ignore[union-attr]
    events = _events(fake_redis, worker_settings)
    assert {(e["job_id"], e["status"], e["error_type"]) for e in events} == {
        (retried.id, "error", "AbandonedJobError"), (lost.id, "error", "AbandonedJobError")}
    _run(fake_redis, worker_settings)  # a live worker picks the retried job up
    assert retried.get_status() == JobStatus.FINISHED


def test_the_heartbeat_window_is_the_timeout_plus_the_grace(fake_redis: fakeredis.FakeRedis,
                                                            worker_settings: WorkerSettings) -> None:
    queue = _queue(fake_redis, worker_settings)
    job = queue.enqueue_call(SCORE_JOB, kwargs={"applications": []}, timeout=7)
    assert ScoringWorker([queue], connection=fake_redis).get_heartbeat_ttl(job) == 7 + worker_settings.abandoned_grace_s


def test_maintenance_fails_an_abandoned_job_through_queues_built_like_the_pools(
        fake_redis: fakeredis.FakeRedis, worker_settings: WorkerSettings) -> None:
    """WorkerPool hands workers Queue objects without our serializer; the clean-up must still read the job."""
    tasks.load_runtime(fake_redis, worker_settings)
    worker = ScoringWorker([Queue(worker_settings.queue_name, connection=fake_redis)], connection=fake_redis)
    assert worker.queues[0].serializer is JOB_SERIALIZER
    queue = _queue(fake_redis, worker_settings)
    job = queue.enqueue_call(SCORE_JOB, kwargs={"applications": synthetic_applications(1)}, timeout=1)
    queue.remove(job)
    worker.prepare_execution(job)
    worker.prepare_job_execution(job)
    time.sleep(1 + worker_settings.abandoned_grace_s + 0.2)  # past the execution's expiry
    worker.clean_registries()  # what run_maintenance_tasks does every MAINTENANCE_INTERVAL_S
    assert job.get_status() == JobStatus.FAILED
    assert not fake_redis.exists(queue.registry_cleaning_key)  # the maintenance lock was released


def test_install_shares_a_loaded_scorer(fake_redis: fakeredis.FakeRedis, worker_settings: WorkerSettings,
                                        worker_bundle: Any) -> None:
    published: list[dict[str, Any]] = []

    class Collect:
        def publish(self, event: dict[str, Any]) -> bool:
            published.append(event)
            return True

    tasks.install(Scorer.load(worker_bundle), Collect(), "k")
    result = tasks.score_applications(synthetic_applications(2, seed=14), request_id="direct")
    assert result["count"] == 2 and len(published) == 2
    assert fake_redis.get(tasks.LOADS_KEY) is None  # installed, not loaded


def test_idle_heartbeats_are_throttled_but_job_bookkeeping_is_not(fake_redis: fakeredis.FakeRedis,
                                                                   worker_settings: WorkerSettings) -> None:
    worker = ScoringWorker([_queue(fake_redis, worker_settings)], connection=fake_redis)
    worker.heartbeat()
    first = worker.last_heartbeat
    worker.heartbeat()  # less than a second later: skipped
    assert worker.last_heartbeat == first
    worker.heartbeat(timeout=90)  # an explicit TTL always goes through
    assert worker.last_heartbeat != first
    assert 0 < fake_redis.ttl(worker.key) <= 90


def test_each_job_attempt_logs_one_json_line(fake_redis: fakeredis.FakeRedis, worker_settings: WorkerSettings,
                                             caplog: pytest.LogCaptureFixture,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.INFO, logger="worker.tasks")
    queue = _queue(fake_redis, worker_settings)
    ok = queue.enqueue_call(SCORE_JOB, kwargs={"applications": synthetic_applications(2, seed=21),
                                               "request_id": "req-ok", "validation_ms": 0.3})
    bad = queue.enqueue_call(SCORE_JOB, kwargs={
        "applications": [synthetic_applications(1, seed=22)[0] | {"AMT_CREDIT": "lots"}], "request_id": "req-bad"},
        retry=Retry(max=3))
    flaky = queue.enqueue_call(SCORE_JOB, kwargs={"applications": synthetic_applications(3, seed=23),
                                                  "request_id": "req-flaky"}, retry=Retry(max=1))
    score_batch, calls = Scorer.score_batch, []

    def fails_once_on_three(self: Scorer, rows: Any) -> Any:
        calls.append(len(rows))
        if len(rows) == 3 and calls.count(3) == 1:
            raise RuntimeError("inference session lost")
        return score_batch(self, rows)

    monkeypatch.setattr(Scorer, "score_batch", fails_once_on_three)
    _run(fake_redis, worker_settings)
    # what `python -m worker` writes: the worker's JSON formatter, one object per line
    lines = [orjson.loads(JsonFormatter().format(r)) for r in caplog.records
             if r.name == "worker.tasks" and r.getMessage() == "job"]
    by_request: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_request.setdefault(line["request_id"], []).append(line)
    assert sorted(by_request) == ["req-bad", "req-flaky", "req-ok"]
    [done] = by_request["req-ok"]
    assert done["job_id"] == ok.id and done["count"] == 2 and done["status"] == "finished"
    assert done["level"] == "INFO" and done["validation_ms"] == 0.3 and done["model_version"]
    assert all(done[k] is not None and done[k] >= 0 for k in ("queue_wait_ms", "inference_ms", "total_ms", "run_ms"))
    [failed] = by_request["req-bad"]
    assert failed["job_id"] == bad.id and failed["count"] == 1 and failed["level"] == "WARNING"
    assert failed["status"] == "failed" and failed["error_type"] == "JobInputError"
    assert failed["total_ms"] is not None and "AMT_CREDIT" in failed["error"]
    first, second = by_request["req-flaky"]
    assert (first["status"], first["error_type"], second["status"]) == ("retrying", "RuntimeError", "finished")
    assert first["job_id"] == second["job_id"] == flaky.id and first["count"] == second["count"] == 3
