"""Erasure and access on request (GDPR art. 17 and 15): ``python -m monitoring forget`` / ``export``.

The client id is taken in clear, turned at once into a :class:`ClientMatcher`
(its pseudonym, and a matcher for text stored before pseudonymisation), and
never stored, logged or printed. What is searched:

- the store (Elasticsearch or SQLite): every collection of
  :data:`shared.store.personal.PERSONAL_DATA` (events, outcomes, reports,
  alerts, ...), through :meth:`EventStore.find_client` / ``forget_client``;
- Redis, when ``REDIS_URL`` is set: the dead-letter stream (copies of events
  the store refused), RQ's job hashes and results (which hold the clear id
  until their TTL), and the events stream (events not stored yet: counted and
  exported, not deleted, since the indexer would count a removed entry as a
  lost event; they reach the store within seconds, and a second ``forget``
  removes them there).

``forget`` writes one audit record (when, how many, never who) to the audit
index; so does ``export``. Without ``yes``, ``forget`` counts and deletes nothing.
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from monitoring.settings import MonitoringSettings
from shared.event import utc_now_iso
from shared.pseudonym import ClientMatcher
from shared.store.base import EventStore
from shared.store.factory import describe

DEAD_SUFFIX = ":dead"
_PAGE = 1_000
_DONE_STATUSES = {b"finished", b"failed", b"stopped", b"canceled"}
_REGISTRIES = ("finished", "failed", "canceled")


@dataclass
class RedisFindings:
    """Copies of one client's data found in Redis."""

    stream: list[tuple[bytes, dict[str, Any]]] = field(default_factory=list)  # waiting for the indexer
    dead_letters: list[tuple[bytes, dict[str, Any]]] = field(default_factory=list)
    jobs_done: list[str] = field(default_factory=list)  # finished or failed: deletable
    jobs_pending: list[str] = field(default_factory=list)  # queued or running: left to finish


def _entries(redis: Any, stream: str) -> Iterator[tuple[bytes, dict[bytes, bytes]]]:
    start = "-"
    while True:
        page = redis.xrange(stream, min=start, max="+", count=_PAGE)
        yield from page
        if len(page) < _PAGE:
            return
        start = "(" + (page[-1][0].decode() if isinstance(page[-1][0], bytes) else page[-1][0])


def _event_of(fields: dict[bytes, bytes]) -> dict[str, Any]:
    raw = fields.get(b"event")
    try:
        parsed = orjson.loads(raw) if raw is not None else None
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict):
        return parsed
    return {"entry": {k.decode(errors="replace"): v.decode(errors="replace") for k, v in fields.items()}}


def _about(matcher: ClientMatcher, fields: dict[bytes, bytes]) -> bool:
    return any(matcher.in_text(value.decode("utf-8", "replace")) for value in fields.values())


def find_in_redis(redis: Any, settings: MonitoringSettings, matcher: ClientMatcher) -> RedisFindings:
    """Every copy of the client's data in the events stream, its dead letters and RQ's jobs."""
    found = RedisFindings()
    for stream, bucket in ((settings.events_stream, found.stream),
                           (settings.events_stream + DEAD_SUFFIX, found.dead_letters)):
        for entry_id, fields in _entries(redis, stream):
            if _about(matcher, fields):
                bucket.append((entry_id, _event_of(fields)))
    prefix = settings.rq_key_prefix
    head = f"{prefix}:job:"
    for key in redis.scan_iter(match=head + "*", count=_PAGE):
        name = key.decode() if isinstance(key, bytes) else key
        job_id = name[len(head):]
        if ":" in job_id:  # rq:job:ID:dependents and the like: not a job hash
            continue
        data, status, exc = redis.hmget(name, ["data", "status", "exc_info"])
        texts = [_inflate(data), _inflate(exc)]
        texts += [_inflate(fields.get(b"exc_string")) for _, fields in _entries(redis, f"{prefix}:results:{job_id}")]
        if not any(matcher.in_text(text) for text in texts):
            continue
        (found.jobs_done if status in _DONE_STATUSES else found.jobs_pending).append(job_id)
    return found


