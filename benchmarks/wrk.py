"""Run wrk (Debian's ``wrk`` package) against one of our loopback servers and parse its figures."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, Server

LUA = ROOT / "benchmarks" / "lua" / "post_bodies.lua"


def wrk_available() -> bool:
    """True when the wrk binary is on PATH."""
    return shutil.which("wrk") is not None


def ensure_wrk() -> None:
    """wrk on PATH, or installed now with ``apt-get install -y wrk`` when running as root on Debian/Ubuntu.

    Raises:
        RuntimeError: wrk is missing and cannot be installed here.
    """
    if wrk_available():
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False, stdout=subprocess.DEVNULL)
    if not wrk_available():
        raise RuntimeError("wrk is not installed: apt-get install -y wrk")


def run_wrk(url: str, bodies: Path, connections: int, duration_s: int, *, path: str = "/v1/score",
            api_key: str | None = None, threads: int = 1, server: Server | None = None,
            timeout_s: int = 5) -> dict[str, Any]:
    """One bounded wrk run; returns req/s, latency percentiles (ms), errors and CPU use.

    Args:
        url: base URL (``http://127.0.0.1:PORT``).
        bodies: JSON lines file, one request body per line.
        connections: concurrent connections.
        duration_s: length of the run.
        path: the route posted to.
        api_key: sent as X-API-Key when given.
        threads: wrk threads (1 leaves the most CPU to the server on a 2-core machine).
        server: when given, its CPU seconds over the run are reported (CPU per request).
        timeout_s: wrk's per-request timeout.
    """
    if not wrk_available():
        raise RuntimeError("wrk is not installed: apt-get install -y wrk")
    env = {**os.environ, "WRK_BODIES": str(bodies), "WRK_PATH": path, "WRK_API_KEY": api_key or ""}
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration_s}s", f"--timeout={timeout_s}s", "-s",
            str(LUA), url]
    cpu_before = server.cpu_seconds() if server else None
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    output = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu_after = server.cpu_seconds() if server else None
    line = next((ln for ln in output.splitlines() if ln.startswith("WRKJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {output[-2000:]}")
    raw = json.loads(line[len("WRKJSON "):])
    seconds = raw["duration_us"] / 1e6
    errors = raw["connect_errors"] + raw["read_errors"] + raw["write_errors"] + raw["timeouts"]
    result: dict[str, Any] = {
        "connections": connections, "duration_s": round(seconds, 2), "requests": raw["requests"],
        "rps": round(raw["requests"] / seconds, 1),
        "p50_ms": raw["p50_us"] / 1000, "p90_ms": raw["p90_us"] / 1000, "p99_ms": raw["p99_us"] / 1000,
        "p999_ms": raw["p999_us"] / 1000, "mean_ms": round(raw["mean_us"] / 1000, 3),
        "max_ms": raw["max_us"] / 1000, "non_2xx": raw["status_errors"], "socket_errors": errors,
        "wrk_cpu_pct": round(100 * (usage.ru_utime + usage.ru_stime) / seconds, 1),
        "loadavg1": round(os.getloadavg()[0], 2),
    }
    if server is not None and cpu_before is not None and cpu_after is not None:
        used = cpu_after - cpu_before
        result["server_cpu_pct"] = round(100 * used / seconds, 1)
        result["server_cpu_us_per_req"] = round(1e6 * used / raw["requests"], 1) if raw["requests"] else None
    return result
