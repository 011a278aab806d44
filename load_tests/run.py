"""Headless Locust run of the scenarios against a stack this script starts and stops.

What it starts (each a child process in its own session, stopped by its process-group
id at the end, whatever happens):

- Redis and Elasticsearch only when they do not answer yet (``scripts/services.sh start``;
  then ``scripts/services.sh stop`` at the end, when neither was up before); servers already
  up are reused, untouched;
- the gateway (``python -m gateway``), the RQ worker pool (``python -m worker pool``) and the
  indexer (``python -m worker indexer``), on Redis database 14 and the Elasticsearch index
  prefix ``loadtest`` (deleted at the end unless ``--keep-data``), so the data of a running stack is not touched;
- with ``--embedded``: only ``python -m embedded`` (the gateway with fakeredis, worker and indexer threads, SQLite).

Then, for each scenario, Locust headless for a fixed time and user count (loopback only),
CSV and HTML stats in ``results/locust/<scenario>/``, and a summary in
``results/locust/summary.md``. The payload pool is generated first if missing.

Usage:
    .venv/bin/python load_tests/run.py [--scenarios sync,async,batch] [--duration 30] [--users N]
        [--embedded] [--keep-data]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PY = str(ROOT / ".venv" / "bin" / "python")
OUT = ROOT / "results" / "locust"
POOL = ROOT / "results" / "data" / "applications.jsonl"
API_KEY = "loadtest-key-0123456789abcdef"
REDIS_URL = os.environ.get("LOADTEST_REDIS_URL", "redis://127.0.0.1:6379/14")
ES_URL = os.environ.get("ELASTICSEARCH_URL", "http://127.0.0.1:9200")
PREFIX = "loadtest"
# scenario: (user class, users, spawn rate per second)
SCENARIOS = {"sync": ("SyncUser", 20, 10), "async": ("AsyncUser", 10, 5), "batch": ("BatchUser", 5, 5)}
MAX_DURATION_S = 300


def log(message: str) -> None:
    """Progress on stderr."""
    sys.stderr.write(f"[{datetime.now().strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def answers(url: str, timeout: float = 2.0) -> bool:
    """True when a GET of ``url`` answers 2xx."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


class Processes:
    """The children we start; ``stop_all`` ends them by process group, last started first."""

    def __init__(self) -> None:
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        """Start one child, its output in results/locust/logs/<name>.log."""
        (OUT / "logs").mkdir(parents=True, exist_ok=True)
        out = (OUT / "logs" / f"{name}.log").open("ab")
        log(f"starting {name}: {' '.join(argv)}")
        proc = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        out.close()
        self.started.append((name, proc))
        return proc

    def stop(self, name: str, timeout: float = 20.0) -> None:
        """SIGTERM to one child's process group, SIGKILL after ``timeout``."""
        for own, proc in self.started:
            if own != name or proc.poll() is not None:
                continue
            log(f"stopping {name} (pgid {proc.pid})")
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
            except ProcessLookupError:
                pass

    def stop_all(self) -> None:
        """Stop every child, last started first."""
        for name, _ in reversed(self.started):
            self.stop(name)


def wait_until(check: Any, what: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll ``check()`` until true; fail when the process died or after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not check():
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"{what}: the process exited with {proc.returncode} (see results/locust/logs/)")
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not ready after {timeout:.0f} s (see results/locust/logs/)")
        time.sleep(0.5)


def workers_registered() -> bool:
    """True once an RQ worker of the pool has registered in Redis."""
    from redis import Redis

    client = Redis.from_url(REDIS_URL)
    try:
        return bool(client.scard("rq:workers"))
    finally:
        client.close()


