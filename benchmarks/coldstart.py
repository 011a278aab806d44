"""Cold start: seconds from ``python -m gateway`` to the first 200 of ``/health/ready``.

The gateway starts as the image runs it (default bundle at ``MODEL_DIR``, the real
Redis, access log on), ``--repeats`` times, one after the other; readiness is polled
every 20 ms. The figure includes the interpreter's start, the imports, loading the
bundle (ONNX session, explanation evaluator) and connecting to Redis.

Usage:
    .venv/bin/python -m benchmarks.coldstart [--repeats 5] [--workers 1] [--name coldstart]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from benchmarks.common import (
    BENCH_API_KEY,
    VENV_PY,
    Server,
    bundle_dir,
    bundle_info,
    free_port,
    http_ok,
    log,
    machine,
    md_table,
    write_results,
)
from benchmarks.servers import REDIS_URL


def one_start(workers: int) -> float:
    """Seconds until ``/health/ready`` answers 200 (the process is stopped after)."""
    port = free_port()
    env = {"REDIS_URL": REDIS_URL, "MODEL_DIR": str(bundle_dir()), "API_KEYS": BENCH_API_KEY,
           "WEB_CONCURRENCY": str(workers), "EVENTS_STREAM": "bench:events:coldstart"}
    server = Server(f"coldstart-{port}", [str(VENV_PY), "-m", "gateway", "--port", str(port)], env)
    started = time.perf_counter()
    server.start()
    url = f"http://127.0.0.1:{port}/health/ready"
    try:
        while not http_ok(url, timeout=1.0):
            if server.proc is not None and server.proc.poll() is not None:
                raise RuntimeError(f"the gateway exited; see {server.log_path}")
            if time.perf_counter() - started > 60:
                raise RuntimeError("not ready after 60 s")
            time.sleep(0.02)
        return time.perf_counter() - started
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--name", default="coldstart")
    args = parser.parse_args(argv)
    runs = []
    for i in range(args.repeats):
        load = machine()["loadavg"][0]
        seconds = one_start(args.workers)
        runs.append({"ready_s": round(seconds, 3), "loadavg1": load})
        log(f"[{i + 1}/{args.repeats}] ready in {seconds:.2f} s (load {load})")
    median = statistics.median(r["ready_s"] for r in runs)
    command = " ".join([".venv/bin/python -m benchmarks.coldstart", *(argv if argv is not None else sys.argv[1:])])
    data = {"machine": machine(), "bundle": bundle_info(), "workers": args.workers, "runs": runs,
            "median_ready_s": median, "target_3s": median <= 3.0, "command": command}
    markdown = (f"# Cold start of the gateway\n\n`python -m gateway` (WEB_CONCURRENCY={args.workers}, bundle "
                f"`{data['bundle']['version']}`, real Redis) until `/health/ready` answers 200.\n\n"
                + md_table(["run", "ready (s)", "load avg (1 min)"],
                           [[i, r["ready_s"], r["loadavg1"]] for i, r in enumerate(runs, start=1)])
                + f"\nMedian {median:.2f} s (target 3 s: {'met' if median <= 3.0 else 'not met'}).\n\n"
                + f"Command: `{command}`\n")
    write_results(args.name, data, markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
