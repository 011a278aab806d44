"""The whole stack on one box: scored *and stored* applications per second under wrk.

Starts the stack as ``make stack`` does (``scripts/stack.sh``: gateway with its
workers, the RQ pool, the indexer, the monitoring scheduler, the dashboard, against
the Redis and Elasticsearch of ``make services``), on free ports, with an index
prefix, an event stream and an RQ queue of its own for this run. Once everything
answers (and the scheduler's first drift and performance runs, 60 and 90 s after its
start, are behind it: ``--settle``), wrk posts the realistic applications of
``benchmarks.payloads`` to ``POST /v1/score`` for ``--duration`` s at
``--connections``. Then it polls until every event the gateway published is stored:
the indexer's consumer group has acknowledged the whole stream and a count of the
run's indices (refreshed) equals the events published. It reports req/s, p50/p99, the
seconds from the end of the load until all events were stored, events lost or written
twice (Elasticsearch's indexing operations beyond its documents), and the CPU seconds
of each component from the start of the load until all was stored, with the cores
each would need at the target rate.

Redis and Elasticsearch are the shared servers of ``make services``: their CPU seconds
include whatever else used them during the run; the machine's total busy time is given
beside the stack's, so that the share of other work is visible.

Usage:
    .venv/bin/python -m benchmarks.stack [--duration 30] [--connections 16] [--name stack]
    .venv/bin/python -m benchmarks.stack --attach http://127.0.0.1:8000 --api-key KEY \\
        --stream scoring:events --prefix scoring     # a stack started elsewhere (``make stack``)
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import stack_procs as procs
from benchmarks.common import (
    BENCH_API_KEY,
    RESULTS,
    ROOT,
    bundle_info,
    command_line,
    free_port,
    log,
    machine,
    md_table,
    write_results,
)
from benchmarks.payloads import ensure_payloads
from benchmarks.wrk import ensure_wrk, run_wrk

TARGET_RPS = 3500
TARGET_STORED_S = 5.0


def start_stack(run_id: str, port: int, dash_port: int, log_path: Path, settle_s: float,
                timeout_s: float = 240.0, root: Path = ROOT) -> subprocess.Popen[bytes]:
    """``scripts/stack.sh`` in its own session, its output in ``log_path``; returns once the stack is ready
    and its scheduler has been up ``settle_s`` seconds."""
    env = {**os.environ, "PORT": str(port), "DASH_PORT": str(dash_port), "API_KEYS": BENCH_API_KEY,
           "ES_INDEX_PREFIX": run_id, "EVENTS_STREAM": f"{run_id}:events", "QUEUE_NAME": run_id,
           "SPOOL_DIR": str(RESULTS / "bench" / run_id / "spool"), "REPORTS_DIR": str(RESULTS / "bench" / run_id)}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    out = log_path.open("ab")  # appending: the gateway writes its lines to it directly (scripts/stack.sh)
    log(f"starting the stack ({root}/scripts/stack.sh, prefix {run_id}, API port {port}); output in {log_path}")
    proc = subprocess.Popen(["bash", str(root / "scripts" / "stack.sh")], cwd=root, env=env, stdout=out,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    out.close()
    started = time.monotonic()
    while "stack ready in" not in log_path.read_text(errors="replace"):
        if proc.poll() is not None:
            raise RuntimeError(f"scripts/stack.sh exited with {proc.returncode}; see {log_path}")
        if time.monotonic() - started > timeout_s:
            stop_stack(proc)
            raise RuntimeError(f"the stack was not ready after {timeout_s:.0f} s; see {log_path}")
        time.sleep(0.5)
    log(f"stack ready after {time.monotonic() - started:.1f} s")
    wait = settle_s - (time.monotonic() - started)
    if wait > 0:
        log(f"waiting {wait:.0f} s more: the scheduler's first drift and performance runs come first")
        time.sleep(wait)
    return proc


def stop_stack(proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    """SIGTERM to scripts/stack.sh (it stops honcho and every process of the stack), SIGKILL to its group late."""
    if proc.poll() is not None:
        return
    log("stopping the stack")
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


class Counter:
    """The run's events: published (the stream), acknowledged (the indexer's group), stored (Elasticsearch)."""

    def __init__(self, redis_url: str, es_url: str, stream: str, prefix: str, group: str) -> None:
        from elasticsearch import Elasticsearch
        from redis import Redis

        self.redis = Redis.from_url(redis_url)
        self.es = Elasticsearch(es_url, request_timeout=30)
        self.stream, self.pattern, self.group = stream, f"{prefix}-events-*", group

    def published(self) -> int:
        """Entries ever added to the stream."""
        try:
            return int(self.redis.xinfo_stream(self.stream)["entries-added"])
        except Exception:  # no stream yet
            return 0

    def unacknowledged(self) -> int:
        """Entries the indexer's group has not acknowledged yet (pending + not yet delivered)."""
        for group in self.redis.xinfo_groups(self.stream):
            if group["name"].decode() == self.group:
                return int(group["pending"]) + int(group.get("lag") or 0)
        return self.published()

    def stored(self) -> int:
        """Documents in the run's event indices, after a refresh."""
        self.es.indices.refresh(index=self.pattern, ignore_unavailable=True, allow_no_indices=True)
        return int(self.es.count(index=self.pattern, ignore_unavailable=True, allow_no_indices=True)["count"])

    def index_operations(self) -> int:
        """Indexing operations Elasticsearch performed on the run's indices (a rewrite of a document counts)."""
        stats = self.es.indices.stats(index=self.pattern, metric="indexing")
        return int(stats["_all"]["primaries"].get("indexing", {}).get("index_total", 0))


