"""A Redis primary, one replica and three Sentinels on free 127.0.0.1 ports, for the failover test.

Debian's ``redis-server`` and ``redis-sentinel`` (``scripts/services.sh start``
installs the latter when missing). No persistence; every file in the test's
temporary folder. The primary can be killed outright (``SIGKILL``), as a crash.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis

from tests.integration.redis_support import free_port, wait_for

MASTER_NAME = "scoring"
DOWN_AFTER_MS = 1000  # a primary silent this long is down for a Sentinel
QUORUM = 2  # of the three Sentinels


class SentinelSetup:
    """The five processes, started by :meth:`start` and ended by :meth:`stop`."""

    def __init__(self, workdir: Path) -> None:
        self.server = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.sentinel = shutil.which("redis-sentinel") or "/usr/bin/redis-sentinel"
        if not Path(self.sentinel).exists():
            pytest.fail("redis-sentinel is not installed: `bash scripts/services.sh start` installs it (root)")
        self.workdir = workdir
        self.primary_port, self.replica_port = free_port(), free_port()
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def sentinels(self) -> str:
        """``REDIS_SENTINELS``: ``127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3``."""
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = (self.workdir / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        log.close()

    def _server(self, name: str, port: int, *extra: str) -> None:
        self._spawn(name, [self.server, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                           "--appendonly", "no", "--dir", str(self.workdir), *extra])
        wait_for(lambda: _pings(port), 15, what=f"{name} answering on {port}")

    def start(self) -> SentinelSetup:
        """Primary, replica (in sync), then the Sentinels (each aware of the replica and the other two)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._server("primary", self.primary_port)
        self._server("replica", self.replica_port, "--replicaof", "127.0.0.1", str(self.primary_port))
        replica = redis.Redis(port=self.replica_port, decode_responses=True)
        wait_for(lambda: replica.info("replication").get("master_link_status") == "up", 30, what="replica in sync")
        for number, port in enumerate(self.sentinel_ports):
            conf = self.workdir / f"sentinel-{number}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.workdir}\n"
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.primary_port} {QUORUM}\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {MASTER_NAME} 10000\n"
                f"sentinel parallel-syncs {MASTER_NAME} 1\n")
            self._spawn(f"sentinel-{number}", [self.sentinel, str(conf)])
        for port in self.sentinel_ports:
            wait_for(lambda p=port: _pings(p), 15, what=f"sentinel on {port}")
            client = redis.Redis(port=port, decode_responses=True)
            wait_for(lambda c=client: len(c.sentinel_slaves(MASTER_NAME)) == 1
                     and len(c.sentinel_sentinels(MASTER_NAME)) == 2, 60,
                     what=f"sentinel {port} seeing the replica and the other sentinels")
        return self

    def primary(self) -> tuple[str, int]:
        """The primary's address as the first Sentinel that answers gives it."""
        for port in self.sentinel_ports:
            try:
                host, primary = redis.Redis(port=port, decode_responses=True,
                                            socket_timeout=2).sentinel_get_master_addr_by_name(MASTER_NAME)
                return host, int(primary)
            except (redis.RedisError, TypeError):
                continue
        raise AssertionError("no sentinel answers")

    def kill_primary(self) -> None:
        """SIGKILL the primary: a crash, nothing flushed, no goodbye."""
        self.processes["primary"].send_signal(signal.SIGKILL)
        self.processes["primary"].wait(10)

    def stop(self) -> None:
        """End every process still running."""
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 10
        for process in self.processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def _pings(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_connect_timeout=0.5, socket_timeout=0.5).ping())
    except redis.RedisError:
        return False
