"""Queue depth and age of the oldest waiting job: from Redis, or from the gateway's ``/metrics``.

RQ keeps a queue as the Redis list ``rq:queue:<name>`` (job ids, oldest at the
head: RQ appends with RPUSH) and each job as the hash ``rq:job:<id>`` whose
``enqueued_at`` field is UTC ``%Y-%m-%dT%H:%M:%S.%fZ`` (``rq`` is
``RQ_KEY_PREFIX``). Reading those two keys directly keeps ``rq`` out of the
monitoring image; the unit test enqueues with the real ``rq`` 3.0 to pin the
layout.

In embedded mode the queue is a fakeredis inside the gateway process, out of
reach of the scheduler's process; the gateway publishes its depth and oldest-job
age on ``/metrics`` (``gateway_queue_depth``, ``gateway_queue_oldest_age_seconds``),
which :class:`GatewayMetricsProbe` reads.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from redis.exceptions import RedisError

from monitoring.exceptions import QueueProbeError

METRICS_TIMEOUT_S = 5.0
DEPTH_GAUGE = "gateway_queue_depth"
AGE_GAUGE = "gateway_queue_oldest_age_seconds"


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
    def from_settings(cls, settings: Any, connection: Any = None) -> QueueProbe | GatewayMetricsProbe | None:
        """The probe the settings allow, or None when the queue cannot be measured.

        ``connection`` first, then ``REDIS_URL``, then (embedded mode) ``GATEWAY_METRICS_URL``.
        """
        if connection is None and not settings.redis_url:
            if settings.gateway_metrics_url:
                return GatewayMetricsProbe(settings.gateway_metrics_url, settings.queue_name)
            return None
        if connection is None:
            from shared.redis_client import make_redis

            connection = make_redis(settings, socket_timeout=5, socket_connect_timeout=5)
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


class GatewayMetricsProbe:
    """Reads the backlog of the gateway's own queue from its Prometheus ``/metrics`` (embedded mode).

    Args:
        url: the gateway's ``/metrics`` URL (not behind the API key).
        queue_name: the name its figures are reported under: the gateway's queue (``QUEUE_NAME``).
        timeout: seconds to wait for the answer.
    """

    def __init__(self, url: str, queue_name: str, timeout: float = METRICS_TIMEOUT_S) -> None:
        self.url = url
        self.queue_name = queue_name
        self.timeout = timeout

    def measure(self, now: datetime | None = None) -> list[QueueStats]:
        """The gateway's queue now (``now`` is unused: the gateway measures the age itself).

        Returns:
            One :class:`QueueStats`, or none when the gateway publishes no queue (no model loaded).

        Raises:
            QueueProbeError: the gateway did not answer, or answered something else than metrics.
        """
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout) as response:
                text = response.read().decode("utf-8", "replace")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise QueueProbeError(f"gateway metrics not readable at {self.url}: {exc}") from exc
        try:
            gauges = parse_gauges(text, (DEPTH_GAUGE, AGE_GAUGE))
        except ValueError as exc:
            raise QueueProbeError(f"no Prometheus metrics at {self.url}: {exc}") from exc
        if DEPTH_GAUGE not in gauges:
            return []
        depth = int(gauges[DEPTH_GAUGE])
        age = gauges.get(AGE_GAUGE) if depth else None
        return [QueueStats(name=self.queue_name, depth=depth, oldest_age_s=age)]


def parse_gauges(text: str, names: Sequence[str]) -> dict[str, float]:
    """The values of unlabelled metrics ``names`` in a Prometheus exposition text.

    Raises:
        ValueError: the text is not in the Prometheus exposition format.
    """
    wanted = set(names)
    return {sample.name: sample.value for family in text_string_to_metric_families(text)
            for sample in family.samples if sample.name in wanted and not sample.labels}