def measure(url: str, counter: Counter, find: Callable[[], dict[int, str]], duration: int, connections: int,
            deadline_s: float, idle_s: float) -> dict[str, Any]:
    """wrk, then the wait until everything is stored; CPU seconds of each component over the whole span."""
    bodies = ensure_payloads()["applications"]
    processes = find()
    idle: dict[str, float] = {}
    if idle_s > 0:  # the stack without traffic: its idle cost, and the shared servers' other work
        cpu0, busy0 = procs.cpu_snapshot(processes), procs.machine_busy_seconds()
        time.sleep(idle_s)
        idle = procs.cpu_by_component(processes, cpu0, procs.cpu_snapshot(processes))
        idle = {name: round(seconds / idle_s, 3) for name, seconds in idle.items()}
        idle["machine"] = round((procs.machine_busy_seconds() - busy0) / idle_s, 3)
    published0, stored0 = counter.published(), counter.stored()
    cpu0, busy0 = procs.cpu_snapshot(processes), procs.machine_busy_seconds()
    started = time.monotonic()
    log(f"wrk: {duration} s at {connections} connections on {url}/v1/score")
    result = run_wrk(url, bodies, connections, duration, api_key=BENCH_API_KEY)
    load_end = time.monotonic()
    published = counter.published() - published0
    acked_at = stored_at = None
    stored = 0
    while time.monotonic() - load_end < deadline_s:
        published = counter.published() - published0
        if acked_at is None and counter.unacknowledged() == 0:
            acked_at = time.monotonic()
        if acked_at is not None:
            stored = counter.stored() - stored0
            if stored >= published:
                stored_at = time.monotonic()
                break
        time.sleep(0.1)
    else:
        stored = counter.stored() - stored0
    busy = procs.machine_busy_seconds() - busy0
    processes = {**find(), **processes}  # and those born during the run, counted from 0
    cpu = procs.cpu_by_component(processes, cpu0, procs.cpu_snapshot(processes))
    span = time.monotonic() - started
    cpu["wrk"] = round(result["wrk_cpu_pct"] * result["duration_s"] / 100, 2)
    answered = result["requests"] - result["non_2xx"]
    operations = counter.index_operations()
    return {
        "wrk": result, "answered_200": answered, "rps_200": round(answered / result["duration_s"], 1),
        "events_published": published, "events_stored": stored, "lost": max(0, published - stored),
        "written_twice": max(0, operations - (stored + stored0)),
        "acknowledged_after_s": None if acked_at is None else round(acked_at - load_end, 2),
        "stored_after_s": None if stored_at is None else round(stored_at - load_end, 2),
        "span_s": round(span, 1), "cpu_s": cpu, "machine_busy_s": round(busy, 1),
        "other_processes_cpu_s": round(busy - sum(cpu.values()), 1),
        "idle_cores": idle, "idle_s": idle_s,
    }


