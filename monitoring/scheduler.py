"""Runs the monitoring jobs on their intervals: drift, performance, anomalies, outcome matching, resources,
retention.

A plain loop on a stop event rather than APScheduler: a few fixed-interval
jobs, run one at a time in one thread (a drift run and an anomaly check never
compete for the two cores), with nothing to persist between restarts. A job
that fails is logged and retried at its next turn; it never stops the loop.

``python -m monitoring schedule`` runs it in the foreground (SIGTERM/SIGINT
stop it after the running job); :func:`start_background` runs it in a daemon
thread beside an embedded gateway. With a Redis server, the foreground
scheduler runs its jobs only while it holds the leader lock
(:mod:`monitoring.leader`): two schedulers never run the same job.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitoring.leader import LeaderLock
from monitoring.settings import MonitoringSettings
from shared.store.base import EventStore

logger = logging.getLogger("monitoring.scheduler")


@dataclass
class Job:
    """A function run every ``interval`` seconds; the first run is ``delay`` seconds after start."""

    name: str
    interval: float
    func: Callable[[], Any]
    delay: float = 0.0
    next_run: float = field(default=0.0, init=False)
    runs: int = field(default=0, init=False)
    failures: int = field(default=0, init=False)


def prune_reports(reports_dir: Path, days: int, now: datetime | None = None) -> int:
    """Delete HTML drift reports older than ``days``; returns how many."""
    cutoff = ((now or datetime.now(UTC)) - timedelta(days=days)).timestamp()
    removed = 0
    for path in Path(reports_dir).glob("drift-*.html"):
        if path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


class Scheduler:
    """Runs jobs until :meth:`stop`.

    Args:
        jobs: the jobs; see :func:`default_jobs` for the monitoring ones.
        clock: monotonic clock (tests pass a fake one).
        lock: when given, jobs run only while this scheduler holds it; a job
            another scheduler started less than its interval ago is not run again.
    """

    def __init__(self, jobs: list[Job], clock: Callable[[], float] = time.monotonic,
                 lock: LeaderLock | None = None) -> None:
        self.jobs = jobs
        self.clock = clock
        self.lock = lock
        self.stop_event = threading.Event()

    def _standby(self) -> float:
        """Seconds a scheduler without the lock waits before trying again."""
        assert self.lock is not None
        return max(0.1, self.lock.ttl_ms / 3000)

    def _ran_elsewhere(self, job: Job) -> bool:
        """True (and ``job.next_run`` moved) when a scheduler started ``job`` less than its interval ago."""
        assert self.lock is not None
        last = self.lock.last_run(job.name)
        if last is None:
            return False
        since = time.time() - last
        if since >= job.interval:
            return False
        job.next_run = self.clock() + job.interval - since
        return True

    def run_pending(self) -> float:
        """Run the jobs that are due; returns seconds until the next one is due."""
        if self.lock is not None and not self.lock.hold():
            return self._standby()
        for job in self.jobs:
            if self.stop_event.is_set():
                break
            if self.clock() >= job.next_run:
                if self.lock is not None:
                    if self._ran_elsewhere(job):
                        continue
                    if not self.lock.hold():  # lost during the previous job: the other leader goes on
                        return self._standby()
                    self.lock.record_run(job.name)
                started = self.clock()
                try:
                    job.func()
                except Exception:  # a failed job is logged and retried next turn; the loop goes on
                    job.failures += 1
                    logger.exception("job %s failed", job.name, extra={"event": "job_failed", "job": job.name})
                job.runs += 1
                job.next_run = started + job.interval
        if not self.jobs:
            return 60.0
        return max(0.0, min(job.next_run for job in self.jobs) - self.clock())

    def run(self) -> None:
        """Loop until :meth:`stop` is called."""
        start = self.clock()
        for job in self.jobs:
            job.next_run = start + job.delay
        logger.info("scheduler started", extra={"event": "scheduler_started",
                                                "jobs": {j.name: j.interval for j in self.jobs}})
        try:
            while not self.stop_event.is_set():
                self.stop_event.wait(min(self.run_pending(), 60.0))
        finally:
            if self.lock is not None:
                self.lock.release()
        logger.info("scheduler stopped", extra={"event": "scheduler_stopped"})

    def stop(self) -> None:
        """Ask the loop to end (after the running job)."""
        self.stop_event.set()


def default_jobs(settings: MonitoringSettings, store: EventStore, queue_connection: Any = None) -> list[Job]:
    """The drift, performance, anomaly, outcome-matching, resource-sampling and retention jobs against one store."""
    from monitoring.anomalies import AnomalyDetector
    from monitoring.drift.run import DriftJob
    from monitoring.notify import AlertRouter
    from monitoring.performance.run import PerformanceJob
    from monitoring.queue_probe import QueueProbe
    from monitoring.resources import SAMPLE_INTERVAL_S, sampler_from_settings
    from shared.outcomes import resolve_pending

    router = AlertRouter.from_settings(settings)  # None without ALERT_WEBHOOK_URL: alerts are stored and logged
    drift = DriftJob(settings, store, router=router)
    performance = PerformanceJob(settings, store)
    detector = AnomalyDetector(settings, store, QueueProbe.from_settings(settings, queue_connection), router)

    def retention() -> None:
        dropped = store.apply_retention(settings.retention_days)
        pruned = prune_reports(Path(settings.reports_dir), settings.retention_days)
        logger.info("retention done", extra={"event": "retention", "days_dropped": dropped,
                                             "reports_pruned": pruned, "retention_days": settings.retention_days})

    resources = sampler_from_settings(settings, store)
    return [
        Job("anomalies", settings.anomaly_interval_seconds, detector.run, delay=5.0),
        # CPU, memory and fds of every service process, the host, Redis and Elasticsearch
        Job("resources", SAMPLE_INTERVAL_S, resources.run, delay=10.0),
        # the first drift run waits a little: at start-up the store may still be filling
        Job("drift", settings.drift_interval_seconds, drift.run, delay=min(60.0, settings.drift_interval_seconds)),
        Job("retention", settings.retention_interval_seconds, retention, delay=30.0),
        # outcomes sent before their event was indexed: matched within OUTCOME_RETRY_SECONDS, else kept unmatched
        Job("outcomes", settings.outcomes_interval_seconds,
            lambda: resolve_pending(store, retry_seconds=settings.outcome_retry_seconds), delay=2.0),
        Job("performance", settings.performance_interval_seconds, performance.run,
            delay=min(90.0, settings.performance_interval_seconds)),
    ]


@dataclass
class BackgroundHandle:
    """A scheduler running in a daemon thread."""

    scheduler: Scheduler
    thread: threading.Thread

    def stop(self, timeout: float | None = 30.0) -> None:
        """Stop the loop and wait for the thread (up to ``timeout`` seconds)."""
        self.scheduler.stop()
        self.thread.join(timeout)

    @property
    def alive(self) -> bool:
        """True while the thread runs."""
        return self.thread.is_alive()


def start_background(settings: MonitoringSettings, store: EventStore | None = None,
                     queue_connection: Any = None) -> BackgroundHandle:
    """Start the monitoring jobs in a daemon thread (embedded mode).

    Args:
        settings: monitoring settings.
        store: the store to use (default: ``make_store(settings)``, set up here).
        queue_connection: a Redis-compatible client holding the RQ queues (for example the
            embedded gateway's fakeredis); default: ``REDIS_URL``, or no queue checks.

    Returns:
        A handle whose ``stop()`` ends the thread.
    """
    if store is None:
        from shared.store.factory import make_store

        store = make_store(settings)
        store.setup()
    scheduler = Scheduler([])

    def _run() -> None:
        # built in the thread: importing Evidently takes seconds, the caller's start-up need not wait
        scheduler.jobs = default_jobs(settings, store, queue_connection)
        scheduler.run()

    thread = threading.Thread(target=_run, name="monitoring-scheduler", daemon=True)
    thread.start()
    return BackgroundHandle(scheduler, thread)


def leader_lock(settings: MonitoringSettings) -> LeaderLock | None:
    """The scheduler's leader lock on the configured Redis (None in embedded mode: one process)."""
    if not settings.redis_url:
        return None
    import socket

    from shared.redis_client import make_redis

    redis = make_redis(settings, socket_timeout=5, socket_connect_timeout=5)
    return LeaderLock(redis, f"{settings.es_index_prefix}:monitoring:scheduler-lock", name=socket.gethostname())


def run_forever(settings: MonitoringSettings) -> None:
    """Foreground scheduler until SIGTERM or SIGINT (the jobs run while it holds the leader lock)."""
    from shared.store.factory import make_store

    store = make_store(settings)
    store.setup()
    scheduler = Scheduler(default_jobs(settings, store), lock=leader_lock(settings))

    def _stop(signum: int, _frame: Any) -> None:
        logger.info("signal %s: stopping after the running job", signum, extra={"event": "signal"})
        scheduler.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        scheduler.run()
    finally:
        store.close()
