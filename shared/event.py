"""The scoring event: one document per scored application or failed attempt.

Its ``event_id`` is the Elasticsearch ``_id``, so replaying a stream entry
never duplicates a document.
"""

from __future__ import annotations

import hashlib
import random
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import orjson

from shared.pseudonym import pseudonymise

Path = Literal["sync", "async"]
Status = Literal["ok", "invalid", "error"]
__all__ = ["TIMING_FIELDS", "Path", "ScoringEvent", "Status", "Timings", "new_id", "pseudonymise", "utc_now_iso"]

TIMING_FIELDS = ("validation_ms", "queue_wait_ms", "inference_ms", "total_ms")


def job_event_id(job_id: str, index: int) -> str:
    """The event id of a job's ``index``-th application: the same on every run of the job.

    RQ runs a job at least once: one that was running when its worker or Redis
    failed is run again, and its events then replace the first run's (same
    Elasticsearch ``_id``) instead of being stored twice.
    """
    return hashlib.blake2b(f"{job_id}:{index}".encode(), digest_size=16).hexdigest()


def new_id() -> str:
    """A random 128-bit hex id: event ids, request ids.

    ``uuid4()`` reads the OS random source (about 40 us a call on a busy
    machine); ids only need to be unique, not unpredictable.
    """
    return f"{random.getrandbits(128):032x}"


_second_text: tuple[int, str] = (-1, "")  # the last whole second and its text, shared by every thread


def utc_now_iso() -> str:
    """Current UTC time, ISO-8601 with milliseconds and a Z (``2026-01-31T12:00:00.123Z``).

    The text ``datetime.now(UTC).isoformat(timespec="milliseconds")`` gives (the clock's
    nanoseconds cut to the millisecond), its date and time kept for the second they last
    (every event has a timestamp); only the milliseconds are formatted per call.
    """
    global _second_text
    now = time.time_ns()
    second, nanoseconds = divmod(now, 1_000_000_000)
    cached = _second_text
    if cached[0] != second:
        cached = _second_text = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{cached[1]}.{nanoseconds // 1_000_000:03d}Z"


@dataclass(slots=True)
class Timings:
    """Server-side timings of one application, in milliseconds."""

    validation_ms: float | None = None
    queue_wait_ms: float | None = None
    inference_ms: float | None = None
    total_ms: float | None = None


@dataclass(slots=True)
class ScoringEvent:
    """One scored application, or one failed attempt.

    Attributes:
        path: "sync" (gateway fast path, single or batch) or "async" (RQ job).
        status: "ok", "invalid" (the client's input was refused) or "error"
            (our failure).
        features: the raw application fields (None = missing); empty when invalid.
        raw_input: the refused input, as text (only for "invalid"), since it may
            not fit the typed mapping.
        explanation: the decision's reasons (``shared.explain``), only when the
            request asked for them (``explain=true``); None otherwise.
    """

    path: Path
    status: Status
    model_version: str | None = None
    request_id: str | None = None
    job_id: str | None = None
    client_ref: str | None = None
    features: dict[str, Any] = field(default_factory=dict)
    raw_input: str | None = None
    score: float | None = None
    decision: str | None = None
    threshold: float | None = None
    error_type: str | None = None
    error_message: str | None = None
    shadow: dict[str, Any] | None = None  # the challenger's {model_version, probability, decision}, when it scored
    explanation: dict[str, Any] | None = None
    timings: Timings = field(default_factory=Timings)
    event_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    timestamp: str = field(default_factory=utc_now_iso)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the Elasticsearch document, ``_id`` = ``event_id``)."""
        return asdict(self)

    def to_json(self) -> bytes:
        """Compact JSON bytes (what goes on the Redis Stream).

        orjson serialises the dataclass natively: the same bytes as dumping
        :meth:`to_dict`, without ``asdict``'s deep copy (about ten times faster).
        """
        return orjson.dumps(self, option=orjson.OPT_SERIALIZE_NUMPY)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScoringEvent:
        """Rebuild an event from :meth:`to_dict` output."""
        values = dict(data)
        values["timings"] = Timings(**(values.get("timings") or {}))
        return cls(**values)

    @classmethod
    def from_json(cls, raw: bytes | str) -> ScoringEvent:
        """Rebuild an event from :meth:`to_json` output."""
        return cls.from_dict(orjson.loads(raw))
