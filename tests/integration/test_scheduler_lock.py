"""Two monitoring schedulers on one real Redis: only the lock holder runs jobs, the other takes over."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis as redis_lib

from monitoring.leader import LeaderLock
from monitoring.scheduler import Job, Scheduler
from tests.utils.servers import require_redis
from tests.utils.waiting import wait_until

pytestmark = pytest.mark.integration


class Recorder:
    """The runs of every scheduler: (scheduler, job, start, end), appended under a lock."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, str, float, float]] = []
        self._lock = threading.Lock()

    def job(self, scheduler: str, name: str, interval: float) -> Job:
        def run() -> None:
            start = time.monotonic()
            time.sleep(0.02)  # long enough for a second runner to overlap, were there one
            with self._lock:
                self.runs.append((scheduler, name, start, time.monotonic()))

        return Job(name, interval, run)

    def by(self, scheduler: str) -> list[tuple[str, str, float, float]]:
        with self._lock:
            return [run for run in self.runs if run[0] == scheduler]


@pytest.fixture
def lock_key() -> Iterator[str]:
    key = f"test:scheduler-lock:{uuid.uuid4().hex[:8]}"
    yield key
    redis_lib.Redis.from_url(require_redis()).delete(key, f"{key}:last-run")


def _scheduler(name: str, key: str, recorder: Recorder, ttl: float = 1.0) -> tuple[Scheduler, threading.Thread]:
    client = redis_lib.Redis.from_url(require_redis(), socket_timeout=5)
    lock = LeaderLock(client, key, ttl=ttl, name=name)
    scheduler = Scheduler([recorder.job(name, "anomalies", 0.05), recorder.job(name, "drift", 0.1)], lock=lock)
    thread = threading.Thread(target=scheduler.run, name=f"scheduler-{name}", daemon=True)
    return scheduler, thread


def _no_overlap(recorder: Recorder) -> None:
    """No run of one scheduler overlaps a run of the other."""
    runs = sorted(recorder.runs, key=lambda r: r[2])
    for earlier, later in zip(runs, runs[1:], strict=False):
        if earlier[0] != later[0]:
            assert later[2] >= earlier[3], f"{later} started while {earlier} ran"


def test_only_the_lock_holder_runs_jobs_and_the_other_takes_over_on_stop(lock_key: str) -> None:
    recorder = Recorder()
    first, first_thread = _scheduler("a", lock_key, recorder)
    first_thread.start()
    wait_until(lambda: len(recorder.by("a")) >= 2, timeout=10)
    second, second_thread = _scheduler("b", lock_key, recorder)
    second_thread.start()
    wait_until(lambda: len(recorder.by("a")) >= 12, timeout=10)
    assert recorder.by("b") == [], "the standby scheduler ran a job while the leader held the lock"
    assert second.lock is not None and not second.lock.held

    first.stop()  # releases the lock at the end of its loop
    first_thread.join(10)
    wait_until(lambda: len(recorder.by("b")) >= 4, timeout=10)
    second.stop()
    second_thread.join(10)
    _no_overlap(recorder)
    last_of_a = max(run[3] for run in recorder.by("a"))
    assert min(run[2] for run in recorder.by("b")) >= last_of_a


def test_a_dead_leader_is_replaced_once_its_lock_expires(lock_key: str) -> None:
    recorder = Recorder()
    first, first_thread = _scheduler("a", lock_key, recorder, ttl=1.0)
    second, second_thread = _scheduler("b", lock_key, recorder, ttl=1.0)
    first_thread.start()
    wait_until(lambda: len(recorder.by("a")) >= 2, timeout=10)
    second_thread.start()
    # the leader dies without releasing: its keeper stops, its loop ends, the key is left to expire
    assert first.lock is not None
    first.lock.release = lambda: None  # type: ignore[method-assign]
    first.lock._stop.set()
    first.stop()
    first_thread.join(10)
    wait_until(lambda: len(recorder.by("b")) >= 2, timeout=10)
    second.stop()
    second_thread.join(10)
    _no_overlap(recorder)


def test_a_new_leader_does_not_rerun_a_job_the_previous_one_just_ran(lock_key: str) -> None:
    client = redis_lib.Redis.from_url(require_redis())
    recorder = Recorder()
    previous = LeaderLock(client, lock_key, ttl=5.0, name="previous")
    previous.record_run("retention")  # the previous leader started it just now
    lock = LeaderLock(client, lock_key, ttl=5.0, name="new")
    scheduler = Scheduler([recorder.job("new", "retention", 3600.0), recorder.job("new", "anomalies", 3600.0)],
                          lock=lock)
    scheduler.run_pending()
    lock.release()
    assert [run[1] for run in recorder.runs] == ["anomalies"]
    assert lock.last_run("anomalies") is not None
