"""A Redis lock that makes one monitoring scheduler the leader among several.

Kubernetes runs the scheduler as one replica, but a rollout, a node that is
slow to report a pod dead, or an operator's second ``python -m monitoring
schedule`` can put two side by side. Both would run the hourly drift job and
write two reports for one window. With this lock only the holder runs jobs; the
other waits, and takes over within ``ttl`` seconds once the holder is gone.

The lock is one key holding a random token, set with ``SET NX PX`` and kept
alive by a thread that extends it every ``ttl / 3`` seconds while its token is
still there (a Lua check-and-extend, so a holder that lost the key never
extends someone else's). Before each job the scheduler checks it still holds
the lock. The time each job last ran is kept beside the lock, so a scheduler
that takes over does not re-run a job the previous leader has just run.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

from redis.exceptions import RedisError

logger = logging.getLogger("monitoring.leader")

DEFAULT_TTL_S = 30.0

# Extend (or delete) the key only while it still holds our token.
_EXTEND = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class LeaderLock:
    """Leadership of the scheduler, held in one Redis key.

    Args:
        redis: a Redis client (``shared.redis_client.make_redis``).
        key: the lock's key; the last runs are kept in ``key + ":last-run"``.
        ttl: seconds the key lives without being extended: how long a dead
            leader blocks the next one.
        name: who holds it (logs and the key's value prefix).
    """

    def __init__(self, redis: Any, key: str, ttl: float = DEFAULT_TTL_S, name: str | None = None) -> None:
        self.redis = redis
        self.key = key
        self.last_run_key = f"{key}:last-run"
        self.ttl_ms = int(ttl * 1000)
        self.token = f"{name or 'scheduler'}:{uuid.uuid4().hex}"
        self._held = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._keeper: threading.Thread | None = None
        self._extend = redis.register_script(_EXTEND)
        self._release = redis.register_script(_RELEASE)

    @property
    def held(self) -> bool:
        """True while this process believes it holds the lock (checked against Redis by :meth:`hold`)."""
        return self._held

    def hold(self) -> bool:
        """Take the lock, or confirm it is still ours; False when another holds it or Redis does not answer."""
        with self._lock:
            try:
                if self._held and self._extend(keys=[self.key], args=[self.token, self.ttl_ms]):
                    return True
                was_held, self._held = self._held, bool(
                    self.redis.set(self.key, self.token, nx=True, px=self.ttl_ms))
            except RedisError as exc:
                if self._held:
                    logger.warning("scheduler lock: Redis does not answer, not running jobs until it does",
                                   extra={"event": "leader_unknown", "error": str(exc)})
                self._held = False
                return False
            if self._held and not was_held:
                logger.info("scheduler lock taken: this scheduler runs the jobs",
                            extra={"event": "leader_elected", "holder": self.token})
                self._start_keeper()
            elif was_held and not self._held:
                logger.warning("scheduler lock lost to another scheduler", extra={"event": "leader_lost"})
            return self._held

    def _start_keeper(self) -> None:
        """Extend the key every ttl/3 while held, so a long job (a drift run) keeps the lock."""
        if self._keeper is not None and self._keeper.is_alive():
            return
        self._stop.clear()
        self._keeper = threading.Thread(target=self._keep, name="scheduler-lock-keeper", daemon=True)
        self._keeper.start()

    def _keep(self) -> None:
        while not self._stop.wait(self.ttl_ms / 3000):
            with self._lock:
                if not self._held:
                    return
                try:
                    self._held = bool(self._extend(keys=[self.key], args=[self.token, self.ttl_ms]))
                except RedisError:
                    self._held = False
                if not self._held:
                    logger.warning("scheduler lock lost while a job ran", extra={"event": "leader_lost"})
                    return

    def last_run(self, job: str) -> float | None:
        """Wall-clock time (epoch s) the job last started on any scheduler, None if never."""
        try:
            value = self.redis.hget(self.last_run_key, job)
        except RedisError:
            return None
        return float(value) if value is not None else None

    def record_run(self, job: str, started: float | None = None) -> None:
        """Remember that ``job`` started now (or at ``started``, epoch s)."""
        try:
            self.redis.hset(self.last_run_key, job, repr(started if started is not None else time.time()))
        except RedisError:
            logger.warning("could not record the run of %s", job, extra={"event": "leader_record_failed"})

    def release(self) -> None:
        """Give the lock up (at shutdown), so the next scheduler need not wait for the TTL."""
        self._stop.set()
        with self._lock:
            if self._held:
                try:
                    self._release(keys=[self.key], args=[self.token])
                except RedisError:
                    logger.debug("scheduler lock release failed", exc_info=True)
            self._held = False
        if self._keeper is not None:
            self._keeper.join(2.0)
