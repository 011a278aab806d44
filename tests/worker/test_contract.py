"""The worker honours the job contract of ``shared.jobs``: name, arguments, serializer."""

from __future__ import annotations

import inspect
from dataclasses import fields

from shared.jobs import JOB_SERIALIZER, SCORE_JOB, ScoreJobArgs
from worker import tasks
from worker.pool import ScoringWorker


def test_the_job_name_is_the_worker_function() -> None:
    function = tasks.score_applications
    assert f"{function.__module__}.{function.__qualname__}" == SCORE_JOB


def test_the_job_arguments_are_the_function_parameters() -> None:
    parameters = list(inspect.signature(tasks.score_applications).parameters)
    assert parameters == [f.name for f in fields(ScoreJobArgs)]
    args = ScoreJobArgs(applications=[{"SK_ID_CURR": 1}], indices=[3], single=True, request_id="r", validation_ms=0.5)
    assert ScoreJobArgs.from_kwargs(args.to_kwargs()) == args


def test_the_worker_reads_jobs_with_the_contract_serializer(worker_settings: object, fake_redis: object) -> None:
    worker = ScoringWorker(["scoring"], connection=fake_redis)
    assert worker.serializer is JOB_SERIALIZER
