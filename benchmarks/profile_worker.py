"""Profile the async path's worker in-process: CPU per single-application job, and where it goes.

Enqueues ``--jobs`` single applications on a dedicated Redis database, as one RQ job
each (``--group-size 1``, the default) or coalesced ``--group-size`` at a time into group
jobs (as the gateway does), then runs one :class:`worker.pool.ScoringWorker` in burst
mode under cProfile: CPU microseconds per application, the Redis commands and round
trips per application (RQ's bookkeeping), the scoring's own share, and the top functions.

Usage:
    .venv/bin/python -m benchmarks.profile_worker [--jobs 2000] [--group-size 1] [--db 13] [--name NAME]
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

from benchmarks.common import bundle_dir, command_line, drop_streams, log, machine, write_results
from shared.jobs import JOB_SERIALIZER, SCORE_GROUP_JOB, SCORE_JOB, GroupJobArgs, iso_now
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
    parser.add_argument("--group-size", type=int, default=1, help="applications per group job (1: a job each)")
    parser.add_argument("--db", type=int, default=13, help="Redis database (flushed before and after)")
    parser.add_argument("--name", default="profile-worker")
    args = parser.parse_args()
    url = f"redis://127.0.0.1:6379/{args.db}"
    redis = Redis.from_url(url)
    redis.flushdb()
    settings = WorkerSettings(redis_url=url, model_dir=bundle_dir(), events_stream=STREAM, events_stream_maxlen=0)
    ScoringWorker.settings = settings
    queue = Queue(settings.queue_name, connection=redis, serializer=JOB_SERIALIZER)
    applications = synthetic_applications(300, seed=3)
    size = args.group_size
    for start in range(0, args.jobs, size):
        if size == 1:
            queue.enqueue_call(SCORE_JOB, kwargs={"applications": [applications[start % 300]], "single": True})
            continue
        members = range(start, min(start + size, args.jobs))
        group = GroupJobArgs(ids=[f"app-{i}" for i in members], applications=[applications[i % 300] for i in members],
                             request_ids=[None for _ in members], validation_ms=[0.1 for _ in members],
                             enqueued_at=[iso_now() for _ in members])
        queue.enqueue_call(SCORE_GROUP_JOB, kwargs=group.to_kwargs())
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
    _, group_s = _calls(stats, "worker/groups.py:score_group")
    top = io.StringIO()
    pstats.Stats(profile, stream=top).sort_stats("tottime").print_stats(20)
    n = args.jobs
    data: dict[str, Any] = {
        "machine": machine(), "applications": n, "group_size": size,
        "cpu_us_per_application": round(cpu / n * 1e6), "wall_ms_per_application": round(wall / n * 1e3, 3),
        "redis_commands_per_application": round(commands / n, 1),
        "round_trips_per_application": round(round_trips / n, 1),
        "job_function_share": round((scoring_s + group_s) / stats.total_tt, 3),  # type: ignore[attr-defined]
        "note": "CPU under cProfile (about 2x the unprofiled cost); the shares and counts are what matter",
        "command": command_line(),
    }
    lines = "\n".join(f"- {k}: {v}" for k, v in data.items() if k != "machine")
    markdown = f"{lines}\n\n```\n{top.getvalue()}```\n"
    write_results(args.name, data, markdown)
    log(str({k: v for k, v in data.items() if k != "machine"}))
    redis.flushdb()
    drop_streams(STREAM)


if __name__ == "__main__":
    main()
