"""The scoring job contract between the gateway (producer) and the worker (consumer).

The gateway enqueues by name and never imports worker code; the worker's job
functions must live at :data:`SCORE_JOB` and :data:`SCORE_GROUP_JOB` (``tests/worker``
checks it). Both ends use :data:`JOB_SERIALIZER`.

Two kinds of RQ job:

* a batch (``{"applications": [...]}``) is one job of :data:`SCORE_JOB`, arguments
  :class:`ScoreJobArgs`, result :class:`shared.serving.answers.JobBatch` (or
  :class:`shared.serving.answers.JobScore` for a job of one application enqueued so);
* single applications that arrive within a few milliseconds of each other are
  coalesced by the gateway into one job of :data:`SCORE_GROUP_JOB` (arguments
  :class:`GroupJobArgs`), scored as one matrix. Each application keeps its own id:
  its record (:func:`application_key`, a Redis hash) names its group job and, once
  the worker is done, holds its own status, timestamps and result
  (:class:`shared.serving.answers.JobScore`) or failure reason.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

import orjson
from rq import Queue
from rq.utils import utcparse

SCORE_JOB_MODULE = "worker.tasks"
SCORE_JOB_FUNCTION = "score_applications"
SCORE_JOB = f"{SCORE_JOB_MODULE}.{SCORE_JOB_FUNCTION}"
SCORE_GROUP_JOB = "worker.groups.score_group"


class OrjsonSerializer:
    """RQ's JSON serializer, with orjson: the same JSON (either end reads the other's), several times faster
    on a group's applications than the standard library's."""

    @staticmethod
    def dumps(obj: Any) -> bytes:
        """JSON bytes of ``obj``."""
        return orjson.dumps(obj)

    @staticmethod
    def loads(data: bytes) -> Any:
        """The object of JSON bytes."""
        return orjson.loads(data)


JOB_SERIALIZER = OrjsonSerializer
APPLICATION_KEY_PREFIX = "scoring:application:"
# fields of an application's record: written by the gateway ...
GROUP_FIELD, ENQUEUED_FIELD = "group", "enqueued_at"
# ... and by the worker once the application is done
STATUS_FIELD, STARTED_FIELD, ENDED_FIELD, RESULT_FIELD, REASON_FIELD = (
    "status", "started_at", "ended_at", "result", "reason")


def _shallow(args: Any) -> dict[str, Any]:
    """A dataclass's fields as a dict, values as they are (``asdict`` deep-copies every application)."""
    return {f.name: getattr(args, f.name) for f in fields(args)}


@dataclass(slots=True)
class ScoreJobArgs:
    """The keyword arguments of a scoring job.

    Attributes:
        applications: validated applications (raw columns with SK_ID_CURR); the worker re-validates them.
        indices: each application's position in the client's request.
        single: the client sent one application (the result is one score, not a list).
        request_id: the submitting request's id, carried into the events.
        validation_ms: the gateway's validation time, carried into the events.
        explain: the request asked for the decisions' reasons (``?explain=true``).
    """

    applications: list[dict[str, Any]]
    indices: list[int] | None = None
    single: bool = False
    request_id: str | None = None
    validation_ms: float | None = None
    explain: bool = False

    def to_kwargs(self) -> dict[str, Any]:
        """The job's ``kwargs`` (JSON-ready)."""
        return _shallow(self)

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> ScoreJobArgs:
        """The arguments of a stored job (missing ones take their defaults)."""
        return cls(**{k: v for k, v in kwargs.items() if k in cls.__dataclass_fields__})


def application_key(application_id: str) -> str:
    """The Redis key of a coalesced application's record (a hash; see the module's docstring)."""
    return f"{APPLICATION_KEY_PREFIX}{application_id}"


RQ_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # the ISO form RQ writes its job timestamps in (UTC, microseconds, a Z)


def iso_now() -> str:
    """Now, in the ISO form RQ uses for its job timestamps (:data:`RQ_TIME_FORMAT`)."""
    return datetime.now(UTC).strftime(RQ_TIME_FORMAT)


@dataclass(slots=True)
class GroupJobArgs:
    """The keyword arguments of a group job: single applications coalesced by the gateway.

    The lists are parallel, one entry per application. Every application came
    with the same options (``explain``): submissions with other options go to other groups.

    Attributes:
        ids: each application's own job id (the id ``POST /v1/jobs`` answered, and its record's key).
        applications: validated applications (raw columns with SK_ID_CURR); the worker re-validates them.
        request_ids: the id of the request that submitted each application, carried into its event.
        validation_ms: the gateway's validation time of each application.
        enqueued_at: when the gateway accepted each application (ISO, UTC): its queue wait and total start there.
        explain: the requests asked for the decisions' reasons (``?explain=true``).
        result_ttl: seconds each application's result stays readable once written.
    """

    ids: list[str]
    applications: list[dict[str, Any]]
    request_ids: list[str | None]
    validation_ms: list[float | None]
    enqueued_at: list[str]
    explain: bool = False
    result_ttl: int = 3600

    def to_kwargs(self) -> dict[str, Any]:
        """The job's ``kwargs`` (JSON-ready)."""
        return _shallow(self)

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> GroupJobArgs:
        """The arguments of a stored job (missing ones take their defaults)."""
        return cls(**{k: v for k, v in kwargs.items() if k in cls.__dataclass_fields__})


def queue_backlog(queue: Queue) -> tuple[int, float | None]:
    """Jobs waiting in ``queue`` and the age in seconds of the oldest (0 when empty; None when unknown)."""
    depth = queue.count
    if not depth:
        return 0, 0.0
    head = queue.get_job_ids(0, 1)
    raw = queue.connection.hget(queue.job_class.key_for(head[0]), "enqueued_at") if head else None
    if not raw:  # the head job's hash expired or was deleted between the two reads
        return depth, None
    enqueued = utcparse(raw.decode() if isinstance(raw, bytes) else str(raw))
    return depth, max(0.0, (datetime.now(UTC) - enqueued).total_seconds())
