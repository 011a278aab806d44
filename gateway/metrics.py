"""Prometheus metrics of the gateway.

Each app owns its registry (tests build many apps in one process). With
several uvicorn workers, set ``PROMETHEUS_MULTIPROC_DIR`` (``python -m gateway``
does it) and ``/metrics`` sums the processes' files.

The per-request figures (requests, latency, scores, decisions) are first
added to plain Python lists on the event loop, with no lock and no file (a
figure recorded from another thread goes straight to prometheus_client): in
multi-process mode every ``prometheus_client`` update takes a lock and writes
an mmap'd file, six times a request. The lists are folded into the
Prometheus metrics at most ``FLUSH_INTERVAL_S`` after the first figure of an
interval (a timer on the event loop) and before every scrape of this process:
``/metrics`` is exact for its own process and at most that interval behind
for the other workers.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from bisect import bisect_left
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

LATENCY_BUCKETS = (0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
SCORE_BUCKETS = tuple(round(i / 20, 2) for i in range(1, 21))
FLUSH_INTERVAL_S = 1.0


def _fold_histogram(child: Any, pending: list[float]) -> None:
    """Add ``pending`` ([sum, count in bucket 0, bucket 1, ..., +Inf]) to a histogram child.

    The same updates as one ``observe`` per value: the sum, and each value counted once in the
    first bucket whose bound it does not exceed (``prometheus_client`` keeps the buckets
    non-cumulative and sums them when collected).
    """
    child._sum.inc(pending[0])
    for bucket, count in zip(child._buckets, pending[1:], strict=True):
        if count:
            bucket.inc(count)


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
        # Pending figures, folded in by flush(): requests per (route, method, status); latency per
        # (route, method) as [sum, bucket counts...]; per path [score sum, buckets..., approved, refused].
        self._requests: dict[tuple[str, str, int], int] = {}
        self._latency: dict[tuple[str, str], list[float]] = {}
        self._scores: dict[str, list[float]] = {}
        self._flush_due = 0.0  # when the scheduled flush should have run; 0: none scheduled
        self._flush_thread = 0  # the thread of the event loop that runs the scheduled flush

    def _on_flushing_loop(self) -> bool:
        """True on the thread of the loop whose flush is scheduled and not overdue: the figure goes to the lists.

        Cheaper than ``asyncio.get_running_loop()`` (a ``getpid`` system call each time on Python 3.11).
        """
        return self._flush_due >= time.monotonic() and threading.get_ident() == self._flush_thread

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one request and its latency (on the event loop: no lock, no file; see the module docstring)."""
        loop = None
        if not self._on_flushing_loop():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # another thread (or no loop): straight into prometheus_client, which locks
                self.requests.labels(route, method, str(status)).inc()
                self.latency.labels(route, method).observe(seconds)
                return
        key = (route, method, status)
        self._requests[key] = self._requests.get(key, 0) + 1
        pending = self._latency.get((route, method))
        if pending is None:
            pending = self._latency[(route, method)] = [0.0] * (len(LATENCY_BUCKETS) + 2)
        pending[0] += seconds
        pending[bisect_left(LATENCY_BUCKETS, seconds) + 1] += 1
        if loop is not None and self._flush_due < time.monotonic():  # none scheduled, or its loop is gone
            self._schedule_flush(loop)

    def observe_scores(self, path: str, probabilities: list[float], decisions: list[str]) -> None:
        """Record the scores and decisions of scored applications (like :meth:`observe_request`; a big batch
        scored in a worker thread records them straight into prometheus_client)."""
        approved = sum(1 for d in decisions if d == "approved")
        loop = None
        if not self._on_flushing_loop():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                histogram = self.scores.labels(path)
                for p in probabilities:
                    histogram.observe(p)
                if approved:
                    self.decisions.labels(path, "approved").inc(approved)
                if len(decisions) - approved:
                    self.decisions.labels(path, "refused").inc(len(decisions) - approved)
                return
        pending = self._scores.get(path)
        if pending is None:
            pending = self._scores[path] = [0.0] * (len(SCORE_BUCKETS) + 4)
        for p in probabilities:
            pending[0] += p
            pending[bisect_left(SCORE_BUCKETS, p) + 1] += 1
        pending[-2] += approved
        pending[-1] += len(decisions) - approved
        if loop is not None and self._flush_due < time.monotonic():
            self._schedule_flush(loop)

    def _schedule_flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._flush_due = time.monotonic() + 2 * FLUSH_INTERVAL_S
        self._flush_thread = threading.get_ident()
        loop.call_later(FLUSH_INTERVAL_S, self.flush)

    def flush(self) -> None:
        """Fold the pending figures into the Prometheus metrics (and their files in multi-process mode).

        Runs on the event loop that recorded them (its timer, or the ``/metrics`` route).
        """
        self._flush_due = 0.0  # when the scheduled flush should have run; 0: none scheduled
        requests, self._requests = self._requests, {}
        latency, self._latency = self._latency, {}
        scores, self._scores = self._scores, {}
        for (route, method, status), count in requests.items():
            self.requests.labels(route, method, str(status)).inc(count)
        for (route, method), pending in latency.items():
            _fold_histogram(self.latency.labels(route, method), pending)
        for path, pending in scores.items():
            _fold_histogram(self.scores.labels(path), pending[:-2])
            if pending[-2]:
                self.decisions.labels(path, "approved").inc(pending[-2])
            if pending[-1]:
                self.decisions.labels(path, "refused").inc(pending[-1])

    def render(self, gauges: Mapping[str, float | None] | None = None) -> bytes:
        """The exposition text, plus gauges read at scrape time (queue depth, publisher state).

        In multi-process mode the counters and histograms are summed over the
        processes' files; the gauges are this process's view.
        """
        self.flush()
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
