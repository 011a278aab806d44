"""The worker pool on a real Redis: one scorer load per process, and workers killed in the middle of a job."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from rq import Queue, Retry, Worker
from rq.job import Job, JobStatus

from gateway.app import create_app
from shared.jobs import JOB_SERIALIZER, SCORE_JOB
from tests.integration.redis_support import (
    HEADERS,
    gateway_settings,
    redis_database,
    subprocess_env,
    wait_for,
    worker_pool,
)
from tests.utils.data import synthetic_applications
from worker.tasks import LOADS_KEY

pytestmark = pytest.mark.integration
JOBS = 40
PROCESSES = 2


@pytest.fixture
def pool_db() -> Iterator[str]:
    with redis_database("pool") as url:
        yield url


@pytest.fixture
def kill_db() -> Iterator[str]:
    with redis_database("kill") as url:
        yield url


def _loads(client: redis.Redis) -> int:
    return int(client.get(LOADS_KEY) or 0)


def test_n_jobs_over_p_processes_load_the_scorer_p_times(pool_db: str, tiny_bundle: Path,
                                                         tmp_path: Path) -> None:
    client = redis.Redis.from_url(pool_db)
    queue = Queue("scoring", connection=client, serializer=JOB_SERIALIZER)
    log = tmp_path / "pool.log"
    applications = synthetic_applications(JOBS, seed=1)
    with worker_pool(subprocess_env(pool_db, tiny_bundle, tmp_path), PROCESSES, log):
        wait_for(lambda: _loads(client) == PROCESSES, 60, what="every process loaded its scorer")
        jobs = [queue.enqueue_call(SCORE_JOB, kwargs={"applications": [application], "single": True})
                for application in applications]
        wait_for(lambda: all(j.get_status() in (JobStatus.FINISHED, JobStatus.FAILED) for j in jobs), 60,
                 what="all jobs done")
        assert _loads(client) == PROCESSES, log.read_text()[-3000:]  # N jobs, still P loads
    statuses = {j.get_status() for j in jobs}
    assert statuses == {JobStatus.FINISHED}
    workers = {Job.fetch(j.id, client, serializer=JOB_SERIALIZER).worker_name for j in jobs}
    assert 1 <= len(workers) <= PROCESSES
    assert log.read_text().count('"msg":"scorer loaded"') == PROCESSES


def _kill_worker_running(queue: Queue, job: Job, key: str) -> int:
    """SIGKILL the pool process that runs ``job``, once inside the job function; returns its pid."""
    wait_for(lambda: queue.connection.get(key) == b"1", 30, what=f"job {job.id} inside slow_once")

    def busy_pid() -> int | None:
        for worker in Worker.all(queue=queue):
            if worker.get_current_job_id() == job.id and worker.pid:
                return worker.pid
        return None

    pid: int = wait_for(busy_pid, 10, what="the busy worker registered")
    os.kill(pid, signal.SIGKILL)
    return pid


def test_a_worker_killed_mid_job_never_loses_the_job(kill_db: str, tiny_bundle: Path, tmp_path: Path) -> None:
    client = redis.Redis.from_url(kill_db)
    queue = Queue("scoring", connection=client, serializer=JOB_SERIALIZER)
    env = subprocess_env(kill_db, tiny_bundle, tmp_path, MAINTENANCE_INTERVAL_S=1, ABANDONED_GRACE_S=1)
    log = tmp_path / "pool.log"
    settings = gateway_settings(kill_db, tiny_bundle, tmp_path)
    with worker_pool(env, 1, log), TestClient(create_app(settings)) as gateway:
        wait_for(lambda: _loads(client) == 1, 60, what="the worker loaded its scorer")
        # with a retry left: the abandoned job is queued again and finishes on the respawned worker
        retried = queue.enqueue_call("redis_support.slow_once", args=["slow:retried", 60], timeout=3,
                                     retry=Retry(max=1))
        first = _kill_worker_running(queue, retried, "slow:retried")
        wait_for(lambda: retried.get_status() == JobStatus.FINISHED, 60, what="the retried job finished")
        assert retried.return_value(refresh=True) == "done"
        assert int(client.get("slow:retried")) == 2  # ran twice: killed, then retried
        # without a retry: it ends failed, with the reason, and the API says so
        lost = queue.enqueue_call("redis_support.slow_once", args=["slow:lost", 60], timeout=3)
        second = _kill_worker_running(queue, lost, "slow:lost")
        wait_for(lambda: lost.get_status() == JobStatus.FAILED, 60, what="the abandoned job failed")
        answer = gateway.get(f"/v1/jobs/{lost.id}", headers=HEADERS).json()
    assert first != second  # the pool restarted the killed worker
    assert answer["status"] == "failed"
    assert answer["reason"].startswith("AbandonedJobError"), answer
    assert _loads(client) == 3  # one load per worker process: the first and its two replacements


def _session_members(sid: int) -> list[int]:
    """Pids of the live processes of session ``sid`` (field 6 of /proc/PID/stat)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == sid and fields[0] != "Z":  # fields[3] is the session id, fields[0] the state
            members.append(int(entry.name))
    return members


@pytest.mark.parametrize(("delay_s", "stop"), [(0.0, signal.SIGTERM), (0.3, signal.SIGTERM), (1.0, signal.SIGTERM),
                                               (1.0, signal.SIGKILL)])
def test_a_pool_whose_worker_was_killed_leaves_no_process_once_stopped(
        pool_db: str, tiny_bundle: Path, tmp_path: Path, delay_s: float, stop: signal.Signals) -> None:
    """Killed workers leave no orphan (RQ's scheduler process), a stop during a respawn reaches the new
    worker, and a pool killed outright takes its workers with it."""
    client = redis.Redis.from_url(pool_db)
    client.delete(LOADS_KEY)
    log = tmp_path / "pool.log"
    with worker_pool(subprocess_env(pool_db, tiny_bundle, tmp_path), 1, log) as pool:
        wait_for(lambda: _loads(client) == 1, 60, what="the worker loaded its scorer")
        worker = next(pid for pid in _session_members(pool.pid) if _parent(pid) == pool.pid)
        os.kill(worker, signal.SIGKILL)  # the pool respawns it within about a second
        wait_for(lambda: any(_parent(pid) == pool.pid and pid != worker for pid in _session_members(pool.pid)), 10,
                 what="the pool respawned a worker")
        time.sleep(delay_s)  # 0: stopped while the new worker starts; 1 s: once it works
        pool.send_signal(stop)
        pool.wait(60)
        try:
            wait_for(lambda: not _session_members(pool.pid), 15, what="every process of the pool ended")
        except AssertionError:
            left = _session_members(pool.pid)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pool.pid, signal.SIGKILL)
            raise AssertionError(f"processes {left} outlived the pool: {log.read_text()[-3000:]}") from None


def _parent(pid: int) -> int | None:
    try:
        return int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError):
        return None
