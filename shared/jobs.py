"""The scoring job contract between the gateway (producer) and the worker (consumer).

The gateway enqueues by name and never imports worker code; the worker's job
function must live at :data:`SCORE_JOB` (``tests/worker`` checks it). Both ends
use :data:`JOB_SERIALIZER`, the arguments are :class:`ScoreJobArgs`, and the
result is one of the answers :class:`shared.serving.answers.JobScore` or
:class:`shared.serving.answers.JobBatch`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from rq import Queue
from rq.serializers import JSONSerializer
from rq.utils import utcparse

SCORE_JOB_MODULE = "worker.tasks"
SCORE_JOB_FUNCTION = "score_applications"
SCORE_JOB = f"{SCORE_JOB_MODULE}.{SCORE_JOB_FUNCTION}"
JOB_SERIALIZER = JSONSerializer


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
        return asdict(self)

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> ScoreJobArgs:
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