def cores_needed(run: dict[str, Any], rate: float = TARGET_RPS) -> dict[str, float]:
    """Cores each component uses per ``rate`` stored applications/s, from its CPU seconds per event."""
    events = run["events_stored"] or 1
    return {name: round(seconds / events * rate, 2) for name, seconds in run["cpu_s"].items()}


def report(run: dict[str, Any], args: argparse.Namespace, load: list[float], run_id: str) -> tuple[dict, str]:
    """The result (JSON) and its markdown page."""
    wrk, cores = run["wrk"], cores_needed(run)
    met = run["rps_200"] >= TARGET_RPS and (run["stored_after_s"] or 1e9) <= TARGET_STORED_S and not run["lost"]
    data = {"machine": machine(), "bundle": bundle_info(), "loadavg_before": load, "run_id": run_id,
            "duration_s": args.duration, "connections": args.connections, "attached": bool(args.attach),
            "run": run, "cores_at_target": cores, "target": {"rps": TARGET_RPS, "stored_within_s": TARGET_STORED_S},
            "target_met": met, "command": command_line()}
    events = run["events_stored"] or 1
    rows = [[name, run["cpu_s"].get(name, 0.0), round(1e6 * run["cpu_s"].get(name, 0.0) / events, 1),
             cores.get(name, 0.0)] for name in procs.COMPONENTS if name in run["cpu_s"]]
    rows.append(["**all of the stack**", round(sum(run["cpu_s"].values()), 2),
                 round(1e6 * sum(run["cpu_s"].values()) / events, 1), round(sum(cores.values()), 2)])
    markdown = (
        f"# The whole stack on one box\n\n`{data['command']}`\n\n"
        f"wrk {args.duration} s at {args.connections} connections on `POST /v1/score` (realistic applications of "
        f"`benchmarks.payloads`), every process of `make stack` on this machine "
        f"({data['machine']['cpus']} cores, {data['machine']['cpu_model']}); load average before the run "
        f"{load[0]}, after {data['machine']['loadavg'][0]}.\n\n"
        + md_table(["figure", "value"], [
            ["answered 200 per s", run["rps_200"]], ["p50 / p99 ms", f"{wrk['p50_ms']} / {wrk['p99_ms']}"],
            ["answered 200 / other statuses / socket errors",
             f"{run['answered_200']} / {wrk['non_2xx']} / {wrk['socket_errors']}"],
            ["events published / stored", f"{run['events_published']} / {run['events_stored']}"],
            ["lost / written twice", f"{run['lost']} / {run['written_twice']}"],
            ["all acknowledged by the indexer after the load (s)", run["acknowledged_after_s"]],
            ["all stored (counted in Elasticsearch) after the load (s)", run["stored_after_s"]],
            [f"target: >= {TARGET_RPS:,}/s, stored within {TARGET_STORED_S:g} s, none lost",
             "met" if met else "not met"],
        ])
        + f"\n## CPU by component\n\nFrom the start of the load until all was stored ({run['span_s']} s); "
        f"the machine was busy {run['machine_busy_s']} CPU s in that span, {run['other_processes_cpu_s']} of them "
        "in processes outside this list (other work on the machine). Redis and Elasticsearch are shared servers.\n\n"
        + md_table(["component", "CPU s", "CPU µs per stored event", f"cores at {TARGET_RPS:,}/s"], rows))
    if run.get("idle_cores"):
        idle = run["idle_cores"]
        markdown += (f"\n## Without traffic\n\nCores used by each component over {run['idle_s']:g} s just before the "
                     "load, the stack up and idle (Redis and Elasticsearch: including other work on these shared "
                     f"servers; the whole machine: {idle.get('machine')} cores).\n\n"
                     + md_table(["component", "cores"], [[name, idle[name]] for name in procs.COMPONENTS
                                                         if name in idle]))
    return data, markdown


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=30)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--settle", type=float, default=100.0,
                        help="seconds after the stack's start before the load (its scheduler's first runs)")
    parser.add_argument("--idle", type=float, default=10.0,
                        help="seconds measured without traffic before the load (the idle cost of each component)")
    parser.add_argument("--deadline", type=float, default=120.0, help="longest wait for the events after the load")
    parser.add_argument("--attach", help="base URL of a stack started elsewhere (no stack is started)")
    parser.add_argument("--api-key", default=BENCH_API_KEY, help="with --attach")
    parser.add_argument("--stream", default="scoring:events", help="with --attach: the event stream")
    parser.add_argument("--prefix", default="scoring", help="with --attach: the index prefix")
    parser.add_argument("--attach-cwd", help="with --attach: the folder the stack runs in (default: this tree)")
    parser.add_argument("--name", default="stack", help="result file name under docs/results/")
    args = parser.parse_args(argv)
    ensure_wrk()
    run, load, run_id = run_once(args)
    data, markdown = report(run, args, load, run_id)
    write_results(args.name, data, markdown)
    print(markdown)
    return 0


