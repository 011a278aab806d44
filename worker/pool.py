"""Worker classes and the worker pool.

``ScoringWorker`` is RQ's non-forking ``SimpleWorker``: jobs run in the worker
process itself, so the scorer loaded at start serves every job (a forking
worker would carry the ONNX session across ``fork()`` and could not keep a
warm cache). The pool (RQ's ``WorkerPool``) forks N such processes; each loads
its own scorer after the fork.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from typing import Any

from redis import Redis
from rq import Queue, SimpleWorker
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.timeouts import TimerDeathPenalty
from rq.utils import now
from rq.worker_pool import WorkerPool

from shared.jobs import JOB_SERIALIZER
from shared.logs import log_context
from shared.redis_client import make_redis
from shared.resources import start_reporter
from worker import tasks
from worker.exceptions import ScorerUnavailableError
from worker.settings import WorkerSettings

logger = logging.getLogger(__name__)
__all__ = ["JOB_SERIALIZER", "EmbeddedWorker", "ScoringPool", "ScoringWorker"]
RESTART_DELAY_S = 5
HEARTBEAT_MIN_INTERVAL_S = 1.0
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


class ScoringWorker(SimpleWorker):
    """A non-forking worker that loads the scorer when it starts.

    Class attributes, set before the pool forks (``WorkerPool`` builds workers
    with a fixed argument list): ``settings`` and ``abandoned_grace_s``.
    """

    settings: WorkerSettings | None = None
    abandoned_grace_s = 10
    log_result_lifespan = False
    log_job_description = False

    def __init__(self, queues: Any, *args: Any, **kwargs: Any) -> None:
        settings = self.settings or WorkerSettings()
        if settings.redis_sentinels and self.settings is not None:
            # WorkerPool rebuilds each child's client from the parent's connection class and pool
            # arguments, which for a Sentinel client carry the parent's Sentinel proxy across the
            # fork: each worker makes its own Sentinel client from the settings instead.
            kwargs["connection"] = make_redis(settings)
        kwargs.setdefault("worker_ttl", settings.worker_ttl)
        kwargs.setdefault("maintenance_interval", settings.maintenance_interval_s)
        kwargs["serializer"] = JOB_SERIALIZER
        # WorkerPool passes Queue objects built without the serializer; the registry clean-up
        # reads jobs through them, so rebuild them from their names with ours.
        given = [queues] if isinstance(queues, str | Queue) else list(queues)
        names: list[str] = [q.name if isinstance(q, Queue) else q for q in given]
        super().__init__(names, *args, **kwargs)
        if tasks.on_job_failure not in self._exc_handlers:
            self.push_exc_handler(tasks.on_job_failure)
        self.abandoned_grace_s = settings.abandoned_grace_s

    def work(self, *args: Any, **kwargs: Any) -> bool:
        """Load the scorer (once per process), then run RQ's work loop; flush the events at the end."""
        start_reporter("worker")  # this worker process's CPU, memory and fds (Prometheus gauges)
        if threading.current_thread() is threading.main_thread():
            # The pool forks with the stop signals blocked (ScoringPool.start_worker); one that came
            # since is delivered now, to a handler that exits: the worker has nothing running yet.
            for sig in STOP_SIGNALS:
                signal.signal(sig, _exit_before_work)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        try:
            tasks.load_runtime(self.connection, self.settings)
        except ScorerUnavailableError:
            # the pool restarts a dead worker every second: wait, so a missing bundle is not a hot loop
            logger.exception("worker cannot start without a model; exiting in %d s", RESTART_DELAY_S)
            time.sleep(RESTART_DELAY_S)
            return False
        if self.settings is not None:
            # WorkerPool restarts a dead worker without the pool's logging level
            kwargs["logging_level"] = self.settings.rq_log_level
        try:
            return super().work(*args, **kwargs)
        finally:
            tasks.close_runtime()

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        """RQ's heartbeat, at most once a second when it only refreshes the worker's own key.

        RQ beats several times per job (three commands each); the key lives
        ``worker_ttl`` seconds, so a beat less than a second old is enough. Beats
        with an explicit timeout or inside a pipeline (job bookkeeping) always go.
        """
        if timeout is None and pipeline is None and self.last_heartbeat is not None \
                and (now() - self.last_heartbeat).total_seconds() < HEARTBEAT_MIN_INTERVAL_S:
            return
        super().heartbeat(timeout, pipeline)

    def perform_job(self, job: Job, *args: Any, **kwargs: Any) -> bool:
        """RQ's ``perform_job`` (the job, its result or its failure handlers) with the job's ids in every log line."""
        with log_context(request_id=_request_id_of(job), job_id=job.id):
            return super().perform_job(job, *args, **kwargs)

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        """How long a started job may go without news before RQ's clean-up calls it abandoned.

        A ``SimpleWorker`` sends no heartbeat while a job runs, so this is the
        job's timeout plus a grace (RQ adds 60 s; scoring jobs take milliseconds).
        """
        timeout = job.timeout if job.timeout and job.timeout > 0 else Queue.DEFAULT_TIMEOUT
        return int(timeout) + self.abandoned_grace_s


