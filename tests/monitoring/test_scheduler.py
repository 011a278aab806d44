"""The scheduler loop: intervals, failures, background thread, retention of HTML reports."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitoring.scheduler import Job, Scheduler, default_jobs, prune_reports, start_background
from monitoring.settings import MonitoringSettings
from shared.store.sqlite import SQLiteEventStore


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_jobs_run_on_their_intervals_and_failures_do_not_stop_the_loop() -> None:
    clock = FakeClock()
    calls: list[str] = []

    def boom() -> None:
        calls.append("boom")
        raise RuntimeError("job failed")

    fast = Job("fast", 10, lambda: calls.append("fast"))
    slow = Job("slow", 25, boom, delay=5)
    scheduler = Scheduler([fast, slow], clock=clock)
    fast.next_run, slow.next_run = 0, 5
    for t in range(0, 51):
        clock.now = float(t)
        scheduler.run_pending()
    assert fast.runs == 6  # t = 0, 10, 20, 30, 40, 50
    assert slow.runs == 2 and slow.failures == 2  # t = 5, 30
    assert calls.count("boom") == 2
    clock.now = 50.0
    assert scheduler.run_pending() == 5.0  # fast is next, at 60; slow at 55


def test_background_thread_runs_and_stops(settings: MonitoringSettings, store: SQLiteEventStore) -> None:
    fast = settings.model_copy(update={"anomaly_interval_seconds": 5})
    handle = start_background(fast, store=store)
    try:
        assert handle.alive
        deadline = time.monotonic() + 60
        while not handle.scheduler.jobs and time.monotonic() < deadline:
            time.sleep(0.05)
        jobs = {job.name: job for job in handle.scheduler.jobs}
        assert set(jobs) == {"anomalies", "drift", "retention", "outcomes", "performance", "resources"}
        assert jobs["drift"].interval == fast.drift_interval_seconds
    finally:
        started = time.monotonic()
        handle.stop(timeout=10)
    assert not handle.alive and time.monotonic() - started < 10


def test_default_jobs_do_their_work(settings: MonitoringSettings, store: SQLiteEventStore) -> None:
    jobs = {job.name: job for job in default_jobs(settings, store)}
    jobs["anomalies"].func()
    jobs["retention"].func()
    jobs["drift"].func()  # empty store: a "not enough data" report, no crash
    assert store.list_reports()[0]["status"] == "not_enough_data"
    jobs["outcomes"].func()  # nothing waiting
    jobs["performance"].func()  # empty store: a report with nothing scored, no crash
    assert store.list_performance_reports()[0]["n_scored"] == 0
    jobs["resources"].func()  # no shared gauge folder, no servers: this process and the host
    kinds = {(s["kind"], s.get("service")) for s in store.list_resources()}
    assert kinds == {("process", "scheduler"), ("host", None)}


def test_prune_reports_keeps_recent_ones(tmp_path: Path) -> None:
    old, new, other = tmp_path / "drift-old.html", tmp_path / "drift-new.html", tmp_path / "notes.html"
    for path in (old, new, other):
        path.write_text("x")
    ten_days_ago = (datetime.now(UTC) - timedelta(days=10)).timestamp()
    os.utime(old, (ten_days_ago, ten_days_ago))
    os.utime(other, (ten_days_ago, ten_days_ago))
    assert prune_reports(tmp_path, days=7) == 1
    assert not old.exists() and new.exists() and other.exists()
