"""Async path benchmark: single-application jobs/s, enqueue-to-finished at half load, batch jobs.

Starts the gateway (``python -m gateway``, one process) and the RQ worker pool
(``--processes``) on a Redis database of their own, then, per variant and repeat:

1. single saturation: wrk posts ``POST /v1/jobs`` (one application each) on ``--connections``
   for ``--duration`` s; the queue is then left to drain. Jobs/s = applications finished /
   (last end - first start), from the timestamps in Redis (RQ's job hash, or a coalesced
   application's own record), not from polling;
2. half load: an asyncio client submits single applications at a fixed rate (``--rate``,
   default 300/s: half the 600 jobs/s target) for ``--duration`` s, open loop;
   enqueue-to-finished = ``ended_at - enqueued_at`` of each application (p50/p90/p99);
3. batch saturation: as 1 with ``{"applications": [--batch-size applications]}``: jobs/s and applications/s.

The CPU of the gateway and of the pool per application is reported too (less sensitive to
neighbours than the rates). With ``--before REV`` the gateway and workers of git revision REV
(``gateway/``, ``shared/``, ``worker/``) run as variant "before" beside the work tree's
("after"), each on its own database, interleaved repeat by repeat. Medians are reported;
each database is flushed before and after.

Usage:
    .venv/bin/python -m benchmarks.async_jobs [--before main] [--processes 2] [--duration 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.common import (
    BENCH_API_KEY,
    DATA_DIR,
    ROOT,
    VENV_PY,
    Server,
    bundle_dir,
    bundle_info,
    checkout,
    free_port,
    log,
    machine,
    md_table,
    median,
    percentiles,
    write_results,
)
from benchmarks.payloads import ensure_payloads
from benchmarks.wrk import run_wrk

REDIS = "redis://127.0.0.1:6379"
QUEUE = "scoring"
APPLICATION_KEY = "scoring:application:{}"  # shared.jobs.application_key (not imported: "before" may lack it)
GROUP_JOB = "worker.groups.score_group"
TIME_FIELDS = ("enqueued_at", "started_at", "ended_at", "status")


def _parse(value: bytes | None) -> float | None:
    if not value:
        return None
    return datetime.strptime(value.decode(), "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def application_times(redis: Any, ids: list[str]) -> list[tuple[float, float, float]]:
    """(enqueued_at, started_at, ended_at) of each finished application: its own record, else its RQ job."""
    pipe = redis.pipeline(transaction=False)
    for job_id in ids:
        pipe.hmget(APPLICATION_KEY.format(job_id), *TIME_FIELDS)
        pipe.hmget(f"rq:job:{job_id}", *TIME_FIELDS)
    replies = pipe.execute()
    out = []
    for record, job in zip(replies[::2], replies[1::2], strict=True):
        enq, start, end, status = record if record[3] else job
        if status == b"finished" and enq and start and end:
            out.append((_parse(enq), _parse(start), _parse(end)))  # type: ignore[arg-type]
    return out


def finished_applications(redis: Any, job_ids: list[str]) -> list[str]:
    """The application ids behind finished RQ jobs: a group job's applications, or the job itself."""
    from rq.job import Job
    from rq.serializers import JSONSerializer

    out: list[str] = []
    for job in Job.fetch_many(job_ids, connection=redis, serializer=JSONSerializer):
        if job is None:
            continue
        out.extend((job.kwargs.get("ids") or []) if job.func_name == GROUP_JOB else [job.id])
    return out


def finished_jobs(redis: Any) -> set[str]:
    """Ids in the finished-job registry of the queue."""
    return {m.decode() for m in redis.zrange(f"rq:finished:{QUEUE}", 0, -1)}


