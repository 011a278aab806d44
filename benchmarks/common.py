"""Helpers shared by the benchmark scripts: paths, the bundle, servers we start, wrk, results.

Every server a benchmark starts is a child process in its own session, stopped
by its process-group id at the end (never by name). Every run is bounded in
time and targets 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
# Benchmark results are committed: the docs quote them from there.
BENCH_DIR = ROOT / "docs" / "results"
DATA_DIR = RESULTS / "data"
VENV_PY = ROOT / ".venv" / "bin" / "python"
BENCH_API_KEY = "bench-key-0123456789abcdef"
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    """Progress on stderr (stdout is kept for results)."""
    sys.stderr.write(f"[{datetime.now().strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def bundle_dir() -> Path:
    """The bundle the benchmarks load: ``MODEL_DIR`` or models/default."""
    path = Path(os.environ.get("MODEL_DIR", "models/default"))
    return path if path.is_absolute() else ROOT / path


def renamed_bundle(root: Path, version: str) -> Path:
    """A copy of the benchmarks' bundle under ``root/version`` whose metadata says ``version``: the same
    model under another name (a champion or challenger to publish)."""
    target = root / version
    shutil.copytree(bundle_dir(), target)
    meta = json.loads((target / "metadata.json").read_text())
    meta["version"] = version
    (target / "metadata.json").write_text(json.dumps(meta))
    return target


def bundle_info(path: Path | None = None) -> dict[str, Any]:
    """Version, training rows and AUC of the bundle, for every report."""
    path = path or bundle_dir()
    meta = json.loads((path / "metadata.json").read_text())
    return {"dir": str(path), "version": meta.get("version"), "rows": meta.get("data", {}).get("rows"),
            "auc_holdout": meta.get("metrics", {}).get("holdout_auc"),
            "threshold": meta.get("threshold", {}).get("value"),
            "n_features": len(meta.get("features", []))}


def machine() -> dict[str, Any]:
    """What the figures depend on: cores, CPU model, load average at the time."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": cpu, "python": platform.python_version(),
            "loadavg": [round(x, 2) for x in os.getloadavg()], "at": datetime.now(UTC).isoformat(timespec="seconds")}


def loadavg1() -> float:
    """One-minute load average."""
    return round(os.getloadavg()[0], 2)


def wait_for_quiet(max_load: float, max_wait_s: float) -> float:
    """Wait (at most ``max_wait_s``) until the 1-min load average is under ``max_load``; returns it."""
    deadline = time.monotonic() + max_wait_s
    while loadavg1() >= max_load and time.monotonic() < deadline:
        time.sleep(5)
    return loadavg1()


def median(values: Iterable[float]) -> float:
    """Median of the values (NaN when empty)."""
    data = [v for v in values if v is not None]
    return statistics.median(data) if data else float("nan")


def percentiles(values: Sequence[float], points: Sequence[float] = (50, 90, 99)) -> dict[str, float]:
    """Nearest-rank percentiles of ``values``, keyed ``p50``, ``p90``..."""
    data = sorted(values)
    if not data:
        return {f"p{p:g}": float("nan") for p in points}
    return {f"p{p:g}": data[min(len(data) - 1, max(0, round(p / 100 * len(data) + 0.5) - 1))] for p in points}


# --- processes ------------------------------------------------------------------------
def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its live descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    stats: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        fields = raw.rsplit(")", 1)[1].split()
        child, parent = int(entry.name), int(fields[1])
        children.setdefault(parent, []).append(child)
        stats[child] = (int(fields[11]), int(fields[12]))  # utime, stime
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        utime, stime = stats.get(current, (0, 0))
        total += utime + stime
        todo.extend(children.get(current, []))
    return total / _CLK_TCK


@dataclass
class Server:
    """A server process we start (own session) and stop by its process-group id."""

    name: str
    argv: list[str]
    env: Mapping[str, str] = field(default_factory=dict)
    ready_url: str | None = None
    cwd: Path = ROOT
    log_path: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 120.0) -> Server:
        """Start the process and wait until ``ready_url`` answers 2xx (or the process dies)."""
        env = {**os.environ, **self.env}
        self.log_path = self.log_path or RESULTS / "bench" / "logs" / f"{self.name}.log"  # git-ignored
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        out = self.log_path.open("ab")
        log(f"starting {self.name}: {' '.join(self.argv)}")
        self.proc = subprocess.Popen(self.argv, cwd=self.cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        out.close()
        if self.ready_url:
            deadline = time.monotonic() + timeout_s
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}")
                if http_ok(self.ready_url):
                    break
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"{self.name} not ready after {timeout_s:.0f} s; see {self.log_path}")
                time.sleep(0.25)
        return self

    @property
    def pid(self) -> int:
        """The process id (also its process-group id)."""
        assert self.proc is not None
        return self.proc.pid

    def cpu_seconds(self) -> float:
        """CPU seconds used so far by the server and its children."""
        return tree_cpu_seconds(self.pid)

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM to the process group we created, SIGKILL after ``timeout_s``."""
        if self.proc is None or self.proc.poll() is not None:
            return
        log(f"stopping {self.name} (pgid {self.proc.pid})")
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        except ProcessLookupError:
            pass

    def __enter__(self) -> Server:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True when a GET of ``url`` answers 2xx."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def drop_streams(*names: str, redis_url: str | None = None) -> None:
    """Delete the Redis streams a benchmark wrote its events to (best effort)."""
    from redis import Redis

    try:
        client = Redis.from_url(redis_url or os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
        client.delete(*names)
        client.close()
    except Exception as exc:  # a benchmark's result must not be lost to a clean-up failure
        log(f"could not delete {names}: {exc}")


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- results ------------------------------------------------------------------------------
def write_results(name: str, data: Mapping[str, Any], markdown: str) -> tuple[Path, Path]:
    """Write ``docs/results/<name>.json`` and ``.md``; returns both paths."""
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    json_path, md_path = BENCH_DIR / f"{name}.json", BENCH_DIR / f"{name}.md"
    json_path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    md_path.write_text(markdown)
    log(f"wrote {json_path} and {md_path}")
    return json_path, md_path


def md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A markdown table."""
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def command_line() -> str:
    """The command that produced a result (for the reports)."""
    return " ".join([".venv/bin/python -m " + Path(sys.argv[0]).with_suffix("").relative_to(ROOT).as_posix()
                     .replace("/", "."), *sys.argv[1:]]) if Path(sys.argv[0]).resolve().is_relative_to(ROOT) \
        else " ".join(sys.argv)


def checkout(revision: str, into: Path, *paths: str) -> Path:
    """``paths`` of ``revision`` (its whole tree when none are named) in ``into/src``, extracted with
    ``git archive``: the work tree is untouched."""
    archive = into / "src.tar"
    subprocess.run(["git", "archive", "-o", str(archive), revision, *paths], cwd=ROOT, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "src", filter="data")
    return into / "src"
