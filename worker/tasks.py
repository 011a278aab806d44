"""Scoring jobs, and the per-process runtime they use.

Job functions are module-level and enqueued by name
(``worker.tasks.score_applications``). The scorer is loaded once per process:
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
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from rq import get_current_job
from rq.job import Job

from shared.columns import CLIENT_ID
from shared.event import ScoringEvent, Timings, pseudonymise
from shared.schema import LoanApplication, field_errors
from shared.scorer import Scorer
from worker.exceptions import JobInputError, PermanentJobError, ScorerUnavailableError
from worker.settings import WorkerSettings

logger = logging.getLogger(__name__)
LOADS_KEY = "scoring:worker:loads"


def _new_id() -> str:
    """A random 128-bit hex id (ScoringEvent's default, uuid4, reads the OS random source: ~40 us here)."""
    return f"{random.getrandbits(128):032x}"


@dataclass
class Runtime:
    """What a worker process holds for its jobs: the scorer and the event publisher."""

    scorer: Scorer
    publisher: Any
    pseudonymisation_key: str
    owns_publisher: bool = True


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
        return _runtime


def close_runtime() -> None:
    """Flush and stop this process's publisher (when it owns it) and forget the scorer."""
    global _runtime
    with _lock:
        if _runtime is not None and _runtime.owns_publisher:
            _runtime.publisher.close()
        _runtime = None


def current_runtime() -> Runtime | None:
    """The loaded runtime, if any (no load)."""
    return _runtime


def _ms(delta_s: float) -> float:
    return round(delta_s * 1000.0, 3)


def score_applications(applications: list[dict[str, Any]], indices: list[int] | None = None, single: bool = False,
                       request_id: str | None = None, validation_ms: float | None = None) -> dict[str, Any]:
    """Score applications queued by the gateway (one, or a batch as one matrix).

    Args:
        applications: validated applications (raw columns with SK_ID_CURR), re-validated here.
        indices: each application's position in the client's request (batch answers refer to it).
        single: answer with one score instead of a list.
        request_id: the submitting request's id, carried into the events.
        validation_ms: the gateway's validation time, carried into the events.

    Returns:
        One score (``single``) or ``{"results": [...]}``, with model version, threshold and timings.

    Raises:
        JobInputError: an application is not valid (fails at once, no retry).
        ScorerUnavailableError: no model (retried).
    """
    started = time.perf_counter()
    job = get_current_job()
    runtime = _runtime or load_runtime(job.connection if job else None)
    indices = indices if indices is not None else list(range(len(applications)))
    rows: list[tuple[dict[str, Any], Any]] = []
    for position, application in enumerate(applications):
        try:
            values = LoanApplication.model_validate(application).__dict__.copy()
        except ValidationError as exc:
            fields = ", ".join(f"{e['field']} ({e['rule']})" for e in field_errors(exc))
            raise JobInputError(f"application {indices[position]} is invalid: {fields}") from None
        rows.append((values, values.pop(CLIENT_ID)))
    results = runtime.scorer.score_batch([features for features, _ in rows])
    ended = datetime.now(UTC)
    job_id = job.id if job else None
    queue_wait = _ms((job.started_at - job.enqueued_at).total_seconds()) if job and job.started_at and \
        job.enqueued_at else None
    total = _ms((ended - job.enqueued_at).total_seconds()) if job and job.enqueued_at else None
    inference = round(results[0].inference_ms, 3) if results else None
    timings = Timings(validation_ms=validation_ms, queue_wait_ms=queue_wait, inference_ms=inference, total_ms=total)
    key = runtime.pseudonymisation_key
    for (features, client_id), result in zip(rows, results, strict=True):
        runtime.publisher.publish(ScoringEvent(
            event_id=_new_id(), path="async", status="ok", model_version=result.model_version, request_id=request_id,
            job_id=job_id,
            client_ref=pseudonymise(client_id, key), features=features, score=result.probability,
            decision=result.decision, threshold=result.threshold, timings=timings,
        ))
    timing_answer = {"validation_ms": validation_ms, "queue_wait_ms": queue_wait, "inference_ms": inference,
                     "total_ms": total}
    logger.info("job", extra={
        "job_id": job_id, "request_id": request_id, "count": len(results), "status": "finished",
        "model_version": runtime.scorer.model_version, **timing_answer,
        "run_ms": _ms(time.perf_counter() - started),
    })
    if single:
        only = results[0]
        return {"probability": only.probability, "decision": only.decision, "threshold": only.threshold,
                "model_version": only.model_version, "timings": timing_answer}
    return {
        "model_version": runtime.scorer.model_version, "threshold": runtime.scorer.threshold, "count": len(results),
        "results": [{"index": index, "probability": r.probability, "decision": r.decision}
                    for index, r in zip(indices, results, strict=True)],
        "timings": timing_answer,
    }


def on_job_failure(job: Job, exc_type: type[BaseException] | None, exc_value: BaseException | None,
                   traceback: Any) -> bool:
    """RQ exception handler: one "error" event per application of a failed attempt; no retry when permanent.

    Also called by RQ's clean-up for jobs abandoned by a dead worker (``AbandonedJobError``).
    """
    if isinstance(exc_value, PermanentJobError):
        job.retries_left = 0  # RQ reads it right after the handlers: fail now
    runtime = _runtime
    try:
        if job.func_name != f"{__name__}.score_applications":
            return True
        kwargs = job.kwargs
        applications = kwargs.get("applications") or []
        name = exc_type.__name__ if exc_type else "Error"
        message = f"{name}: {exc_value}" if exc_value and str(exc_value) else name
        total = _ms((datetime.now(UTC) - job.enqueued_at).total_seconds()) if job.enqueued_at else None
        queue_wait = _ms((job.started_at - job.enqueued_at).total_seconds()) if job.started_at and \
            job.enqueued_at else None
        logger.warning("job", extra={
            "job_id": job.id, "request_id": kwargs.get("request_id"), "count": len(applications),
            "status": "retrying" if job.retries_left else "failed", "error_type": name, "error": message[:500],
            "validation_ms": kwargs.get("validation_ms"), "queue_wait_ms": queue_wait, "total_ms": total,
        })
        if runtime is None:
            return True
        timings = Timings(validation_ms=kwargs.get("validation_ms"), total_ms=total)
        for application in applications:
            client_id = application.get(CLIENT_ID) if isinstance(application, dict) else None
            features = {k: v for k, v in application.items() if k != CLIENT_ID} if isinstance(application, dict) \
                else {}
            runtime.publisher.publish(ScoringEvent(
                event_id=_new_id(), path="async", status="error", model_version=runtime.scorer.model_version,
                request_id=kwargs.get("request_id"), job_id=job.id, client_ref=pseudonymise(client_id,
                runtime.pseudonymisation_key), features=features, error_type=name, error_message=message[:2000],
                timings=timings,
            ))
    except Exception:  # an exception handler must never raise into RQ
        logger.exception("could not emit the failure events of job %s", job.id)
    return True