def wait_drained(redis: Any, timeout: float = 180.0) -> bool:
    """Wait until the queue is empty and no job is running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not redis.llen(f"rq:queue:{QUEUE}") and not redis.zcard(f"rq:wip:{QUEUE}") \
                and not redis.zcard(f"rq:started:{QUEUE}"):
            return True
        time.sleep(0.2)
    return False


def throughput(times: list[tuple[float, float, float]]) -> dict[str, Any]:
    """Applications/s over the processing window, and the enqueue-to-finished figures (ms)."""
    if len(times) < 2:
        return {"jobs": len(times)}
    first_start = min(t[1] for t in times)
    last_end = max(t[2] for t in times)
    latency = [(t[2] - t[0]) * 1000 for t in times]
    wait = percentiles([(t[1] - t[0]) * 1000 for t in times], (50,))["p50"]
    run = percentiles([(t[2] - t[1]) * 1000 for t in times], (50,))["p50"]
    return {"jobs": len(times), "jobs_per_s": round(len(times) / (last_end - first_start), 1),
            **{f"e2f_{k}_ms": round(v, 2) for k, v in percentiles(latency).items()},
            "wait_p50_ms": round(wait, 2), "run_p50_ms": round(run, 2)}


class _Connection:
    """One keep-alive HTTP/1.1 connection: a request written, its answer read (no pipelining)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def post(self, head: bytes, body: bytes) -> tuple[int, bytes]:
        self.writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
        header = await self.reader.readuntil(b"\r\n\r\n")
        status = int(header[9:12])
        length = 0
        for line in header.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, await self.reader.readexactly(length)


async def open_loop(url: str, bodies: list[bytes], rate: float, duration: float) -> tuple[list[str], float]:
    """Submit at a fixed rate (open loop); the job ids accepted and the rate achieved.

    A minimal HTTP/1.1 client on asyncio streams with a pool of keep-alive connections:
    a general-purpose client (httpx) cannot send 300 requests/s from one core here.
    """
    host, port = url.removeprefix("http://").split(":")
    head = (f"POST /v1/jobs HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {BENCH_API_KEY}\r\n"
            "Content-Type: application/json\r\nContent-Length: ").encode()
    idle: list[_Connection] = []
    ids: list[str] = []
    errors = 0

    async def submit(body: bytes) -> None:
        nonlocal errors
        connection = idle.pop() if idle else _Connection(*await asyncio.open_connection(host, int(port)))
        try:
            status, answer = await connection.post(head, body)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            errors += 1
            connection.writer.close()
            return
        idle.append(connection)
        if status == 202:
            ids.append(json.loads(answer)["job_id"])
        else:
            errors += 1

    tasks = []
    start = time.perf_counter()
    for i in range(int(rate * duration)):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(submit(bodies[i % len(bodies)])))
    await asyncio.gather(*tasks)
    achieved = len(ids) / (time.perf_counter() - start)
    for connection in idle:
        connection.writer.close()
    if errors:
        log(f"open loop: {errors} submissions failed")
    return ids, achieved


def batch_bodies(bodies: list[bytes], size: int, path: Path) -> Path:
    """A JSON-lines file of batch bodies of ``size`` applications."""
    with path.open("wb") as f:
        for k in range(0, len(bodies) - size + 1, size):
            f.write(b'{"applications":[' + b",".join(bodies[k:k + size]) + b"]}\n")
    return path


SOURCES = ("gateway", "shared", "worker")  # what a before revision runs from