def _inflate(value: bytes | None) -> str:
    if not value:
        return ""
    try:
        value = zlib.decompress(value)
    except zlib.error:
        pass
    return value.decode("utf-8", "replace")


def delete_in_redis(redis: Any, settings: MonitoringSettings, found: RedisFindings) -> dict[str, int]:
    """Delete the dead letters and finished jobs found; the stream and running jobs are left (see the module)."""
    prefix = settings.rq_key_prefix
    if found.dead_letters:
        redis.xdel(settings.events_stream + DEAD_SUFFIX, *[entry_id for entry_id, _ in found.dead_letters])
    for job_id in found.jobs_done:
        pipe = redis.pipeline(transaction=False)
        pipe.delete(f"{prefix}:job:{job_id}", f"{prefix}:results:{job_id}")
        for queue in settings.queue_names():
            for registry in _REGISTRIES:
                pipe.zrem(f"{prefix}:{registry}:{queue}", job_id)
        pipe.execute()
    return {"dead_letters": len(found.dead_letters), "jobs": len(found.jobs_done)}


@dataclass
class Erasure:
    """Erasure and access for one store (and Redis, when there is one).

    Args:
        settings: the monitoring settings (key, stream and RQ names).
        store: the set-up event store.
        redis: a Redis client, or None (embedded mode: the queue and stream live in the gateway).
    """

    settings: MonitoringSettings
    store: EventStore
    redis: Any = None

    def matcher(self, client_id: str) -> ClientMatcher:
        """The client's matcher (its pseudonym; the clear id stays inside it)."""
        return ClientMatcher.for_client(client_id, self.settings.pseudonymisation_key)

    def forget(self, client_id: str, *, yes: bool) -> dict[str, Any]:
        """Delete (``yes``) or count (not ``yes``) everything stored about one client.

        Returns:
            ``deleted`` (or ``would_delete``): counts per collection and Redis store; ``left``: copies not
            deleted on purpose (events waiting in the stream, jobs still queued or running); ``total``.
        """
        matcher = self.matcher(client_id)
        counts = self.store.forget_client(matcher, dry_run=not yes)
        left: dict[str, int] = {}
        if self.redis is not None:
            found = find_in_redis(self.redis, self.settings, matcher)
            if yes:
                counts.update(delete_in_redis(self.redis, self.settings, found))
            else:
                counts.update(dead_letters=len(found.dead_letters), jobs=len(found.jobs_done))
            left = {"stream": len(found.stream), "jobs_running": len(found.jobs_pending)}
        total = sum(counts.values())
        answer: dict[str, Any] = {"deleted" if yes else "would_delete": counts, "left": left, "total": total}
        if yes:
            answer["audit_id"] = self._audit("forget", counts, total)
        return answer

    def export(self, client_id: str) -> dict[str, Any]:
        """Everything stored about one client, as one JSON-ready object."""
        matcher = self.matcher(client_id)
        stored = self.store.find_client(matcher)
        redis: dict[str, Any] = {}
        if self.redis is not None:
            found = find_in_redis(self.redis, self.settings, matcher)
            redis = {"stream": [event for _, event in found.stream],
                     "dead_letters": [event for _, event in found.dead_letters],
                     "jobs": sorted(found.jobs_done + found.jobs_pending)}
        total = sum(len(docs) for docs in stored.values()) + sum(len(v) for v in redis.values())
        self._audit("export", {name: len(docs) for name, docs in stored.items()}, total)
        return {"client_ref": matcher.ref, "store": describe(self.store), "stored": stored, "redis": redis,
                "total": total}

    def _audit(self, action: str, counts: dict[str, int], total: int) -> str:
        """One audit record: when, what, how many; never the client id nor its pseudonym."""
        return self.store.save_audit({"audit_id": uuid.uuid4().hex, "timestamp": utc_now_iso(), "action": action,
                                      "counts": counts, "total": total, "kind": action})
