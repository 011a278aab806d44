"""Prometheus metrics of the gateway.

Each app owns its registry (tests build many apps in one process). With
several uvicorn workers, set ``PROMETHEUS_MULTIPROC_DIR`` (``python -m gateway``
does it) and ``/metrics`` sums the processes' files.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

LATENCY_BUCKETS = (0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
SCORE_BUCKETS = tuple(round(i / 20, 2) for i in range(1, 21))


def multiprocess_dir() -> str | None:
    """The directory of multi-process metrics, when several workers share the port."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class GatewayMetrics:
    """The counters and histograms the routes and services update."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("gateway_requests", "HTTP requests by route, method and status",
                                ["route", "method", "status"], registry=r)
        self.latency = Histogram("gateway_request_duration_seconds", "HTTP request latency by route",
                                 ["route", "method"], buckets=LATENCY_BUCKETS, registry=r)
        self.scores = Histogram("gateway_score", "probability of default of scored applications",
                                ["path"], buckets=SCORE_BUCKETS, registry=r)
        self.decisions = Counter("gateway_decisions", "scored applications by decision", ["path", "decision"],
                                 registry=r)
        self.errors = Counter("gateway_errors", "failed attempts by kind", ["kind"], registry=r)
        self.jobs = Counter("gateway_jobs_enqueued", "jobs enqueued", ["kind"], registry=r)
        self._latency_children: dict[tuple[str, str], Any] = {}
        self._request_children: dict[tuple[str, str, int], Any] = {}
        self._score_children: dict[str, tuple[Any, Any, Any]] = {}

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one request and its latency (label children cached: this runs on every request)."""
        key = (route, method)
        child = self._latency_children.get(key)
        if child is None:
            child = self._latency_children[key] = self.latency.labels(route, method)
        child.observe(seconds)
        rkey = (route, method, status)
        counter = self._request_children.get(rkey)
        if counter is None:
            counter = self._request_children[rkey] = self.requests.labels(route, method, str(status))
        counter.inc()

    def observe_scores(self, path: str, probabilities: list[float], decisions: list[str]) -> None:
        """Record the scores and decisions of scored applications (label children cached: hot path)."""
        children = self._score_children.get(path)
        if children is None:
            children = self._score_children[path] = (self.scores.labels(path),
                                                     self.decisions.labels(path, "approved"),
                                                     self.decisions.labels(path, "refused"))
        histogram, approved_counter, refused_counter = children
        for p in probabilities:
            histogram.observe(p)
        approved = sum(1 for d in decisions if d == "approved")
        if approved:
            approved_counter.inc(approved)
        if len(decisions) - approved:
            refused_counter.inc(len(decisions) - approved)

    def render(self, gauges: Mapping[str, float | None] | None = None) -> bytes:
        """The exposition text, plus gauges read at scrape time (queue depth, publisher state).

        In multi-process mode the counters and histograms are summed over the
        processes' files; the gauges are this process's view.
        """
        if multiprocess_dir():
            from prometheus_client import multiprocess

            base = CollectorRegistry()
            multiprocess.MultiProcessCollector(base)
        else:
            base = self.registry
        return generate_latest(_WithGauges(base, gauges or {}))  # type: ignore[arg-type]


class _WithGauges:
    """A registry view: the base registry's metrics, then one gauge per entry."""

    def __init__(self, base: CollectorRegistry, gauges: Mapping[str, float | None]) -> None:
        self._base, self._gauges = base, gauges

    def collect(self) -> Iterator[Metric]:
        yield from self._base.collect()
        for name, value in self._gauges.items():
            if value is None:
                continue
            gauge = GaugeMetricFamily(f"gateway_{name}", name.replace("_", " "))
            gauge.add_metric([], float(value))
            yield gauge
