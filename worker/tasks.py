"""Scoring jobs, and the per-process runtime they use.

Job functions are module-level and enqueued by name (``shared.jobs.SCORE_JOB``; the group
jobs of coalesced single applications, ``SCORE_GROUP_JOB``, are in :mod:`worker.groups`);
validation, events and results come from the scoring core (``shared.serving``). The scorer is loaded once per process:
at worker start (:func:`load_runtime`, called by the pool's workers) or, for a
worker started some other way, lazily at the first job. Each load increments
the Redis key ``scoring:worker:loads`` and logs one line, so a test (or an
operator) can count them.

Each job attempt logs one JSON line (logger ``worker.tasks``, message ``job``):
``job_id``, ``request_id``, ``count`` (applications), ``status`` (``finished``,
``retrying`` or ``failed``, with ``error_type`` and ``error``) and the timings
in ms.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rq import get_current_job
from rq.job import Job

from shared.event import Timings
from shared.exceptions import ExplanationUnavailableError, InputRefusedError
from shared.jobs import SCORE_GROUP_JOB, SCORE_JOB, ScoreJobArgs
from shared.logs import log_context
from shared.model_holder import ChampionFollower, follow_champion
from shared.scorer import Scorer
from shared.serving.core import ScoringCore
from shared.serving.events import EventBuilder, split_application
from worker.exceptions import ExplanationJobError, JobInputError, PermanentJobError, ScorerUnavailableError
from worker.settings import WorkerSettings

logger = logging.getLogger(__name__)
LOADS_KEY = "scoring:worker:loads"


@dataclass
class Runtime:
    """What a worker process holds for its jobs: the scorer, the event publisher and the scoring core."""

    scorer: Scorer
    publisher: Any
    pseudonymisation_key: str
    owns_publisher: bool = True
    core: ScoringCore = field(init=False)
    follower: ChampionFollower | None = None

    def __post_init__(self) -> None:
        self.core = ScoringCore(self.scorer, EventBuilder(self.publisher, self.pseudonymisation_key))

    def use(self, scorer: Scorer) -> None:
        """Serve the next jobs with ``scorer`` (a new champion; a running job keeps the one it took)."""
        self.scorer = scorer
        self.core.scorer = scorer


_runtime: Runtime | None = None
_lock = threading.Lock()


def install(scorer: Scorer, publisher: Any, pseudonymisation_key: str) -> None:
    """Use an already loaded scorer and publisher (the gateway's embedded worker shares its own)."""
    global _runtime
    with _lock:
        _runtime = Runtime(scorer, publisher, pseudonymisation_key, owns_publisher=False)


def load_runtime(connection: Any, settings: WorkerSettings | None = None) -> Runtime:
    """Load this process's scorer and start its publisher, once.

    Args:
        connection: the worker's Redis connection (for the load counter and the publisher).
        settings: worker settings (read from the environment when omitted).

    Raises:
        ScorerUnavailableError: the bundle cannot be loaded (the job is retried later).
    """
    global _runtime
    with _lock:
        if _runtime is not None:
            return _runtime
        settings = settings or WorkerSettings()
        start = time.perf_counter()
        try:
            scorer = Scorer.load(settings.model_dir, threads=settings.scorer_threads)
        except Exception as exc:  # a bundle being deployed, a missing volume: worth a retry
            raise ScorerUnavailableError(f"model bundle {settings.model_dir} cannot be loaded: {exc}") from exc
        loads = connection.incr(LOADS_KEY)
        logger.info("scorer loaded", extra={
            "pid": os.getpid(), "model_version": scorer.model_version, "bundle": str(settings.model_dir),
            "load_ms": round((time.perf_counter() - start) * 1000, 1), "loads_total": loads,
        })
        from shared.publisher import EventPublisher

        publisher = EventPublisher.from_settings(settings, connection)  # one spool slot per process
        _runtime = Runtime(scorer, publisher, settings.pseudonymisation_key)
        if settings.redis_url and connection is not None:
            _runtime.follower = follow_champion(scorer, connection, settings, _runtime.use)
        return _runtime


def close_runtime() -> None:
    """Flush and stop this process's publisher (when it owns it) and forget the scorer."""
    global _runtime
    with _lock:
        if _runtime is not None and _runtime.follower is not None:
            _runtime.follower.stop()
        if _runtime is not None and _runtime.owns_publisher:
            _runtime.publisher.close()
        _runtime = None


def current_runtime() -> Runtime | None:
    """The loaded runtime, if any (no load)."""
    return _runtime


def _ms(delta_s: float) -> float:
    return round(delta_s * 1000.0, 3)


def score_applications(applications: list[dict[str, Any]], indices: list[int] | None = None, single: bool = False,
                       request_id: str | None = None, validation_ms: float | None = None,
                       explain: bool = False) -> dict[str, Any]:
    """Score applications queued by the gateway (one, or a batch as one matrix): the job of ``SCORE_JOB``.

    Args:
        applications: validated applications (raw columns with SK_ID_CURR), re-validated here.
        indices: each application's position in the client's request (batch answers refer to it).
        single: answer with one score instead of a list.
        request_id: the submitting request's id, carried into the events.
        validation_ms: the gateway's validation time, carried into the events.
        explain: add each decision's reasons to the result and the events.

    Returns:
        :class:`shared.serving.answers.JobScore` (``single``) or :class:`shared.serving.answers.JobBatch`.

    Raises:
        JobInputError: an application is not valid (fails at once, no retry).
        ExplanationJobError: reasons asked for, but the bundle has no explainer (fails at once).
        ScorerUnavailableError: no model (retried).
    """
    started = time.perf_counter()
    job = get_current_job()
    runtime = _runtime or load_runtime(job.connection if job else None)
    indices = indices if indices is not None else list(range(len(applications)))
    try:
        valid = runtime.core.validate_job(applications, indices)
    except InputRefusedError as exc:
        raise JobInputError(exc.message) from None
    results = runtime.scorer.score_batch([features for _, features, _ in valid])
    job_id = job.id if job else None
    explanations = None
    if explain:
        try:
            explanations = runtime.core.explain([features for _, features, _ in valid],
                                                results[0].model_version if results else None)
        except ExplanationUnavailableError as exc:  # on_job_failure emits the "error" events
            raise ExplanationJobError(str(exc)) from None
    ended = datetime.now(UTC)
    queue_wait, total = _job_times(job, ended)
    inference = round(results[0].inference_ms, 3) if results else None
    timings = Timings(validation_ms=validation_ms, queue_wait_ms=queue_wait, inference_ms=inference, total_ms=total)
    answer = runtime.core.job_answer(valid, results, single, timings, request_id, job_id, explanations)
    logger.info("job", extra={
        "count": len(results), "status": "finished",
        "model_version": runtime.scorer.model_version, **answer["timings"],
        "run_ms": _ms(time.perf_counter() - started),
    })
    return answer


def _job_times(job: Job | None, ended: datetime) -> tuple[float | None, float | None]:
    """(queue wait, total) of a job in ms, when its timestamps are known."""
    if job is None or not job.enqueued_at:
        return None, None
    queue_wait = _ms((job.started_at - job.enqueued_at).total_seconds()) if job.started_at else None
    return queue_wait, _ms((ended - job.enqueued_at).total_seconds())


def on_job_failure(job: Job, exc_type: type[BaseException] | None, exc_value: BaseException | None,
                   traceback: Any) -> bool:
    """RQ exception handler: one "error" event per application of a failed attempt; no retry when permanent.

    A group job's applications each get their event under their own id and request.

    Also called by RQ's clean-up for jobs abandoned by a dead worker (``AbandonedJobError``).
    """
    if isinstance(exc_value, PermanentJobError):
        job.retries_left = 0  # RQ reads it right after the handlers: fail now
    runtime = _runtime
    try:
        if job.func_name not in (SCORE_JOB, SCORE_GROUP_JOB):
            return True
        name = exc_type.__name__ if exc_type else "Error"
        message = f"{name}: {exc_value}" if exc_value and str(exc_value) else name
        status = "retrying" if job.retries_left else "failed"
        if job.func_name == SCORE_GROUP_JOB:
            from worker.groups import emit_failure_events

            with log_context(job_id=job.id):  # each application's event carries its own ids
                count = len(job.kwargs.get("ids") or [])
                logger.warning("job", extra={"count": count, "status": status, "error_type": name,
                                             "error": message[:500], "group": True})
                if runtime is not None:
                    emit_failure_events(job, runtime, name, message)
            return True
        args = ScoreJobArgs.from_kwargs(job.kwargs)
        applications = args.applications or []
        queue_wait, total = _job_times(job, datetime.now(UTC))
        with log_context(request_id=args.request_id, job_id=job.id):  # RQ's clean-up calls this outside the job
            logger.warning("job", extra={
                "count": len(applications), "status": status, "error_type": name, "error": message[:500],
                "validation_ms": args.validation_ms, "queue_wait_ms": queue_wait, "total_ms": total,
            })
        if runtime is None:
            return True
        timings = Timings(validation_ms=args.validation_ms, total_ms=total)
        for application in applications:
            features, client_id = split_application(application)
            runtime.core.events.failed("async", features, client_id, name, message, args.request_id,
                                       runtime.scorer.model_version, timings, job_id=job.id)
    except Exception:  # an exception handler must never raise into RQ
        logger.exception("could not emit the failure events of job %s", job.id)
    return True
