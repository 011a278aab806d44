"""Group jobs (coalesced single applications) run by a ScoringWorker on fakeredis."""

from __future__ import annotations

import inspect
import time
from dataclasses import fields
from typing import Any

import fakeredis
import orjson
import pytest
from rq import Queue, Retry
from rq.job import Job, JobStatus

from shared.columns import CLIENT_ID
from shared.event import job_event_id, pseudonymise
from shared.jobs import JOB_SERIALIZER, SCORE_GROUP_JOB, GroupJobArgs, application_key, iso_now
from shared.scorer import Scorer
from tests.utils.data import synthetic_applications
from worker import groups, tasks
from worker.pool import ScoringWorker
from worker.settings import WorkerSettings


def _queue(redis: fakeredis.FakeRedis, settings: WorkerSettings) -> Queue:
    return Queue(settings.queue_name, connection=redis, serializer=JOB_SERIALIZER)


def _enqueue(redis: fakeredis.FakeRedis, settings: WorkerSettings, applications: list[dict[str, Any]],
             **options: Any) -> tuple[Job, list[str]]:
    """A group job as the gateway enqueues it, with each application's record."""
    ids = [f"app-{i}-{time.monotonic_ns()}" for i in range(len(applications))]
    args = GroupJobArgs(ids=ids, applications=applications, request_ids=[f"req-{i}" for i in range(len(ids))],
                        validation_ms=[0.1] * len(ids), enqueued_at=[iso_now()] * len(ids), result_ttl=60)
    job = _queue(redis, settings).enqueue_call(SCORE_GROUP_JOB, kwargs=args.to_kwargs(), **options)
    for application_id in ids:
        redis.hset(application_key(application_id), mapping={"group": job.id, "enqueued_at": args.enqueued_at[0]})
    return job, ids


def _run(redis: fakeredis.FakeRedis, settings: WorkerSettings) -> None:
    ScoringWorker([_queue(redis, settings)], connection=redis).work(burst=True)


def _events(redis: fakeredis.FakeRedis, settings: WorkerSettings) -> list[dict[str, Any]]:
    return [orjson.loads(f[b"event"]) for _, f in redis.xrange(settings.events_stream)]


def _record(redis: fakeredis.FakeRedis, application_id: str) -> dict[str, Any]:
    return {k.decode(): v.decode() for k, v in redis.hgetall(application_key(application_id)).items()}


def test_the_group_job_contract() -> None:
    function = groups.score_group
    assert f"{function.__module__}.{function.__qualname__}" == SCORE_GROUP_JOB
    assert list(inspect.signature(function).parameters) == [f.name for f in fields(GroupJobArgs)]
    args = GroupJobArgs(ids=["a"], applications=[{CLIENT_ID: 1}], request_ids=["r"], validation_ms=[0.5],
                        enqueued_at=[iso_now()], explain=True, result_ttl=5)
    assert GroupJobArgs.from_kwargs(args.to_kwargs()) == args


def test_a_group_is_scored_and_each_application_gets_its_own_result_and_event(
        fake_redis: fakeredis.FakeRedis, worker_settings: WorkerSettings, worker_bundle: Any) -> None:
    applications = synthetic_applications(4, seed=31)
    job, ids = _enqueue(fake_redis, worker_settings, applications)
    _run(fake_redis, worker_settings)
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == {"count": 4, "scored": 4, "failed": 0}
    offline = Scorer.load(worker_bundle).score_batch(applications)
    events = {e["job_id"]: e for e in _events(fake_redis, worker_settings)}
    assert set(events) == set(ids)  # exactly one event per application
    for i, (application_id, expected) in enumerate(zip(ids, offline, strict=True)):
        record = _record(fake_redis, application_id)
        assert record["status"] == "finished" and record["group"] == job.id
        result = orjson.loads(record["result"])
        assert result["probability"] == pytest.approx(expected.probability, abs=1e-7)
        assert result["decision"] == expected.decision
        assert result["event_id"] == job_event_id(application_id, 0)  # as a single-application job's
        assert result["timings"]["queue_wait_ms"] >= 0 and result["timings"]["total_ms"] >= 0
        assert 0 < fake_redis.ttl(application_key(application_id)) <= 60
        event = events[application_id]
        assert event["event_id"] == result["event_id"] and event["request_id"] == f"req-{i}"
        assert event["client_ref"] == pseudonymise(applications[i][CLIENT_ID], "worker-test-key")
        assert event["path"] == "async" and event["status"] == "ok"


