"""Real-Redis helpers of the gateway and worker integration tests.

Each test gets its own database of the shared test Redis (``make services``),
flushed before and after: DBs 7 to 11, 14 and 15 are this suite's (12 is the e2e
stack test's, 13 the async benchmark's). A test that stops Redis starts its own
``redis-server`` on a free port instead. Worker pools run as ``python -m worker
pool`` subprocesses, bounded in time, on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.utils.servers import require_redis

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DATABASES = {"champion": 7, "jobs": 8, "pool": 9, "kill": 10, "sample": 11, "smoke-stack": 12, "outage": 14,
             "planted": 15}


def db_url(base: str, db: int) -> str:
    """``base`` (``redis://host:port[/n]``) pointed at database ``db``."""
    head = base.rstrip("/")
    if head.count("/") > 2:
        head = head.rsplit("/", 1)[0]
    return f"{head}/{db}"


@contextlib.contextmanager
def redis_database(name: str) -> Iterator[str]:
    """The URL of this suite's database ``name`` on the test Redis, flushed before and after."""
    url = db_url(require_redis(), DATABASES[name])
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


def subprocess_env(redis_url: str, bundle: Path, tmp_path: Path, **extra: Any) -> dict[str, str]:
    """Environment of a worker subprocess: the repo and this folder importable, test settings."""
    # no PROMETHEUS_MULTIPROC_DIR: even empty, prometheus_client would write its files in the cwd (the repo)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("API_KEYS", "ELASTICSEARCH_URL", "PROMETHEUS_MULTIPROC_DIR"))}
    env.update({
        "PYTHONPATH": os.pathsep.join([str(REPO), str(HERE)]), "REDIS_URL": redis_url, "MODEL_DIR": str(bundle),
        "SPOOL_DIR": str(tmp_path / "worker-spool"), "PSEUDONYMISATION_KEY": "integration-test-key",
        "ENVIRONMENT": "development", "LOG_LEVEL": "INFO",
    })
    env.update({k: str(v) for k, v in extra.items()})
    return env


@contextlib.contextmanager
def worker_pool(env: dict[str, str], processes: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m worker pool --processes N`` until the block ends (SIGTERM, then SIGKILL after 15 s)."""
    with log.open("wb") as out:
        pool = subprocess.Popen([sys.executable, "-m", "worker", "pool", "--processes", str(processes)],
                                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield pool
        finally:
            stop_session(pool, 15)


def stop_session(process: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM ``process`` (started with ``start_new_session``), give it ``grace_s`` to exit, then
    SIGKILL its whole process group: nothing of a test may outlive it, children included."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace_s)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(5)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A private ``redis-server`` on 127.0.0.1 (no persistence) that a test may stop and start."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
        self.binary = binary
        self.port = port or free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start and wait until it answers PING."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.ping()
                return self
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop it (SIGTERM) and wait."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


def slow_once(key: str, seconds: float) -> str:
    """A job for the kill tests: its first run sleeps ``seconds`` (long enough to be killed), later runs return."""
    from rq import get_current_job

    job = get_current_job()
    assert job is not None
    if job.connection.incr(key) == 1:
        time.sleep(seconds)
    return "done"


def wait_for(condition: Any, timeout: float, interval: float = 0.05, what: str = "condition") -> Any:
    """Poll until ``condition()`` is truthy and return it (a deadline, not a speed check)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} still false after {timeout} s")
        time.sleep(interval)


def gateway_settings(redis_url: str, bundle: Path, tmp_path: Path, **overrides: Any) -> Any:
    """Gateway settings against a real Redis (no environment leaks in)."""
    from gateway.settings import GatewaySettings

    values: dict[str, Any] = {
        "redis_url": redis_url, "elasticsearch_url": None, "environment": "development", "model_dir": bundle,
        "api_keys": "integration-key", "spool_dir": tmp_path / "gateway-spool", "access_log": False,
        "sqlite_path": tmp_path / "events.sqlite3", "pseudonymisation_key": "integration-test-key",
        "redis_timeout_s": 1.0,
    }
    values.update(overrides)
    return GatewaySettings(**values)


HEADERS = {"X-API-Key": "integration-key"}