def run_once(args: argparse.Namespace, root: Path = ROOT) -> tuple[dict[str, Any], list[float], str]:
    """One measured run: the stack of ``root`` started (or the one of ``--attach``), loaded, stopped.

    Returns:
        The figures of :func:`measure`, the load average before the load, and the run's id (index prefix).
    """
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    es_url = os.environ.get("ELASTICSEARCH_URL", "http://127.0.0.1:9200")
    proc = None
    if args.attach:
        url, run_id, stream, prefix = args.attach.rstrip("/"), args.prefix, args.stream, args.prefix
    else:
        run_id = f"bench-stack-{int(time.time())}"
        stream, prefix, port = f"{run_id}:events", run_id, free_port()
        url = f"http://127.0.0.1:{port}"
        proc = start_stack(run_id, port, free_port(), RESULTS / "bench" / "logs" / f"{run_id}.log", args.settle,
                           root=root)
    counter = Counter(redis_url, es_url, stream, prefix, os.environ.get("INDEXER_GROUP", "indexer"))
    try:
        servers = procs.server_pids(redis_url, es_url)
        load = [round(x, 2) for x in os.getloadavg()]
        run = measure(url, counter, lambda: procs.stack_processes(proc.pid if proc else None, servers,
                                                                  str(args.attach_cwd or root)),
                      args.duration, args.connections, args.deadline, args.idle)
    finally:
        if proc is not None:
            stop_stack(proc)
            _clean(redis_url, es_url, run_id, stream)
    return run, load, run_id


def _clean(redis_url: str, es_url: str, prefix: str, stream: str) -> None:
    """Drop the run's indices, template and Redis keys (best effort: the figures are already taken)."""
    try:
        from redis import Redis

        from shared.store.elastic import ElasticsearchEventStore

        store = ElasticsearchEventStore(es_url, prefix)
        store.drop_all()
        store.close()
        client = Redis.from_url(redis_url)
        keys = [stream, *client.scan_iter(match=f"{prefix}:*", count=1000), *client.scan_iter(match=f"rq:*{prefix}*")]
        if keys:
            client.delete(*keys)
    except Exception as exc:
        log(f"clean-up of {prefix} incomplete: {exc}")


if __name__ == "__main__":
    sys.exit(main())
