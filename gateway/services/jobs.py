"""Async scoring: validate, enqueue an RQ job, and read a job's state back.

Redis calls run in a thread: when Redis is slow or down they must not stall
the event loop that serves ``/v1/score``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from starlette.concurrency import run_in_threadpool

from gateway.exceptions import JobNotFoundError, ServiceUnavailableError
from gateway.metrics import GatewayMetrics
from gateway.services.scoring import ScoringService
from gateway.settings import GatewaySettings
from shared.columns import CLIENT_ID
from shared.event import Timings
from shared.jobs import JOB_SERIALIZER, SCORE_JOB, ScoreJobArgs, queue_backlog
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

    async def submit(self, body: bytes, request_id: str | None, explain: bool = False) -> dict[str, Any]:
        """Validate one application or a batch and enqueue it; the answer of ``POST /v1/jobs``.

        With ``explain``, the job's result and events carry the decisions' reasons.
        """
        parsed = self.scoring.parse(body, "async", request_id, allow_single=True)
        validation_ms = parsed.validation_ms
        args = ScoreJobArgs(
            applications=[{**features, CLIENT_ID: client_id} for _, features, client_id in parsed.valid],
            indices=[index for index, _, _ in parsed.valid], single=parsed.single, request_id=request_id,
            validation_ms=validation_ms, explain=explain,
        )
        try:
            if self.queue is None:
                raise ServiceUnavailableError(f"async scoring is unavailable: {self.unavailable}")
            job = await run_in_threadpool(self._enqueue, args)
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
            "job_id": job.id, "status": "queued", "status_url": f"/v1/jobs/{job.id}", "request_id": request_id,
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

