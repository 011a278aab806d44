"""Profile the async path's worker in-process: CPU per single-application job, and where it goes.

Enqueues ``--jobs`` single-application scoring jobs (as ``POST /v1/jobs`` does) on a
dedicated Redis database, then runs one :class:`worker.pool.ScoringWorker` in burst
mode under cProfile: CPU microseconds per job, the Redis commands and round trips
per job (RQ's bookkeeping), the scoring's own share, and the top functions.

Usage:
    .venv/bin/python -m benchmarks.profile_worker [--jobs 2000] [--db 13]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time
from typing import Any

from redis import Redis
from rq import Queue

from benchmarks.common import bundle_dir, drop_streams, log, machine, write_results
from shared.jobs import JOB_SERIALIZER, SCORE_JOB
from tests.utils.data import synthetic_applications
from worker.pool import ScoringWorker
from worker.settings import WorkerSettings

STREAM = "bench:profile-worker:events"


def _calls(stats: pstats.Stats, part: str) -> tuple[int, float]:
    """(calls, cumulative seconds) of the profiled functions whose ``file:name`` contains ``part``."""
    calls, seconds = 0, 0.0
    for (filename, _, name), (_, ncalls, _, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        if part in f"{filename}:{name}":
            calls, seconds = calls + ncalls, seconds + cumtime
    return calls, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--db", type=int, default=13, help="Redis database (flushed before and after)")
    args = parser.parse_args()
    url = f"redis://127.0.0.1:6379/{args.db}"
    redis = Redis.from_url(url)
    redis.flushdb()
    settings = WorkerSettings(redis_url=url, model_dir=bundle_dir(), events_stream=STREAM, events_stream_maxlen=0)
    ScoringWorker.settings = settings
    queue = Queue(settings.queue_name, connection=redis, serializer=JOB_SERIALIZER)
    applications = synthetic_applications(300, seed=3)
    for i in range(args.jobs):
        queue.enqueue_call(SCORE_JOB, kwargs={"applications": [applications[i % 300]], "single": True})
    worker = ScoringWorker([queue], connection=redis)
    profile = cProfile.Profile()
    cpu, wall = time.process_time(), time.perf_counter()
    profile.enable()
    worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
    profile.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    stats = pstats.Stats(profile)
    commands, _ = _calls(stats, "redis/connection.py:pack")
    round_trips, _ = _calls(stats, "'sendall' of '_socket.socket'")
    _, scoring_s = _calls(stats, "worker/tasks.py:score_applications")
    top = io.StringIO()
    pstats.Stats(profile, stream=top).sort_stats("tottime").print_stats(20)
    n = args.jobs
    data: dict[str, Any] = {
        "machine": machine(), "jobs": n, "cpu_us_per_job": round(cpu / n * 1e6),
        "wall_ms_per_job": round(wall / n * 1e3, 2),
        "redis_commands_per_job": round(commands / n, 1), "round_trips_per_job": round(round_trips / n, 1),
        "score_applications_share": round(scoring_s / stats.total_tt, 3),  # type: ignore[attr-defined]
        "note": "CPU under cProfile (about 2x the unprofiled cost); the shares and counts are what matter",
    }
    lines = "\n".join(f"- {k}: {v}" for k, v in data.items() if k != "machine")
    markdown = f"{lines}\n\n```\n{top.getvalue()}```\n"
    write_results("profile-worker", data, markdown)
    log(str({k: v for k, v in data.items() if k != "machine"}))
    redis.flushdb()
    drop_streams(STREAM)


if __name__ == "__main__":
    main()