def es_request(method: str, path: str) -> Any:
    """A small Elasticsearch call (JSON answer, None on error)."""
    request = urllib.request.Request(ES_URL + path, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")
    except (urllib.error.URLError, OSError, ValueError):
        return None


def indexed_events() -> int | None:
    """Events indexed in the load-test indices."""
    answer = es_request("GET", f"/{PREFIX}-events-*/_count")
    return int(answer["count"]) if answer else None


def drop_data() -> None:
    """Delete the load-test indices (one by one: wildcard deletes may be refused) and flush Redis db 14."""
    indices = es_request("GET", f"/_cat/indices/{PREFIX}-*?format=json") or []
    for index in indices:
        es_request("DELETE", f"/{index['index']}")
    from redis import Redis

    client = Redis.from_url(REDIS_URL)
    client.flushdb()
    client.close()


def summarise(scenario: str, folder: Path) -> dict[str, Any]:
    """The Aggregated row (and the JOB rows) of Locust's stats CSV."""
    rows = list(csv.DictReader((folder / "stats_stats.csv").open()))
    keep = ("Type", "Name", "Request Count", "Failure Count", "Median Response Time", "95%", "99%",
            "Average Response Time", "Requests/s", "Failures/s")
    return {"scenario": scenario, "rows": [{k: r.get(k) for k in keep} for r in rows]}


def run_scenario(name: str, host: str, duration: int, users: int | None, env: dict[str, str]) -> dict[str, Any]:
    """One headless Locust run; CSV and HTML in results/locust/<name>/."""
    user_class, default_users, rate = SCENARIOS[name]
    folder = OUT / name
    folder.mkdir(parents=True, exist_ok=True)
    count = users or default_users
    argv = [str(ROOT / ".venv" / "bin" / "locust"), "-f", str(ROOT / "load_tests" / "locustfile.py"), "--headless",
            "-u", str(count), "-r", str(min(rate, count)), "-t", f"{duration}s", "--host", host,
            "--csv", str(folder / "stats"), "--html", str(folder / "report.html"), "--only-summary",
            "--stop-timeout", "10", "--loglevel", "WARNING", user_class]
    log(f"scenario {name}: {count} users ({user_class}) for {duration} s")
    before = indexed_events()
    started = time.monotonic()
    result = subprocess.run(argv, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True,
                            timeout=duration + 120)
    (folder / "locust.log").write_text(result.stdout + result.stderr)
    summary = summarise(name, folder)
    summary.update(exit_code=result.returncode, users=count, duration_s=duration,
                   wall_s=round(time.monotonic() - started, 1), loadavg=[round(x, 2) for x in os.getloadavg()])
    if before is not None:
        time.sleep(3)  # the indexer runs behind by up to a batch
        after = indexed_events()
        summary["events_indexed_during_run"] = None if after is None else after - before
    return summary


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", default="sync,async,batch")
    parser.add_argument("--duration", type=int, default=30, help=f"seconds per scenario (max {MAX_DURATION_S})")
    parser.add_argument("--users", type=int, help="users of every scenario (default: per scenario)")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--workers", type=int, default=2, help="RQ worker processes")
    parser.add_argument("--embedded", action="store_true", help="gateway alone, embedded mode (no servers)")
    parser.add_argument("--keep-data", action="store_true", help="keep the loadtest indices and Redis db 14")
    args = parser.parse_args(argv)
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown scenario(s) {unknown}; choose from {', '.join(SCENARIOS)}")
    duration = max(5, min(args.duration, MAX_DURATION_S))
    if not POOL.is_file():
        log("generating the application pool (python -m benchmarks.payloads) ...")
        subprocess.run([PY, "-m", "benchmarks.payloads"], cwd=ROOT, check=True)
    host = f"http://127.0.0.1:{args.port}"
    if answers(host + "/health/live") or answers(host + "/health/ready"):
        raise SystemExit(f"something already answers on {host}: choose another --port")
    procs = Processes()
    services_started = False
    var = OUT / "var"
    env = {"MODEL_DIR": os.environ.get("MODEL_DIR", str(ROOT / "models" / "default")), "API_KEYS": API_KEY,
           "PSEUDONYMISATION_KEY": "loadtest-pseudonymisation-key", "LOG_LEVEL": "WARNING",
           "SPOOL_DIR": str(var / "spool"), "SQLITE_PATH": str(var / "loadtest.sqlite3")}
    if not args.embedded:
        env.update(REDIS_URL=REDIS_URL, ELASTICSEARCH_URL=ES_URL, ES_INDEX_PREFIX=PREFIX)
    locust_env = {"LOCUST_API_KEY": API_KEY, "LOCUST_APPLICATIONS": str(POOL)}
    results = []
    try:
        es_up, redis_up = answers(ES_URL + "/_cluster/health"), redis_answers()
        if not args.embedded and not (es_up and redis_up):
            log("Redis or Elasticsearch is down: starting them (scripts/services.sh start)")
            subprocess.run(["bash", "scripts/services.sh", "start"], cwd=ROOT, check=True)
            # stop them at the end only if neither was up before: another process may use the other one
            services_started = not es_up and not redis_up
        module = "embedded" if args.embedded else "gateway"  # embedded: with its worker and indexer threads
        gateway = procs.start("gateway", [PY, "-m", module, "--port", str(args.port)], env)
        wait_until(lambda: answers(host + "/health/ready"), "gateway", 120, gateway)
        if not args.embedded:
            pool = procs.start("worker-pool", [PY, "-m", "worker", "pool", "--processes", str(args.workers)], env)
            wait_until(workers_registered, "worker pool", 120, pool)
            indexer = procs.start("indexer", [PY, "-m", "worker", "indexer"], {**env, "LOG_LEVEL": "INFO"})
            log_file = OUT / "logs" / "indexer.log"
            offset = log_file.stat().st_size if log_file.exists() else 0
            wait_until(lambda: "indexer ready" in log_file.read_text()[offset:], "indexer", 120, indexer)
        for name in scenarios:
            summary = run_scenario(name, host, duration, args.users, locust_env)
            results.append(summary)
            log(f"{name}: " + json.dumps(summary["rows"][-1]))
    finally:
        procs.stop_all()
        if not args.embedded and not args.keep_data:
            drop_data()
        if services_started:
            subprocess.run(["bash", "scripts/services.sh", "stop"], cwd=ROOT, check=False)
    write_summary(results, args, duration)
    return 0 if all(r["exit_code"] in (0, 1) for r in results) else 1


def redis_answers() -> bool:
    """True when Redis answers a PING."""
    from redis import Redis

    try:
        client = Redis.from_url(REDIS_URL, socket_timeout=2)
        ok = bool(client.ping())
        client.close()
        return ok
    except Exception:
        return False


def write_summary(results: list[dict[str, Any]], args: argparse.Namespace, duration: int) -> None:
    """results/locust/summary.json and summary.md."""
    command = " ".join([".venv/bin/python load_tests/run.py", *sys.argv[1:]])
    data = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "mode": "embedded" if args.embedded else "redis",
            "duration_s": duration, "scenarios": results, "command": command}
    (OUT / "summary.json").write_text(json.dumps(data, indent=2))
    lines = [f"# Locust scenarios ({data['mode']} mode, {duration} s each)\n",
             "| scenario | type | name | requests | failures | median ms | p95 ms | p99 ms | req/s |",
             "|---|---|---|---|---|---|---|---|---|"]
    def ms(value: str | None) -> str:
        return f"{float(value):.0f}" if value not in (None, "", "N/A") else "-"

    for result in results:
        for row in result["rows"]:
            lines.append(f"| {result['scenario']} | {row['Type']} | {row['Name']} | {row['Request Count']} | "
                         f"{row['Failure Count']} | {ms(row['Median Response Time'])} | {ms(row['95%'])} | "
                         f"{ms(row['99%'])} | {float(row['Requests/s'] or 0):.1f} |")
    for result in results:
        extra = {k: result.get(k) for k in ("users", "exit_code", "loadavg", "events_indexed_during_run")}
        lines.append(f"\n{result['scenario']}: {json.dumps(extra)}")
    lines.append(f"\nCommand: `{command}`\n")
    (OUT / "summary.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