def _request_id_of(job: Job) -> str | None:
    """The id of the request that submitted a job (None when it has none or cannot be read)."""
    try:
        request_id = job.kwargs.get("request_id")
    except Exception:  # undecodable job data: RQ reports it when it runs the job
        return None
    return request_id if isinstance(request_id, str) else None


def _exit_before_work(signum: int, _frame: Any) -> None:
    """A stop signal while the worker is still starting: nothing is running, exit now."""
    raise SystemExit(0)


class ScoringPool(WorkerPool):
    """RQ's WorkerPool, forking each worker with SIGINT and SIGTERM blocked.

    A forked worker runs the pool's signal handlers until RQ's loop installs its
    own: a stop signal in that window (the pool stopping while it respawns a
    worker) was handled as if the worker were the pool, and the worker went on
    working while the pool waited for it forever. Blocked, the signal waits: the
    worker receives it once it can exit on it (ScoringWorker.work), and the pool
    once the new worker is on the record its stop goes through.
    """

    def start_worker(self, *args: Any, **kwargs: Any) -> None:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            super().start_worker(*args, **kwargs)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


_PR_SET_PDEATHSIG = 1
_fork_parent = 0


def _remember_parent() -> None:
    global _fork_parent
    _fork_parent = os.getpid()


def _die_with_parent() -> None:
    """In a forked child: get SIGTERM when the process that forked it dies (Linux).

    A worker killed outright (OOM, SIGKILL) left its RQ scheduler process (RQ
    forks one per worker holding the scheduler lock) running forever with no
    parent; a pool killed outright left its workers. SIGTERM is their orderly stop.
    """
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: nothing to do
        return
    if os.getppid() != _fork_parent:  # the parent died before prctl took effect
        os._exit(0)


def tie_children_to_their_parent() -> None:
    """Every process forked from now on (workers, their schedulers) dies with its parent."""
    if sys.platform.startswith("linux"):
        os.register_at_fork(before=_remember_parent, after_in_child=_die_with_parent)


def _end_stragglers(timeout_s: float = 5.0) -> None:
    """End the pool's child processes still alive once RQ's pool returned.

    RQ's pool stops the workers it has on record; one forked just as the stop
    came (between its start and its record) is not on it and would outlive the pool.
    """
    children = multiprocessing.active_children()
    for child in children:
        logger.warning("worker process %s outlived the pool's stop: ending it", child.pid)
        child.terminate()
    deadline = time.monotonic() + timeout_s
    for child in children:
        child.join(max(0.0, deadline - time.monotonic()))
        if child.is_alive():
            child.kill()
            child.join(1.0)


