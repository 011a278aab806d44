"""Group jobs: single applications coalesced by the gateway, scored as one matrix.

A group job (``shared.jobs.SCORE_GROUP_JOB``, arguments :class:`shared.jobs.GroupJobArgs`)
carries applications submitted one by one within a few milliseconds of each other. Each
keeps its own id: the worker writes each application's status, timestamps and result
(or failure reason) into its own record (``shared.jobs.application_key``), all in one
transaction, and emits one event per application whose id derives from the
application's own id, so a group run twice stores each event once.

An application that fails re-validation fails alone (its record says why); the others
are scored. A failure of the whole attempt (no model, a timeout, the worker killed) is
RQ's: the group job is retried or marked failed, and every application's
``GET /v1/jobs/{id}`` follows its group's status.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from rq import get_current_job
from rq.job import Job

from shared.event import Timings
from shared.exceptions import ExplanationUnavailableError, InputRefusedError
from shared.jobs import (
    ENDED_FIELD,
    REASON_FIELD,
    RESULT_FIELD,
    RQ_TIME_FORMAT,
    STARTED_FIELD,
    STATUS_FIELD,
    GroupJobArgs,
    application_key,
)
from shared.serving.events import split_application
from worker import tasks
from worker.exceptions import ExplanationJobError

logger = logging.getLogger("worker.tasks")


def _parse(moment: str | None) -> datetime | None:
    try:
        return datetime.strptime(moment, RQ_TIME_FORMAT).replace(tzinfo=UTC) if moment else None
    except ValueError:
        return None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(RQ_TIME_FORMAT)


def _ms(start: datetime | None, end: datetime | None) -> float | None:
    return round((end - start).total_seconds() * 1000.0, 3) if start and end else None


def score_group(ids: list[str], applications: list[dict[str, Any]], request_ids: list[str | None],
                validation_ms: list[float | None], enqueued_at: list[str], explain: bool = False,
                result_ttl: int = 3600) -> dict[str, Any]:
    """Score coalesced single applications as one matrix: the job of ``SCORE_GROUP_JOB``.

    Args:
        ids: each application's own job id.
        applications: validated applications (raw columns with SK_ID_CURR), re-validated here.
        request_ids: the submitting request of each application.
        validation_ms: the gateway's validation time of each application.
        enqueued_at: when the gateway accepted each application (ISO, UTC).
        explain: add each decision's reasons to the results and the events.
        result_ttl: seconds each application's record stays readable once written.

    Returns:
        A summary (``count``, ``scored``, ``failed``): each application's result is in its own record.

    Raises:
        ExplanationJobError: reasons asked for, but the bundle has no explainer (fails at once).
        ScorerUnavailableError: no model (retried).
    """
    run_start = time.perf_counter()
    job = get_current_job()
    if job is None:
        raise RuntimeError("score_group runs as an RQ job (it writes each application's record)")
    runtime = tasks.current_runtime() or tasks.load_runtime(job.connection)
    valid: list[int] = []
    rows: list[tuple[str, dict[str, Any], Any]] = []
    refused: list[tuple[int, str]] = []
    for i, application in enumerate(applications):
        try:
            [(_, features, client_id)] = runtime.core.validate_job([application], [0])
        except InputRefusedError as exc:
            refused.append((i, f"JobInputError: {exc.message}"))
            continue
        valid.append(i)
        rows.append((ids[i], features, client_id))
    results = runtime.scorer.score_batch([features for _, features, _ in rows]) if rows else []
    explanations = None
    if explain and rows:
        try:
            explanations = runtime.core.explain([features for _, features, _ in rows], results[0].model_version)
        except ExplanationUnavailableError as exc:  # on_job_failure emits the "error" events
            raise ExplanationJobError(str(exc)) from None
    started = job.started_at.replace(tzinfo=UTC) if job.started_at else None
    ended = datetime.now(UTC)
    inference = round(results[0].inference_ms, 3) if results else None
    enqueued = [_parse(moment) for moment in enqueued_at]
    timings = [Timings(validation_ms=validation_ms[i], queue_wait_ms=_ms(enqueued[i], started),
                       inference_ms=inference, total_ms=_ms(enqueued[i], ended)) for i in valid]
    answers = runtime.core.group_answers(rows, results, timings, [request_ids[i] for i in valid], explanations)
    for i, message in refused:
        features, client_id = split_application(applications[i])
        runtime.core.events.failed("async", features, client_id, "JobInputError", message, request_ids[i],
                                   runtime.scorer.model_version,
                                   Timings(validation_ms=validation_ms[i], total_ms=_ms(enqueued[i], ended)),
                                   job_id=ids[i])
    times: dict[Any, Any] = {STARTED_FIELD: _iso(started or ended), ENDED_FIELD: _iso(ended)}
    pipe = job.connection.pipeline(transaction=True)
    for i, answer in zip(valid, answers, strict=True):
        record: dict[Any, Any] = {STATUS_FIELD: "finished", RESULT_FIELD: orjson.dumps(answer), **times}
        pipe.hset(application_key(ids[i]), mapping=record)
        pipe.expire(application_key(ids[i]), result_ttl)
    for i, message in refused:
        record = {STATUS_FIELD: "failed", REASON_FIELD: message[:1000], **times}
        pipe.hset(application_key(ids[i]), mapping=record)
        pipe.expire(application_key(ids[i]), result_ttl)
    pipe.execute()
    logger.info("job", extra={
        "count": len(applications), "scored": len(rows), "failed": len(refused), "status": "finished",
        "model_version": runtime.scorer.model_version, "inference_ms": inference,
        "run_ms": round((time.perf_counter() - run_start) * 1000.0, 3),
    })
    return {"count": len(applications), "scored": len(rows), "failed": len(refused)}


def emit_failure_events(job: Job, runtime: Any, name: str, message: str) -> int:
    """One "error" event per application of a failed group attempt (each with its own id and request)."""
    args = GroupJobArgs.from_kwargs(job.kwargs)
    now = datetime.now(UTC)
    for i, application in enumerate(args.applications):
        features, client_id = split_application(application)
        enqueued = _parse(args.enqueued_at[i]) if i < len(args.enqueued_at) else None
        timings = Timings(validation_ms=args.validation_ms[i] if i < len(args.validation_ms) else None,
                          total_ms=_ms(enqueued, now))
        runtime.core.events.failed("async", features, client_id, name, message,
                                   args.request_ids[i] if i < len(args.request_ids) else None,
                                   runtime.scorer.model_version, timings, job_id=args.ids[i])
    return len(args.applications)
