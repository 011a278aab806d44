"""Queue depth and age of the oldest waiting job, read from Redis.

RQ keeps a queue as the Redis list ``rq:queue:<name>`` (job ids, oldest at the
head: RQ appends with RPUSH) and each job as the hash ``rq:job:<id>`` whose
``enqueued_at`` field is UTC ``%Y-%m-%dT%H:%M:%S.%fZ`` (``rq`` is
``RQ_KEY_PREFIX``). Reading those two keys directly keeps ``rq`` out of the
monitoring image; the unit test enqueues with the real ``rq`` 3.0 to pin the
layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import RedisError

from monitoring.exceptions import QueueProbeError


@dataclass(frozen=True)
class QueueStats:
    """One queue's backlog."""

    name: str
    depth: int
    oldest_age_s: float | None  # None when the queue is empty


def _parse(value: Any) -> datetime | None:
    if not value:
        return None
    text = value.decode() if isinstance(value, bytes) else str(value)
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


class QueueProbe:
    """Measures RQ queues through any redis-py compatible client (redis or fakeredis).

    Args:
        connection: the client.
        queue_names: the queues to measure.
        prefix: namespace of RQ's keys (``RQ_KEY_PREFIX``).
    """

    def __init__(self, connection: Any, queue_names: Sequence[str], prefix: str = "rq") -> None:
        self.connection = connection
        self.queue_names = list(queue_names)
        self.prefix = prefix

    @classmethod
    def from_settings(cls, settings: Any, connection: Any = None) -> QueueProbe | None:
        """A probe on ``connection``, or on ``REDIS_URL``; None in embedded mode without a connection."""
        if connection is None:
            if not settings.redis_url:
                return None
            import redis

            connection = redis.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
        return cls(connection, settings.queue_names(), settings.rq_key_prefix)

    def measure(self, now: datetime | None = None) -> list[QueueStats]:
        """Depth and oldest-job age of every watched queue.

        Raises:
            QueueProbeError: Redis could not be read.
        """
        now = now or datetime.now(UTC)
        try:
            return [self._measure_one(name, now) for name in self.queue_names]
        except RedisError as exc:
            raise QueueProbeError(f"queues not readable from Redis: {exc}") from exc

    def _measure_one(self, name: str, now: datetime) -> QueueStats:
        key = f"{self.prefix}:queue:{name}"
        depth = int(self.connection.llen(key))
        age = None
        if depth:
            head = self.connection.lindex(key, 0)
            if head is not None:
                job_id = head.decode() if isinstance(head, bytes) else str(head)
                enqueued = _parse(self.connection.hget(f"{self.prefix}:job:{job_id}", "enqueued_at"))
                age = max(0.0, (now - enqueued).total_seconds()) if enqueued else None
        return QueueStats(name=name, depth=depth, oldest_age_s=age)