class ThreadWorker(ScoringWorker):
    """A ScoringWorker that runs in a thread of the gateway (embedded mode).

    No signal handlers (only the main thread may install them), a timer-based
    job timeout instead of SIGALRM, no pub/sub command thread, and the
    gateway's scorer instead of a second load.
    """

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        """Signals belong to the gateway's main thread."""

    def subscribe(self) -> None:
        """No remote-command channel in embedded mode."""

    def unsubscribe(self) -> None:
        """Nothing to undo (see :meth:`subscribe`)."""

    def work(self, *args: Any, **kwargs: Any) -> bool:
        """RQ's work loop, with the runtime installed by the gateway."""
        return SimpleWorker.work(self, *args, **kwargs)


def _noop() -> None:
    """Wakes an idle embedded worker so that it sees the stop request."""


class EmbeddedWorker:
    """An RQ worker in a thread, and a scheduler loop for delayed retries (embedded mode).

    Args:
        connection: a Redis client of the shared fake server (one per thread).
        scheduler_connection: another client, for the scheduler loop and the stop request.
        settings: queue name and intervals.
    """

    def __init__(self, connection: Redis, scheduler_connection: Redis, settings: WorkerSettings) -> None:
        ThreadWorker.settings = settings
        self.worker = ThreadWorker([Queue(settings.queue_name, connection=connection, serializer=JOB_SERIALIZER)],
                                   connection=connection)
        self.queue = Queue(settings.queue_name, connection=scheduler_connection, serializer=JOB_SERIALIZER)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the worker and scheduler threads."""
        worker = threading.Thread(target=self.worker.work, kwargs={"burst": False, "with_scheduler": False,
                                                                   "logging_level": None},
                                  name="embedded-rq-worker", daemon=True)
        scheduler = threading.Thread(target=self._schedule, name="embedded-rq-scheduler", daemon=True)
        self._threads = [worker, scheduler]
        for thread in self._threads:
            thread.start()

    @property
    def alive(self) -> bool:
        """True while the worker thread runs."""
        return bool(self._threads) and self._threads[0].is_alive()

    def _schedule(self) -> None:
        """Move due retries back to the queue, every second.

        RQ's own scheduler takes its lock with a Lua script, which fakeredis
        lacks; one embedded process has no competitor, so no lock is needed.
        """
        registry = self.queue.scheduled_job_registry
        while not self._stop.wait(1.0):
            try:
                for job_id in registry.get_jobs_to_schedule(int(time.time())):
                    try:
                        job = Job.fetch(job_id, connection=self.queue.connection, serializer=JOB_SERIALIZER)
                    except NoSuchJobError:
                        registry.remove(job_id)
                        continue
                    registry.remove(job)
                    self.queue.enqueue_job(job)
            except Exception:
                logger.exception("embedded scheduler pass failed")

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the worker to stop, wake it with a no-op job, and wait for the threads."""
        self._stop.set()
        self.worker._stop_requested = True
        if self.alive:
            try:
                self.queue.enqueue_call(_noop, result_ttl=0, at_front=True)
            except Exception:
                logger.warning("could not wake the embedded worker", exc_info=True)
        for thread in self._threads:
            thread.join(timeout)


def run_pool(settings: WorkerSettings, processes: int | None = None, burst: bool = False) -> None:
    """Run a pool (RQ's WorkerPool) of ScoringWorkers until SIGINT/SIGTERM (or, with ``burst``, an empty queue).

    Args:
        settings: worker settings (``REDIS_URL`` is required).
        processes: number of worker processes (default ``settings.processes``).
        burst: stop each worker once the queue is empty (tests, one-off runs).
    """
    if not settings.redis_url:
        raise SystemExit("REDIS_URL is required for the worker pool (embedded mode runs a worker inside the gateway)")
    ScoringWorker.settings = settings  # inherited by the forked workers
    tie_children_to_their_parent()
    connection = make_redis(settings)
    pool = ScoringPool([settings.queue_name], connection=connection, num_workers=processes or settings.processes,
                      worker_class=ScoringWorker, serializer=JOB_SERIALIZER)
    logger.info("worker pool starting", extra={"processes": pool.num_workers, "queue": settings.queue_name})
    try:
        pool.start(burst=burst, logging_level=settings.rq_log_level)
    finally:
        _end_stragglers()
