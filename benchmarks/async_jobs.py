"""Async path benchmark: jobs/s of the worker pool and enqueue-to-finished latency at half that load.

Starts the gateway and the RQ worker pool (``--processes``) on Redis database 13, then:

1. saturation: wrk posts ``POST /v1/jobs`` (one application each) on ``--connections`` for
   ``--duration`` s; the jobs are then left to drain. Throughput = jobs finished / (last
   end - first start), from RQ's own timestamps in Redis (no polling in the figure);
2. half load: an asyncio + httpx client submits at a fixed rate (``--rate``, default half the
   measured throughput, at most 150/s, half of the 300 jobs/s target) for ``--duration`` s, open loop;
   enqueue-to-finished = RQ's ``ended_at - enqueued_at`` of those jobs (p50/p90/p99);
3. batch jobs: the same as 1 with ``{"applications": [20 applications]}``: applications/s.

Every run is repeated ``--repeats`` times; medians reported. Redis db 13 is flushed at the end.

Usage:
    .venv/bin/python -m benchmarks.async_jobs [--processes 2] [--duration 10] [--repeats 3] [--rate N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
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

REDIS_URL = "redis://127.0.0.1:6379/13"
QUEUE = "scoring"


def _parse(value: bytes | None) -> float | None:
    if not value:
        return None
    return datetime.strptime(value.decode(), "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def job_times(redis: Any, ids: list[str]) -> list[tuple[float, float, float]]:
    """(enqueued_at, started_at, ended_at) of each finished job, from its RQ hash."""
    pipe = redis.pipeline(transaction=False)
    for job_id in ids:
        pipe.hmget(f"rq:job:{job_id}", "enqueued_at", "started_at", "ended_at", "status")
    out = []
    for enq, start, end, status in pipe.execute():
        if status == b"finished" and enq and start and end:
            out.append((_parse(enq), _parse(start), _parse(end)))  # type: ignore[arg-type]
    return out


def finished_ids(redis: Any) -> set[str]:
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
    """Jobs/s over the processing window, and the latency figures (ms)."""
    if len(times) < 2:
        return {"jobs": len(times)}
    first_start = min(t[1] for t in times)
    last_end = max(t[2] for t in times)
    latency = [(t[2] - t[0]) * 1000 for t in times]
    return {"jobs": len(times), "jobs_per_s": round(len(times) / (last_end - first_start), 1),
            **{f"e2f_{k}_ms": round(v, 2) for k, v in percentiles(latency).items()}}


async def open_loop(url: str, bodies: list[bytes], rate: float, duration: float) -> tuple[list[str], float]:
    """Submit at a fixed rate (open loop); returns the job ids accepted and the rate achieved (the
    client may fall behind the schedule on a busy machine)."""
    import httpx

    ids: list[str] = []
    errors = 0
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10,
                                 headers={"X-API-Key": BENCH_API_KEY, "Content-Type": "application/json"}) as client:
        async def submit(body: bytes) -> None:
            nonlocal errors
            try:
                response = await client.post("/v1/jobs", content=body)
                if response.status_code == 202:
                    ids.append(response.json()["job_id"])
                else:
                    errors += 1
            except httpx.HTTPError:
                errors += 1

        tasks = []
        start = time.perf_counter()
        n = int(rate * duration)
        for i in range(n):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(submit(bodies[i % len(bodies)])))
        await asyncio.gather(*tasks)
        achieved = len(ids) / (time.perf_counter() - start)
    if errors:
        log(f"open loop: {errors} submissions failed")
    return ids, achieved


def batch_bodies(bodies: list[bytes], size: int, path: Path) -> Path:
    """A JSON-lines file of batch bodies of ``size`` applications."""
    with path.open("wb") as f:
        for k in range(0, len(bodies) - size + 1, size):
            f.write(b'{"applications":[' + b",".join(bodies[k:k + size]) + b"]}\n")
    return path


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, default=2, help="RQ worker processes")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rate", type=float, help="jobs/s of the half-load phase (default: half the throughput)")
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--name", default="async")
    args = parser.parse_args(argv)
    from redis import Redis

    paths = ensure_payloads()
    bodies = [line.rstrip(b"\n") for line in Path(paths["applications"]).open("rb")]
    batches = batch_bodies(bodies, args.batch_size, DATA_DIR / f"batches_{args.batch_size}.jsonl")
    redis = Redis.from_url(REDIS_URL)
    redis.flushdb()
    port = free_port()
    env = {"REDIS_URL": REDIS_URL, "MODEL_DIR": str(bundle_dir()), "API_KEYS": BENCH_API_KEY, "LOG_LEVEL": "WARNING",
           "SPOOL_DIR": str(ROOT / "results" / "bench" / "spool" / "async"), "EVENTS_STREAM_MAXLEN": "0"}
    gateway = Server("async-gateway", [str(VENV_PY), "-m", "gateway", "--port", str(port)], env,
                     ready_url=f"http://127.0.0.1:{port}/health/ready")
    pool = Server("async-worker-pool", [str(VENV_PY), "-m", "worker", "pool", "--processes", str(args.processes)],
                  env)
    url = f"http://127.0.0.1:{port}"
    runs: list[dict[str, Any]] = []
    try:
        gateway.start()
        pool.start()
        deadline = time.monotonic() + 120
        while redis.scard("rq:workers") < args.processes and time.monotonic() < deadline:
            time.sleep(0.5)
        log(f"{redis.scard('rq:workers')} workers registered")
        run_wrk(url, paths["applications"], 4, 2, path="/v1/jobs", api_key=BENCH_API_KEY)  # warm-up
        wait_drained(redis)
        for repeat in range(args.repeats):
            for kind, file in (("single", paths["applications"]), ("batch", batches)):
                before = finished_ids(redis)
                cpu0 = pool.cpu_seconds()
                submitted = run_wrk(url, file, args.connections, args.duration, path="/v1/jobs",
                                    api_key=BENCH_API_KEY)
                drained = wait_drained(redis)
                cpu = pool.cpu_seconds() - cpu0
                new = sorted(finished_ids(redis) - before)
                figures = throughput(job_times(redis, new))
                figures.update(kind=kind, phase="saturation", repeat=repeat, drained=drained,
                               submit_rps=submitted["rps"], submit_p99_ms=submitted["p99_ms"],
                               worker_cpu_ms_per_job=round(1000 * cpu / max(1, len(new)), 2),
                               loadavg1=submitted["loadavg1"])
                if kind == "batch":
                    figures["applications_per_s"] = round(figures.get("jobs_per_s", 0) * args.batch_size, 1)
                runs.append(figures)
                log(f"[{repeat + 1}] {kind} saturation: {figures}")
            best = median(r.get("jobs_per_s") for r in runs if r["kind"] == "single" and r["phase"] == "saturation")
            rate = args.rate or min(150.0, best / 2)
            ids, achieved = asyncio.run(open_loop(url, bodies, rate, args.duration))
            wait_drained(redis)
            figures = throughput(job_times(redis, ids))
            figures.update(kind="single", phase="half-load", rate=round(rate, 1), achieved_rate=round(achieved, 1),
                           repeat=repeat,
                           loadavg1=round(__import__("os").getloadavg()[0], 2))
            runs.append(figures)
            log(f"[{repeat + 1}] half load at {rate:.0f}/s: {figures}")
    finally:
        pool.stop()
        gateway.stop()
        redis.flushdb()
        redis.close()

    def med(kind: str, phase: str, key: str) -> float:
        return round(median(r.get(key) for r in runs if r["kind"] == kind and r["phase"] == phase), 2)

    summary = {
        "single_jobs_per_s": med("single", "saturation", "jobs_per_s"),
        "single_worker_cpu_ms_per_job": med("single", "saturation", "worker_cpu_ms_per_job"),
        "batch_jobs_per_s": med("batch", "saturation", "jobs_per_s"),
        "batch_applications_per_s": med("batch", "saturation", "applications_per_s"),
        "half_load_rate": med("single", "half-load", "rate"),
        "half_load_submitted_per_s": med("single", "half-load", "achieved_rate"),
        "half_load_jobs_per_s": med("single", "half-load", "jobs_per_s"),
        "half_load_e2f_p50_ms": med("single", "half-load", "e2f_p50_ms"),
        "half_load_e2f_p90_ms": med("single", "half-load", "e2f_p90_ms"),
        "half_load_e2f_p99_ms": med("single", "half-load", "e2f_p99_ms"),
    }
    summary["target_300_jobs_per_s"] = summary["single_jobs_per_s"] >= 300
    summary["target_p50_20ms"] = summary["half_load_e2f_p50_ms"] <= 20
    command = " ".join([".venv/bin/python -m benchmarks.async_jobs", *(argv if argv is not None else sys.argv[1:])])
    data = {"machine": machine(), "bundle": bundle_info(), "processes": args.processes, "summary": summary,
            "runs": runs, "command": command}
    markdown = (f"# Async path (RQ worker pool, {args.processes} processes)\n\nBundle `{data['bundle']['version']}`; "
                f"median of {args.repeats}; load average {data['machine']['loadavg']}.\n\n"
                + md_table(["figure", "value"], [[k, v] for k, v in summary.items()])
                + f"\nCommand: `{command}`\n")
    write_results(args.name, data, markdown)
    print(markdown)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
