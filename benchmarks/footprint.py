"""Memory and CPU of each process of the stack, idle and under a fixed load.

What the Helm chart's requests and limits and docs/scaling.md are taken from.
Starts, on loopback ports and its own Redis stream, queue and index prefix:
the gateway (one uvicorn process), the worker pool (``--processes``), the
indexer, the monitoring scheduler and the dashboard; waits until they answer;
samples each process tree's resident memory (RSS, and USS: the memory only
that tree holds) idle; then sends sync applications at ``--rate`` per second
and single-application jobs at ``--job-rate`` per second for ``--duration``
seconds, and reports each tree's CPU seconds per second (cores) and peak RSS.
Then one drift run (``python -m monitoring drift``) on the events just
indexed, as its own process: peak RSS and CPU seconds.

Usage:
    .venv/bin/python -m benchmarks.footprint [--rate 200] [--job-rate 40] [--duration 30]

Writes ``docs/results/footprint.json`` and ``.md`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil

from benchmarks.common import (
    BENCH_API_KEY,
    ROOT,
    VENV_PY,
    Server,
    bundle_dir,
    bundle_info,
    command_line,
    free_port,
    log,
    machine,
    md_table,
)

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
ES_URL = os.environ.get("ELASTICSEARCH_URL", "http://127.0.0.1:9200")


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_memory(pid: int) -> dict[str, float]:
    """RSS and USS (MiB) of a process and its descendants, and how many processes."""
    rss = uss = 0.0
    procs = _tree(pid)
    for proc in procs:
        try:
            info = proc.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        rss += info.rss
        uss += info.uss
    return {"rss_mib": round(rss / 2**20, 1), "uss_mib": round(uss / 2**20, 1), "processes": len(procs)}


def tree_cpu(pid: int) -> float:
    """User + system CPU seconds of a process and its live descendants."""
    total = 0.0
    for proc in _tree(pid):
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _send(url: str, bodies: list[bytes], rate: float, duration: float, counts: dict[str, int]) -> None:
    """Open-loop sender: ``rate`` POSTs per second for ``duration`` seconds (four threads share it)."""
    interval = 4.0 / rate
    with httpx.Client(headers={"X-API-Key": BENCH_API_KEY, "Content-Type": "application/json"},
                      timeout=10.0) as client:
        start = time.monotonic()
        i = 0
        while (elapsed := time.monotonic() - start) < duration:
            target = i * interval
            if target > elapsed:
                time.sleep(target - elapsed)
            try:
                response = client.post(url, content=bodies[i % len(bodies)])
                counts["ok" if response.status_code < 300 else "failed"] += 1
            except httpx.HTTPError:
                counts["failed"] += 1
            i += 1


def drive(url: str, bodies: list[bytes], rate: float, duration: float) -> dict[str, int]:
    """Send ``rate`` requests per second to ``url`` for ``duration`` seconds from four threads."""
    counts = {"ok": 0, "failed": 0}
    if rate <= 0:
        return counts
    threads = [threading.Thread(target=_send, args=(url, bodies[k::4], rate, duration, counts)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return counts


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200.0, help="sync applications per second")
    parser.add_argument("--job-rate", type=float, default=40.0, help="async jobs per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    parser.add_argument("--processes", type=int, default=2, help="worker processes of the pool")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results", help="result directory")
    args = parser.parse_args(argv)

    from training.synthetic import generate_applications

    run_id = uuid.uuid4().hex[:8]
    prefix = f"footprint{run_id}"
    api_port, dash_port = free_port(), free_port()
    env = {"REDIS_URL": REDIS_URL, "ELASTICSEARCH_URL": ES_URL, "MODEL_DIR": str(bundle_dir()),
           "API_KEYS": BENCH_API_KEY, "EVENTS_STREAM": f"{prefix}:events", "QUEUE_NAME": prefix,
           "RQ_QUEUES": prefix, "ES_INDEX_PREFIX": prefix, "WEB_CONCURRENCY": "1", "LOG_LEVEL": "WARNING",
           "REPORTS_DIR": str(ROOT / "results" / prefix / "reports"),
           "SPOOL_DIR": str(ROOT / "results" / prefix / "spool"), "DASH_PORT": str(dash_port),
           "DASH_HOST": "127.0.0.1"}
    py = str(VENV_PY)
    servers = {
        "gateway": Server("fp-gateway", [py, "-m", "gateway", "--port", str(api_port), "--workers", "1"], env,
                          ready_url=f"http://127.0.0.1:{api_port}/health/ready"),
        "worker": Server("fp-worker", [py, "-m", "worker", "pool", "--processes", str(args.processes)], env),
        "indexer": Server("fp-indexer", [py, "-m", "worker", "indexer"], env),
        "scheduler": Server("fp-scheduler", [py, "-m", "monitoring", "schedule"], env),
        "dashboard": Server("fp-dashboard", [py, "-m", "monitoring", "dashboard"], env,
                            ready_url=f"http://127.0.0.1:{dash_port}/"),
    }
    bodies = [orjson.dumps(app) for app in generate_applications(2000, seed=11)]
    result: dict[str, Any] = {"command": command_line(), "bundle": bundle_info(), "machine_before": machine(),
                              "rate": args.rate, "job_rate": args.job_rate, "duration_s": args.duration,
                              "worker_processes": args.processes}
    for server in servers.values():  # logs beside the run's other files, not in docs/results
        server.log_path = ROOT / "results" / prefix / f"{server.name}.log"
    try:
        for server in servers.values():
            server.start(timeout_s=180)
        time.sleep(20)  # the worker pool and the scheduler load the model and Evidently after start
        result["idle"] = {name: tree_memory(s.pid) for name, s in servers.items()}
        log(f"idle: {result['idle']}")
        cpu0 = {name: tree_cpu(s.pid) for name, s in servers.items()}
        peak = {name: dict(mem) for name, mem in result["idle"].items()}
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(1.0):
                for name, s in servers.items():
                    mem = tree_memory(s.pid)
                    for key in ("rss_mib", "uss_mib"):
                        peak[name][key] = max(peak[name][key], mem[key])

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        base = f"http://127.0.0.1:{api_port}"
        started = time.monotonic()
        jobs: dict[str, int] = {}
        jobs_thread = threading.Thread(target=lambda: jobs.update(
            drive(f"{base}/v1/jobs", bodies, args.job_rate, args.duration)))
        jobs_thread.start()
        sync = drive(f"{base}/v1/score", bodies, args.rate, args.duration)
        jobs_thread.join()
        elapsed = time.monotonic() - started
        time.sleep(3)  # the indexer drains
        stop.set()
        sampler.join()
        cpu1 = {name: tree_cpu(s.pid) for name, s in servers.items()}
        result["load"] = {"seconds": round(elapsed, 1), "sync": sync, "jobs": jobs,
                          "sync_rps": round(sync["ok"] / elapsed, 1),
                          "jobs_per_s": round(jobs.get("ok", 0) / elapsed, 1)}
        result["under_load"] = {name: {"cores": round((cpu1[name] - cpu0[name]) / (elapsed + 3), 3), **peak[name]}
                                for name in servers}
        # CPU per unit of work: the gateway answers both kinds of request, each job is one event
        requests, job_count = sync["ok"] + jobs.get("ok", 0), jobs.get("ok", 0)
        result["cpu_ms_per_unit"] = {
            "gateway_per_request": round(1000 * (cpu1["gateway"] - cpu0["gateway"]) / max(1, requests), 3),
            "worker_per_job": round(1000 * (cpu1["worker"] - cpu0["worker"]) / max(1, job_count), 3),
            "indexer_per_event": round(1000 * (cpu1["indexer"] - cpu0["indexer"]) / max(1, requests), 3),
        }
        result["machine_after_load"] = machine()
        log(f"under load: {result['under_load']}")
        drift_env = {**os.environ, **env}
        start_cpu = time.monotonic()
        proc = subprocess.Popen([py, "-m", "monitoring", "drift", "--last", "5000", "--json"], cwd=ROOT,
                                env=drift_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        drift_peak = 0.0
        drift_cpu = 0.0
        while proc.poll() is None:
            drift_peak = max(drift_peak, tree_memory(proc.pid)["rss_mib"])
            drift_cpu = max(drift_cpu, tree_cpu(proc.pid))
            time.sleep(0.2)
        result["drift_run"] = {"exit_code": proc.returncode, "peak_rss_mib": drift_peak,
                               "cpu_s_sampled": round(drift_cpu, 2),
                               "wall_s": round(time.monotonic() - start_cpu, 1)}
        log(f"drift run: {result['drift_run']}")
    finally:
        for server in reversed(list(servers.values())):
            server.stop()
        _cleanup(prefix)
    write(args.out, result)
    return 0


def _cleanup(prefix: str) -> None:
    """Drop this run's stream, queue keys and indices (all named after the run)."""
    from redis import Redis

    try:
        client = Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(f"{prefix}*")) + list(client.scan_iter(f"rq:*{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()
        names = httpx.get(f"{ES_URL}/_cat/indices/{prefix}*?h=index", timeout=30).text.split()
        for name in names:  # one by one: the server refuses wildcard deletes
            httpx.delete(f"{ES_URL}/{name}", timeout=30)
    except Exception as exc:  # the result must not be lost to a clean-up failure
        log(f"clean-up failed: {exc}")


def write(out: Path, result: dict[str, Any]) -> None:
    """``footprint.json`` and ``footprint.md`` under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "footprint.json").write_text(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
    rows = []
    for name, idle in result["idle"].items():
        load = result["under_load"][name]
        rows.append([name, idle["processes"], idle["rss_mib"], idle["uss_mib"], load["rss_mib"], load["uss_mib"],
                     load["cores"]])
    load = result["load"]
    md = (f"# Per-process footprint\n\n`{result['command']}`, bundle {result['bundle']['version']}, "
          f"{result['machine_before']['cpus']} cores ({result['machine_before']['cpu_model']}), "
          f"load average before {result['machine_before']['loadavg']}, after the load "
          f"{result['machine_after_load']['loadavg']}.\n\n"
          f"Load: {load['sync_rps']} sync applications/s and {load['jobs_per_s']} jobs/s for {load['seconds']} s "
          f"(sync {load['sync']}, jobs {load['jobs']}).\n\n"
          + md_table(["process", "processes", "idle RSS MiB", "idle USS MiB", "peak RSS MiB under load",
                      "peak USS MiB under load", "cores used under load"], rows)
          + f"\nCPU per unit of work (ms): {result['cpu_ms_per_unit']} (the idle processes' own CPU included; "
          "the gateway's per request, sync and job submissions together; the indexer's per event).\n"
          + f"\nDrift run (`python -m monitoring drift --last 5000`): {result['drift_run']}\n")
    (out / "footprint.md").write_text(md)
    log(f"wrote {out / 'footprint.json'} and {out / 'footprint.md'}")


if __name__ == "__main__":
    raise SystemExit(main())
