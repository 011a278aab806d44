"""The processes of a running stack, by component, and their CPU seconds (psutil).

Used by :mod:`benchmarks.stack`: the processes started by ``scripts/stack.sh`` are
found below its pid (honcho's children, each named by its command line, with all
their descendants: uvicorn's worker processes, the RQ pool's workers); Redis and
Elasticsearch by the process listening on their port; wrk is measured by the caller.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from urllib.parse import urlparse

import psutil

# what identifies each component in the command line of the process honcho started for it
_MARKERS = (
    ("-m gateway", "gateway"),
    ("worker pool", "workers"),
    ("worker indexer", "indexer"),
    ("monitoring schedule", "scheduler"),
    ("monitoring dashboard", "dashboard"),
    ("stack_ready", "ready"),
)
COMPONENTS = ("gateway", "workers", "indexer", "scheduler", "dashboard", "redis", "elasticsearch", "wrk",
              "ready", "honcho")


def _component(cmdline: Iterable[str]) -> str | None:
    line = " ".join(cmdline)
    return next((name for marker, name in _MARKERS if marker in line), None)


def listener(port: int) -> int | None:
    """The pid of the process listening on TCP ``port`` (None when unknown or not allowed)."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return None
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            return int(conn.pid)
    return None


def server_pids(redis_url: str, es_url: str) -> dict[str, int]:
    """Redis and Elasticsearch pids, from the ports of their URLs (when they run on this machine)."""
    found: dict[str, int] = {}
    for name, url, default in (("redis", redis_url, 6379), ("elasticsearch", es_url, 9200)):
        parsed = urlparse(url)
        if parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
            continue
        pid = listener(parsed.port or default)
        if pid is not None:
            found[name] = pid
    return found


def stack_processes(root_pid: int | None, servers: Mapping[str, int], cwd: str | None = None) -> dict[int, str]:
    """Every process of the stack: pid -> component.

    Args:
        root_pid: the pid of ``scripts/stack.sh`` (None when attached to a stack started elsewhere:
            the components are then found by command line among the processes working in ``cwd``).
        servers: Redis / Elasticsearch pids by name.
        cwd: with ``root_pid`` None, the folder the stack was started from (``make stack``'s checkout).
    """
    found: dict[int, str] = {pid: name for name, pid in servers.items()}
    if root_pid is not None:
        try:
            root = psutil.Process(root_pid)
            below = root.children(recursive=True)
        except psutil.NoSuchProcess:
            return found
        found[root_pid] = "honcho"
        tops = [p for p in below if _safe_cmdline(p) and _component(_safe_cmdline(p))]
    else:
        tops = [p for p in psutil.process_iter() if p.pid != os.getpid() and _component(_safe_cmdline(p))
                and _cwd(p) == cwd]
        below = []
    for proc in below:
        found.setdefault(proc.pid, "honcho")  # honcho itself and the shells of stack.sh, unless named below
    for top in tops:
        name = _component(_safe_cmdline(top))
        assert name is not None
        found[top.pid] = name
        try:
            for child in top.children(recursive=True):
                found[child.pid] = name
        except psutil.NoSuchProcess:
            continue
    return found


def _cwd(proc: psutil.Process) -> str | None:
    try:
        return proc.cwd()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def _safe_cmdline(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return []


def cpu_snapshot(processes: Mapping[int, str]) -> dict[int, float]:
    """User + system CPU seconds of each live process (children reaped by it included)."""
    seconds: dict[int, float] = {}
    for pid in processes:
        try:
            times = psutil.Process(pid).cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        seconds[pid] = times.user + times.system + times.children_user + times.children_system
    return seconds


def cpu_by_component(processes: Mapping[int, str], before: Mapping[int, float],
                     after: Mapping[int, float]) -> dict[str, float]:
    """CPU seconds used between two snapshots, summed by component (a process born in between counts from 0)."""
    totals: dict[str, float] = {}
    for pid, name in processes.items():
        if pid in after:
            totals[name] = totals.get(name, 0.0) + after[pid] - before.get(pid, 0.0)
    return {name: round(value, 2) for name, value in totals.items()}


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy so far (all cores, every process)."""
    times = psutil.cpu_times()
    return float(times.user + times.nice + times.system + times.irq + times.softirq + getattr(times, "steal", 0.0))