class Variant:
    """One gateway and its worker pool on a database of their own."""

    def __init__(self, label: str, db: int, processes: int, source: Path | None, env_extra: dict[str, str]) -> None:
        self.label, self.processes = label, processes
        from redis import Redis

        url = f"{REDIS}/{db}"
        self.redis = Redis.from_url(url)
        self.redis.flushdb()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {"REDIS_URL": url, "MODEL_DIR": str(bundle_dir()), "API_KEYS": BENCH_API_KEY, "LOG_LEVEL": "WARNING",
               "SPOOL_DIR": str(ROOT / "results" / "bench" / "spool" / f"async-{label}"),
               "EVENTS_STREAM": f"bench:events:async-{label}", "EVENTS_STREAM_MAXLEN": "0", **env_extra}
        if source is not None:
            env["PYTHONPATH"] = str(source)
        self.gateway = Server(f"async-gateway-{label}", [str(VENV_PY), "-m", "gateway", "--port", str(self.port)],
                              env, ready_url=f"{self.url}/health/ready", cwd=source or ROOT)
        self.pool = Server(f"async-pool-{label}", [str(VENV_PY), "-m", "worker", "pool", "--processes",
                                                   str(processes)], env, cwd=source or ROOT)

    def start(self, bodies: Path) -> None:
        self.gateway.start()
        self.pool.start()
        deadline = time.monotonic() + 120
        while self.redis.scard("rq:workers") < self.processes and time.monotonic() < deadline:
            time.sleep(0.5)
        run_wrk(self.url, bodies, 4, 2, path="/v1/jobs", api_key=BENCH_API_KEY)  # warm-up
        wait_drained(self.redis)

    def cpu(self) -> tuple[float, float]:
        return self.gateway.cpu_seconds(), self.pool.cpu_seconds()

    def stop(self) -> None:
        self.pool.stop()
        self.gateway.stop()
        self.redis.flushdb()
        self.redis.close()

    def saturation(self, kind: str, file: Path, connections: int, duration: int, batch_size: int) -> dict[str, Any]:
        before = finished_jobs(self.redis)
        cpu0 = self.cpu()
        submitted = run_wrk(self.url, file, connections, duration, path="/v1/jobs", api_key=BENCH_API_KEY)
        drained = wait_drained(self.redis)
        cpu = [b - a for a, b in zip(cpu0, self.cpu(), strict=True)]
        new = sorted(finished_jobs(self.redis) - before)
        if kind == "single":
            applications = finished_applications(self.redis, new)
            figures = throughput(application_times(self.redis, applications))
            figures["rq_jobs"] = len(new)
        else:
            figures = throughput(application_times(self.redis, new))
            figures["applications_per_s"] = round(figures.get("jobs_per_s", 0) * batch_size, 1)
        count = max(1, figures["jobs"] * (batch_size if kind == "batch" else 1))
        figures.update(kind=kind, phase="saturation", drained=drained, submit_rps=submitted["rps"],
                       submit_p99_ms=submitted["p99_ms"], gateway_cpu_us_per_application=round(1e6 * cpu[0] / count),
                       pool_cpu_us_per_application=round(1e6 * cpu[1] / count), loadavg1=submitted["loadavg1"])
        return figures

    def half_load(self, bodies: list[bytes], rate: float, duration: int) -> dict[str, Any]:
        ids, achieved = asyncio.run(open_loop(self.url, bodies, rate, duration))
        wait_drained(self.redis)
        figures = throughput(application_times(self.redis, ids))
        figures.update(kind="single", phase="half-load", rate=round(rate, 1), achieved_rate=round(achieved, 1),
                       loadavg1=round(os.getloadavg()[0], 2))
        return figures


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the repeats of one variant, and the targets."""
    def med(kind: str, phase: str, key: str) -> float | None:
        values = [r[key] for r in runs if r["kind"] == kind and r["phase"] == phase and r.get(key) is not None]
        return round(median(values), 2) if values else None

    summary: dict[str, Any] = {
        "single_jobs_per_s": med("single", "saturation", "jobs_per_s"),
        "single_rq_jobs": med("single", "saturation", "rq_jobs"),
        "single_jobs": med("single", "saturation", "jobs"),
        "single_gateway_cpu_us_per_application": med("single", "saturation", "gateway_cpu_us_per_application"),
        "single_pool_cpu_us_per_application": med("single", "saturation", "pool_cpu_us_per_application"),
        "half_load_rate": med("single", "half-load", "rate"),
        "half_load_submitted_per_s": med("single", "half-load", "achieved_rate"),
        "half_load_e2f_p50_ms": med("single", "half-load", "e2f_p50_ms"),
        "half_load_e2f_p90_ms": med("single", "half-load", "e2f_p90_ms"),
        "half_load_e2f_p99_ms": med("single", "half-load", "e2f_p99_ms"),
        "batch_jobs_per_s": med("batch", "saturation", "jobs_per_s"),
        "batch_applications_per_s": med("batch", "saturation", "applications_per_s"),
        "batch_gateway_cpu_us_per_application": med("batch", "saturation", "gateway_cpu_us_per_application"),
        "batch_pool_cpu_us_per_application": med("batch", "saturation", "pool_cpu_us_per_application"),
    }
    summary["target_600_jobs_per_s"] = (summary["single_jobs_per_s"] or 0) >= 600
    summary["target_p50_20ms_at_300"] = (summary["half_load_e2f_p50_ms"] or 1e9) <= 20 \
        and (summary["half_load_submitted_per_s"] or 0) >= 0.95 * 300
    return summary


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", help="git revision run beside the work tree (variant 'before')")
    parser.add_argument("--processes", type=int, default=2, help="RQ worker processes")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rate", type=float, default=300.0, help="applications/s of the half-load phase")
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--db", type=int, default=13, help="Redis database of the work tree (flushed)")
    parser.add_argument("--db-before", type=int, default=5, help="Redis database of --before (flushed)")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the work tree's servers")
    parser.add_argument("--name", default="async_jobs")
    args = parser.parse_args(argv)

    paths = ensure_payloads()
    bodies = [line.rstrip(b"\n") for line in Path(paths["applications"]).open("rb")]
    batches = batch_bodies(bodies, args.batch_size, DATA_DIR / f"batches_{args.batch_size}.jsonl")
    runs: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="async-before-") as tmp:
        variants = []
        if args.before:
            source = checkout(args.before, Path(tmp), *SOURCES)
            variants.append(Variant("before", args.db_before, args.processes, source, {}))
        variants.append(Variant("after", args.db, args.processes, None, dict(e.split("=", 1) for e in args.env)))
        try:
            for variant in variants:
                variant.start(Path(paths["applications"]))
                runs[variant.label] = []
            for repeat in range(args.repeats):
                for variant in variants:
                    for kind, file in (("single", Path(paths["applications"])), ("batch", batches)):
                        figures = variant.saturation(kind, file, args.connections, args.duration, args.batch_size)
                        runs[variant.label].append({**figures, "repeat": repeat})
                        log(f"[{repeat + 1}] {variant.label} {kind} saturation: {figures}")
                    figures = variant.half_load(bodies, args.rate, args.duration)
                    runs[variant.label].append({**figures, "repeat": repeat})
                    log(f"[{repeat + 1}] {variant.label} half load at {args.rate:.0f}/s: {figures}")
        finally:
            for variant in variants:
                variant.stop()
    summaries = {label: summarise(mine) for label, mine in runs.items()}
    command = " ".join([".venv/bin/python -m benchmarks.async_jobs", *(argv if argv is not None else sys.argv[1:])])
    data = {"machine": machine(), "bundle": bundle_info(), "processes": args.processes, "before": args.before,
            "env": args.env, "summary": summaries, "runs": runs, "command": command}
    labels = list(summaries)
    keys = list(summaries[labels[0]])
    markdown = (f"# Async path (one gateway process, RQ worker pool of {args.processes})\n\n"
                f"Bundle `{data['bundle']['version']}`; {args.repeats} interleaved repeats of {args.duration} s, "
                f"medians; wrk at {args.connections} connections; half load at {args.rate:.0f}/s; "
                f"before = `{args.before}`, after = the work tree {args.env or ''}; load average "
                f"{data['machine']['loadavg']} (per run: `loadavg1` in the JSON).\n\n"
                + md_table(["figure", *labels], [[k, *(summaries[lb][k] for lb in labels)] for k in keys])
                + f"\nCommand: `{command}`\n")
    write_results(args.name, data, markdown)
    print(markdown)
    print(json.dumps(summaries))
    return 0


if __name__ == "__main__":
    sys.exit(main())
