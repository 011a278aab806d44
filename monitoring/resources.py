"""The resource sampler: every service process, the host, Redis and Elasticsearch, once a minute, into the store.

Where the per-process figures come from:

- with ``PROMETHEUS_MULTIPROC_DIR`` shared by the services (``make stack`` sets
  one for all of them), each process's own ``process_*`` gauges
  (:mod:`shared.resources`, ``liveall`` mode) are read from that directory, one
  sample per live process with its ``service`` and ``pid``;
- without it (compose, where each container has its own process namespace, or the
  Space), this process is sampled itself, as service ``scheduler``.

Redis comes from ``INFO`` (memory, clients, commands per second, CPU seconds),
Elasticsearch from ``GET _nodes/stats/jvm,os,process,fs`` (JVM heap, CPU, disk)
per node. Each figure is a document of ``scoring-resources`` (a SQLite table in
embedded mode); the dashboard's Resources page and :mod:`monitoring.resource_rules`
read them back.
"""

from __future__ import annotations

import logging
import os
import socket
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psutil

from shared.resources import PROCESS_GAUGES, ProcessSampler, host_sample, multiprocess_dir
from shared.store.base import EventStore

logger = logging.getLogger("monitoring.resources")

SAMPLE_INTERVAL_S = 60.0
_FIELDS = {"process_cpu_percent": "cpu_percent", "process_resident_memory_bytes": "rss_bytes",
           "process_open_fds": "open_fds"}


def processes_from_multiprocess_dir(path: str,
                                    alive: Callable[[int], bool] = psutil.pid_exists) -> list[dict[str, Any]]:
    """One sample per live process from the ``liveall`` gauge files in ``path``."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=path)
    found: dict[tuple[str, int], dict[str, Any]] = defaultdict(dict)
    for metric in registry.collect():
        if metric.name not in PROCESS_GAUGES:
            continue
        for sample in metric.samples:
            service, pid = sample.labels.get("service"), sample.labels.get("pid")
            if not service or not pid or not pid.isdigit():
                continue
            found[(service, int(pid))][_FIELDS[metric.name]] = sample.value
    out = []
    for (service, pid), figures in sorted(found.items()):
        if alive(pid):  # a process killed without its exit hook leaves its file behind
            out.append({"service": service, "pid": pid, **figures})
    return out


def redis_sample(client: Any) -> dict[str, Any]:
    """Memory, clients, commands per second and CPU seconds of a Redis server (``INFO``)."""
    info = client.info()
    return {
        "used_memory_bytes": int(info.get("used_memory", 0)),
        "used_memory_rss_bytes": int(info.get("used_memory_rss", 0)),
        "maxmemory_bytes": int(info.get("maxmemory", 0)) or None,
        "connected_clients": int(info.get("connected_clients", 0)),
        "ops_per_sec": int(info.get("instantaneous_ops_per_sec", 0)),
        "cpu_seconds": round(float(info.get("used_cpu_sys", 0)) + float(info.get("used_cpu_user", 0)), 2),
    }


def elasticsearch_samples(client: Any) -> list[dict[str, Any]]:
    """JVM heap, CPU and disk of each Elasticsearch node (``_nodes/stats``)."""
    body = client.nodes.stats(metric="jvm,os,process,fs").body
    out = []
    for node_id, node in sorted(body.get("nodes", {}).items()):
        heap = node.get("jvm", {}).get("mem", {})
        disk = node.get("fs", {}).get("total", {})
        total, available = disk.get("total_in_bytes"), disk.get("available_in_bytes")
        out.append({
            "node": node.get("name", node_id),
            "heap_used_bytes": heap.get("heap_used_in_bytes"),
            "heap_max_bytes": heap.get("heap_max_in_bytes"),
            "heap_percent": heap.get("heap_used_percent"),
            "process_cpu_percent": node.get("process", {}).get("cpu", {}).get("percent"),
            "os_cpu_percent": node.get("os", {}).get("cpu", {}).get("percent"),
            "disk_total_bytes": total,
            "disk_available_bytes": available,
            "disk_used_percent": round(100.0 * (total - available) / total, 2) if total and available is not None
            else None,
        })
    return out


class ResourceSampler:
    """Collects one round of samples and stores them.

    Args:
        store: where the samples go (``save_resources``).
        redis: a Redis client (None: no Redis figures).
        elasticsearch: an Elasticsearch client (None: no Elasticsearch figures).
        multiproc_dir: the shared gauge directory (default: ``PROMETHEUS_MULTIPROC_DIR``).
        service: the name of this process's samples when there is no shared directory.
    """

    def __init__(self, store: EventStore, redis: Any = None, elasticsearch: Any = None,
                 multiproc_dir: str | None = None, service: str = "scheduler") -> None:
        self.store = store
        self.redis = redis
        self.elasticsearch = elasticsearch
        self.multiproc_dir = multiproc_dir if multiproc_dir is not None else multiprocess_dir()
        self.host = socket.gethostname()
        self._self = ProcessSampler(service)
        host_sample()  # starts the host CPU interval

    def collect(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """One round of samples (documents ready for ``save_resources``)."""
        moment = (now or datetime.now(UTC)).replace(microsecond=0)
        stamp = moment.isoformat().replace("+00:00", "Z")
        key = f"{moment:%Y%m%dT%H%M%S}"

        def doc(kind: str, name: str, figures: dict[str, Any]) -> dict[str, Any]:
            return {"sample_id": f"{key}-{self.host}-{kind}-{name}", "timestamp": stamp, "kind": kind,
                    "host": self.host, **figures}

        if self.multiproc_dir and os.path.isdir(self.multiproc_dir):
            processes = processes_from_multiprocess_dir(self.multiproc_dir)
        else:
            processes = [self._self.sample()]
        docs = [doc("process", f"{p['service']}-{p['pid']}", p) for p in processes]
        docs.append(doc("host", "host", host_sample()))
        if self.redis is not None:
            try:
                docs.append(doc("redis", "redis", redis_sample(self.redis)))
            except Exception as exc:  # a server down is a gap in the chart, not a failed job
                logger.warning("redis INFO failed: %s", exc, extra={"event": "resources_redis_failed"})
        if self.elasticsearch is not None:
            try:
                docs += [doc("elasticsearch", n["node"], n) for n in elasticsearch_samples(self.elasticsearch)]
            except Exception as exc:
                logger.warning("elasticsearch _nodes/stats failed: %s", exc, extra={"event": "resources_es_failed"})
        return docs

    def run(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Collect, store, and check the resource rules; returns the stored samples."""
        from monitoring.resource_rules import ResourceRules

        docs = self.collect(now)
        self.store.save_resources(docs)
        ResourceRules(self.store).run(docs, now)
        logger.info("resources sampled", extra={"event": "resources_sampled", "samples": len(docs)})
        return docs


def sampler_from_settings(settings: Any, store: EventStore, redis: Any = None) -> ResourceSampler:
    """The sampler of the scheduler process for the configured servers (``REDIS_URL``, ``ELASTICSEARCH_URL``)."""
    if redis is None and getattr(settings, "redis_url", None):
        from redis import Redis

        redis = Redis.from_url(settings.redis_url, socket_timeout=5)
    elasticsearch = getattr(store, "client", None) if getattr(settings, "elasticsearch_url", None) else None
    return ResourceSampler(store, redis=redis, elasticsearch=elasticsearch, service="scheduler")
