"""A promotion and a rollback while wrk loads the gateway: failed requests and latency around the swaps.

Starts the gateway (``--workers`` uvicorn processes, real Redis) on the default
bundle, runs wrk at ``--connections`` for ``--duration`` s, and during the run
publishes a new champion (a copy of the bundle under another version), then
the previous one again, exactly as ``python -m training promote`` and
``rollback`` do (the Redis key and channel of :mod:`shared.champion`). A second
wrk run of the same length without any swap gives the baseline. Writes
``docs/results/promotion.{json,md}``: requests, non-2xx answers, socket
errors, p50/p99, and which versions ``GET /v1/model`` reported.

Usage:
    .venv/bin/python -m benchmarks.promotion [--connections 32] [--duration 20] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import redis

from benchmarks.common import (
    BENCH_API_KEY,
    bundle_info,
    drop_streams,
    free_port,
    log,
    machine,
    md_table,
    renamed_bundle,
    write_results,
)
from benchmarks.payloads import ensure_payloads
from benchmarks.servers import REDIS_URL, gateway
from benchmarks.wrk import run_wrk
from shared.champion import CHAMPION_CHANNEL, CHAMPION_KEY, ChampionNotice

STREAM = "bench:promotion:events"



def _model_version(port: int) -> str | None:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/model", headers={"X-API-Key": BENCH_API_KEY})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return str(json.loads(response.read())["model_version"])
    except OSError:
        return None


def _swaps(client: redis.Redis, bundles: list[tuple[str, Path]], port: int, at: list[float],
           seen: list[tuple[float, str | None]]) -> None:
    start = time.monotonic()
    for (registry_version, bundle), when in zip(bundles, at, strict=True):
        time.sleep(max(0.0, start + when - time.monotonic()))
        notice = ChampionNotice(registry_version, bundle.as_uri(), "promote").to_json()
        client.set(CHAMPION_KEY, notice)
        client.publish(CHAMPION_CHANNEL, notice)
        log(f"published champion v{registry_version} at {time.monotonic() - start:.1f} s")
        for _ in range(8):
            time.sleep(0.5)
            seen.append((time.monotonic() - start, _model_version(port)))


def main(argv: list[str] | None = None) -> int:
    """Run the baseline and the swapping run, write the result files."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    bodies = ensure_payloads()["applications"]
    client = redis.Redis.from_url(REDIS_URL)
    scratch = Path(tempfile.mkdtemp(prefix="bench-promotion-"))
    original = bundle_info()["version"]
    candidate = renamed_bundle(scratch, f"{original}-candidate")
    previous = renamed_bundle(scratch, str(original))
    port = free_port()
    runs: dict[str, Any] = {}
    seen: list[tuple[float, str | None]] = []
    try:
        client.delete(CHAMPION_KEY)
        with gateway(port, workers=args.workers, stream=STREAM) as server:
            url = f"http://127.0.0.1:{port}"
            runs["no swap"] = run_wrk(url, bodies, args.connections, args.duration, api_key=BENCH_API_KEY,
                                      server=server)
            swapper = threading.Thread(target=_swaps, args=(
                client, [("2", candidate), ("1", previous)], port,
                [args.duration * 0.3, args.duration * 0.65], seen))
            swapper.start()
            runs["promotion then rollback"] = run_wrk(url, bodies, args.connections, args.duration,
                                                      api_key=BENCH_API_KEY, server=server)
            swapper.join()
    finally:
        client.delete(CHAMPION_KEY)
        drop_streams(STREAM)
        shutil.rmtree(scratch, ignore_errors=True)
    versions = sorted({v for _, v in seen if v})
    data = {"machine": machine(), "bundle": bundle_info(), "connections": args.connections,
            "workers": args.workers, "runs": runs, "versions_seen": versions, "model_versions_over_time": seen}
    rows = [(name, r["requests"], r["non_2xx"], r["socket_errors"], r["rps"], r["p50_ms"], r["p99_ms"],
             r["loadavg1"]) for name, r in runs.items()]
    markdown = "\n".join([
        "# Promotion and rollback under load",
        "",
        f"Gateway with {args.workers} uvicorn processes, wrk at {args.connections} connections for "
        f"{args.duration} s per run; bundle {original}. During the second run a new champion is published "
        f"at 30 % of the run and the previous one again at 65 %.",
        "",
        md_table(["run", "requests", "non-2xx", "socket errors", "req/s", "p50 ms", "p99 ms", "load (1 min)"], rows),
        f"Versions `GET /v1/model` reported during the swaps: {', '.join(versions) or 'none'}.",
        "",
        "Command: `.venv/bin/python -m benchmarks.promotion " + " ".join(argv or []) + "`",
        "",
    ])
    write_results("promotion", data, markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
