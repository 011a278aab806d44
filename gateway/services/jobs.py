"""Async scoring: validate, enqueue an RQ job, and read a job's state back.

A batch is one RQ job. Single applications are coalesced (:mod:`gateway.services.coalescer`):
those that arrive within ``JOB_LINGER_MS`` of each other, with the same options, go into one
RQ group job (at most ``JOB_GROUP_MAX``), enqueued with each application's record in one
pipelined round trip; each application keeps its own job id, which ``GET /v1/jobs/{id}``
answers for as for any job (see ``shared.jobs``).

Redis calls run in a thread: when Redis is slow or down they must not stall
the event loop that serves ``/v1/score``.
"""

from __future__ import annotations

import random
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.results import Result
from starlette.concurrency import run_in_threadpool

from gateway.exceptions import JobNotFoundError, ServiceUnavailableError
from gateway.metrics import GatewayMetrics
from gateway.services.coalescer import Coalescer
from gateway.services.scoring import ScoringService
from gateway.settings import GatewaySettings
from shared.columns import CLIENT_ID
from shared.event import Timings
from shared.jobs import (
    ENDED_FIELD,
    ENQUEUED_FIELD,
    GROUP_FIELD,
    JOB_SERIALIZER,
    REASON_FIELD,
    RESULT_FIELD,
    SCORE_GROUP_JOB,
    SCORE_JOB,
    STARTED_FIELD,
    STATUS_FIELD,
    GroupJobArgs,
    ScoreJobArgs,
    application_key,
    iso_now,
    queue_backlog,
)
from shared.serving.core import ms_since

__all__ = ["JOB_SERIALIZER", "SCORE_JOB", "JobService", "failure_reason"]
_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_API_STATUS = {
    JobStatus.QUEUED: "queued", JobStatus.DEFERRED: "queued", JobStatus.SCHEDULED: "queued",
    JobStatus.CREATED: "queued", JobStatus.READY_TO_ENQUEUE: "queued", JobStatus.RATE_LIMITED: "queued",
    JobStatus.STARTED: "started", JobStatus.FINISHED: "finished",
    JobStatus.FAILED: "failed", JobStatus.STOPPED: "failed", JobStatus.CANCELED: "failed",
}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z") if moment else None


def _iso_text(moment: Any) -> str | None:
    """An RQ timestamp as stored (``...T10:00:00.123456Z``) in the answer's form (milliseconds)."""
    if not moment:
        return None
    text = moment.decode()
    head, dot, tail = text.rstrip("Z").partition(".")
    return f"{head}.{(tail + '000')[:3]}Z" if dot else f"{head}.000Z"


def new_job_id() -> str:
    """A random job id in RQ's form (a UUID4 string), without a system call per id."""
    return str(uuid.UUID(int=random.getrandbits(128), version=4))


@dataclass(slots=True)
class Pending:
    """One single application waiting in the coalescer for its group job."""

    id: str
    application: dict[str, Any]
    request_id: str | None
    validation_ms: float | None
    enqueued_at: str