def test_an_invalid_application_fails_alone(fake_redis: fakeredis.FakeRedis, worker_settings: WorkerSettings) -> None:
    applications = synthetic_applications(3, seed=32)
    applications[1] = applications[1] | {"AMT_CREDIT": "lots"}
    job, ids = _enqueue(fake_redis, worker_settings, applications, retry=Retry(max=3))
    _run(fake_redis, worker_settings)
    assert job.get_status() == JobStatus.FINISHED
    assert [_record(fake_redis, i)["status"] for i in ids] == ["finished", "failed", "finished"]
    assert _record(fake_redis, ids[1])["reason"].startswith("JobInputError: application 0 is invalid: AMT_CREDIT")
    statuses = {e["job_id"]: (e["status"], e.get("error_type")) for e in _events(fake_redis, worker_settings)}
    assert statuses == {ids[0]: ("ok", None), ids[1]: ("error", "JobInputError"), ids[2]: ("ok", None)}


def test_a_failed_attempt_is_retried_and_its_events_keep_their_ids(
        fake_redis: fakeredis.FakeRedis, worker_settings: WorkerSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    score_batch, calls = Scorer.score_batch, []

    def fails_once(self: Scorer, rows: Any) -> Any:
        calls.append(len(rows))
        if len(calls) == 1:
            raise RuntimeError("transient: onnxruntime busy")
        return score_batch(self, rows)

    monkeypatch.setattr(Scorer, "score_batch", fails_once)
    job, ids = _enqueue(fake_redis, worker_settings, synthetic_applications(2, seed=33), retry=Retry(max=1))
    _run(fake_redis, worker_settings)
    assert job.get_status() == JobStatus.FINISHED and calls == [2, 2]
    events = _events(fake_redis, worker_settings)
    assert [(e["job_id"], e["status"]) for e in events] == [(ids[0], "error"), (ids[1], "error"),
                                                            (ids[0], "ok"), (ids[1], "ok")]
    assert events[0]["request_id"] == "req-0" and events[0]["error_type"] == "RuntimeError"
    assert all(_record(fake_redis, i)["status"] == "finished" for i in ids)


def test_an_abandoned_group_is_retried_or_failed(fake_redis: fakeredis.FakeRedis,
                                                 worker_settings: WorkerSettings) -> None:
    """RQ's clean-up of a group whose worker died mid-job: each application gets an error event."""
    queue = _queue(fake_redis, worker_settings)
    tasks.load_runtime(fake_redis, worker_settings)
    worker = ScoringWorker([queue], connection=fake_redis)
    retried, retried_ids = _enqueue(fake_redis, worker_settings, synthetic_applications(2, seed=34),
                                    retry=Retry(max=1), timeout=5)
    lost, lost_ids = _enqueue(fake_redis, worker_settings, synthetic_applications(2, seed=35), timeout=5)
    for job in (retried, lost):  # what a worker does before running a job, then it "dies"
        queue.remove(job)
        worker.prepare_execution(job)
        worker.prepare_job_execution(job)
    queue.started_job_registry.cleanup(timestamp=time.time() + 7, exception_handlers=worker._exc_handlers)
    assert retried.get_status() == JobStatus.QUEUED and lost.get_status() == JobStatus.FAILED
    tasks.current_runtime().publisher.flush(5)  # type: ignore[union-attr]
    errors = {(e["job_id"], e["error_type"]) for e in _events(fake_redis, worker_settings)}
    assert errors == {(i, "AbandonedJobError") for i in retried_ids + lost_ids}
    _run(fake_redis, worker_settings)
    assert retried.get_status() == JobStatus.FINISHED
    assert all(_record(fake_redis, i)["status"] == "finished" for i in retried_ids)
    assert all("status" not in _record(fake_redis, i) for i in lost_ids)  # their group's failure is their answer