def failure_reason(exc_string: str | None) -> str:
    """The last line of a failure's traceback, without module paths: what went wrong, not where."""
    if not exc_string:
        return "failed (no reason recorded)"
    lines = [line.strip() for line in exc_string.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else exc_string
    head, sep, tail = last.partition(": ")
    if sep and "." in head and " " not in head:
        head = head.rsplit(".", 1)[-1]
    if "AbandonedJobError" in last:
        return "AbandonedJobError: the worker stopped while running the job, and no retry was left"
    return f"{head}{sep}{tail}"[:1000]


class JobService:
    """Enqueues scoring jobs and reports their state.

    Args:
        queue: the RQ queue (None when the job path is unavailable).
        scoring: the sync service, for validation and events.
        settings: TTLs, timeout, retries.
        metrics: jobs counter.
        unavailable: why the job path is off, when ``queue`` is None.
    """

    def __init__(self, queue: Queue | None, scoring: ScoringService, settings: GatewaySettings,
                 metrics: GatewayMetrics, unavailable: str | None = None) -> None:
        self.queue = queue
        self.scoring = scoring
        self.settings = settings
        self.metrics = metrics
        self.unavailable = unavailable or "the job queue is not configured"
        intervals = settings.job_retry_intervals or [0]
        self.retry = Retry(max=settings.job_retries, interval=intervals) if settings.job_retries else None
        self.coalescer: Coalescer[Pending] = Coalescer(self._send_group, settings.job_linger_ms / 1000.0,
                                                       settings.job_group_max, settings.job_linger_max_ms / 1000.0)

    async def submit(self, body: bytes, request_id: str | None, explain: bool = False) -> dict[str, Any]:
        """Validate one application or a batch and enqueue it; the answer of ``POST /v1/jobs``.

        With ``explain``, the job's result and events carry the decisions' reasons.
        """
        parsed = self.scoring.parse(body, "async", request_id, allow_single=True)
        validation_ms = parsed.validation_ms
        applications = [{**features, CLIENT_ID: client_id} for _, features, client_id in parsed.valid]
        try:
            if self.queue is None:
                raise ServiceUnavailableError(f"async scoring is unavailable: {self.unavailable}")
            if parsed.single:
                job_id = new_job_id()
                await self.coalescer.submit(explain, Pending(job_id, applications[0], request_id, validation_ms,
                                                             iso_now()))
            else:
                args = ScoreJobArgs(applications=applications, indices=[index for index, _, _ in parsed.valid],
                                    request_id=request_id, validation_ms=validation_ms, explain=explain)
                job_id = (await run_in_threadpool(self._enqueue, args)).id
        except (RedisError, ServiceUnavailableError) as exc:
            timings = Timings(validation_ms=validation_ms, total_ms=ms_since(parsed.start))
            version = self.scoring.scorer.model_version
            for features, client_id in parsed.rows:
                self.scoring.events.failed("async", features, client_id, "queue_unavailable", str(exc), request_id,
                                           version, timings)
            if isinstance(exc, ServiceUnavailableError):
                raise
            raise ServiceUnavailableError("the job queue (Redis) is unavailable: retry later") from exc
        self.metrics.jobs.labels("single" if parsed.single else "batch").inc()
        return {
            "job_id": job_id, "status": "queued", "status_url": f"/v1/jobs/{job_id}", "request_id": request_id,
            "count": len(parsed.valid), "rejected": len(parsed.rejected), "errors": parsed.rejected,
        }

    def _enqueue(self, args: ScoreJobArgs) -> Job:
        assert self.queue is not None
        # The job holds the applications as sent, client id in clear: every lifetime is bounded (docs/storage.md).
        return self.queue.enqueue_call(
            SCORE_JOB, kwargs=args.to_kwargs(), timeout=self.settings.job_timeout, ttl=self.settings.job_queue_ttl,
            result_ttl=self.settings.job_result_ttl, failure_ttl=self.settings.job_result_ttl, retry=self.retry,
            description=f"score {len(args.applications)} application(s), request {args.request_id}",
        )

    async def _send_group(self, explain: Any, items: list[Pending]) -> None:
        waiting = await run_in_threadpool(self._enqueue_group, items, bool(explain))
        self.coalescer.behind(waiting > 2)  # two jobs already waited for a worker: larger groups

    def _enqueue_group(self, items: list[Pending], explain: bool) -> int:
        """Enqueue one group job and each application's record, in one pipelined round trip (MULTI/EXEC).

        Returns:
            The jobs waiting in the queue right after, this one included.
        """
        assert self.queue is not None
        settings = self.settings
        args = GroupJobArgs(ids=[i.id for i in items], applications=[i.application for i in items],
                            request_ids=[i.request_id for i in items], validation_ms=[i.validation_ms for i in items],
                            enqueued_at=[i.enqueued_at for i in items], explain=explain,
                            result_ttl=settings.job_result_ttl)
        with self.queue.connection.pipeline() as pipe:
            # The group job holds the applications as sent, client ids in clear: its lifetime is bounded as a
            # job's; an application's record holds its group's id and, once done, its pseudonymous result.
            job = self.queue.enqueue_call(
                SCORE_GROUP_JOB, kwargs=args.to_kwargs(), timeout=settings.job_timeout, ttl=settings.job_queue_ttl,
                result_ttl=settings.job_result_ttl, failure_ttl=settings.job_result_ttl, retry=self.retry,
                description=f"score {len(items)} coalesced application(s)", pipeline=pipe,
            )
            for item in items:
                key = application_key(item.id)
                pipe.hset(key, mapping={GROUP_FIELD: job.id, ENQUEUED_FIELD: item.enqueued_at})
                pipe.expire(key, settings.job_clear_id_max_s)  # never shorter than its group job's life
            pipe.llen(self.queue.key)
            waiting: int = pipe.execute()[-1]
        return waiting

    async def close(self) -> None:
        """Enqueue the applications still waiting in the coalescer (the gateway is stopping)."""
        await self.coalescer.close()

    async def status(self, job_id: str) -> dict[str, Any]:
        """The state of one job; the answer of ``GET /v1/jobs/{job_id}``.

        Raises:
            JobNotFoundError: unknown id, or its result has expired.
            ServiceUnavailableError: Redis is unreachable.
        """
        if not _JOB_ID.match(job_id):
            raise JobNotFoundError(f"no job {job_id[:80]!r}")
        if self.queue is None:
            raise ServiceUnavailableError(f"async scoring is unavailable: {self.unavailable}")
        try:
            return await run_in_threadpool(self._status, job_id)
        except RedisError as exc:
            raise ServiceUnavailableError("the job queue (Redis) is unavailable: retry later") from exc

    def _status(self, job_id: str) -> dict[str, Any]:
        assert self.queue is not None
        record = self.queue.connection.hgetall(application_key(job_id))
        if record:
            return self._application_status(job_id, record)
        try:
            job = Job.fetch(job_id, connection=self.queue.connection, serializer=JOB_SERIALIZER)
        except NoSuchJobError:
            raise JobNotFoundError(f"no job {job_id!r} (unknown, or its result has expired)") from None
        status = _API_STATUS.get(job.get_status(refresh=False), "queued")
        answer: dict[str, Any] = {
            "job_id": job.id, "status": status, "enqueued_at": _iso(job.enqueued_at),
            "started_at": _iso(job.started_at), "ended_at": _iso(job.ended_at),
        }
        if status == "finished":
            answer["result"] = job.return_value()
        elif status == "failed":
            latest = job.latest_result()
            answer["reason"] = failure_reason(latest.exc_string if latest else None)
        return answer

    def _application_status(self, job_id: str, record: dict[Any, Any], again: bool = True) -> dict[str, Any]:
        """The state of a coalesced application: its own record once done, its group job's state before."""
        assert self.queue is not None
        connection = self.queue.connection
        enqueued = _iso_text(record.get(ENQUEUED_FIELD.encode()))
        status = record.get(STATUS_FIELD.encode())
        if status is not None:
            answer: dict[str, Any] = {
                "job_id": job_id, "status": status.decode(), "enqueued_at": enqueued,
                "started_at": _iso_text(record.get(STARTED_FIELD.encode())),
                "ended_at": _iso_text(record.get(ENDED_FIELD.encode()))}
            if answer["status"] == "finished":
                answer["result"] = orjson.loads(record[RESULT_FIELD.encode()])
            else:
                answer["reason"] = (record.get(REASON_FIELD.encode()) or b"failed (no reason recorded)").decode()
            return answer
        group = (record.get(GROUP_FIELD.encode()) or b"").decode()
        fields: list[Any] = connection.hmget(Job.key_for(group), "status", "started_at", "ended_at")
        state, started, ended = fields
        if state is None:
            raise JobNotFoundError(f"no job {job_id!r} (unknown, or its result has expired)")
        status_text = _API_STATUS.get(JobStatus(state.decode()), "queued")
        if status_text == "finished":
            # the worker wrote this application's record just before it finished the group: read it again
            record = connection.hgetall(application_key(job_id))
            if again and record:
                return self._application_status(job_id, record, again=False)
            raise JobNotFoundError(f"no job {job_id!r} (unknown, or its result has expired)")
        answer = {"job_id": job_id, "status": status_text, "enqueued_at": enqueued, "started_at": _iso_text(started),
                  "ended_at": _iso_text(ended)}
        if status_text == "failed":
            group_job = Job(group, connection=connection, serializer=JOB_SERIALIZER)
            latest = Result.fetch_latest(group_job, serializer=JOB_SERIALIZER)
            answer["reason"] = failure_reason(latest.exc_string if latest else None)
        return answer

    async def backlog(self) -> tuple[float | None, float | None]:
        """Jobs waiting in the queue and the age in seconds of the oldest (0 when empty); None when unknown.

        Published on ``/metrics``: in embedded mode the queue lives in this process, and the
        monitoring scheduler, a process of its own, reads it there.
        """
        if self.queue is None:
            return None, None
        try:
            depth, age = await run_in_threadpool(queue_backlog, self.queue)
        except RedisError:
            return None, None
        return float(depth), age

