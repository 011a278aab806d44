"""A/B of the gateway: the working tree against another git revision (or another environment).

Both gateways run at once (real Redis, events handed off), and wrk hits them in turn,
``--repeats`` times, ``--duration`` s each at ``--connections``: a burst of load from
elsewhere hits both alike. The figure to read on a shared machine is the server CPU
per request (median, and in how many of the pairs B was cheaper), beside req/s and p99.

Usage:
    .venv/bin/python -m benchmarks.ab --before HEAD~1 [--repeats 5] [--duration 8] [--connections 32]
    .venv/bin/python -m benchmarks.ab --env-b ACCESS_LOG=false          # same code, another setting
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import (
    BENCH_API_KEY,
    RESULTS,
    bundle_dir,
    checkout,
    drop_streams,
    free_port,
    log,
    machine,
    md_table,
    median,
    write_results,
)
from benchmarks.payloads import ensure_payloads
from benchmarks.servers import gateway
from benchmarks.wrk import run_wrk

SOURCES = ("gateway", "shared")  # the packages the gateway runs from, taken from another revision


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", help="git revision of variant A (default: the work tree, like B)")
    parser.add_argument("--env-a", action="append", default=[], help="KEY=VALUE for A")
    parser.add_argument("--env-b", action="append", default=[], help="KEY=VALUE for B")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--name", default="ab")
    args = parser.parse_args(argv)
    bodies = ensure_payloads()["applications"]
    logs = RESULTS / "bench" / "logs"
    with tempfile.TemporaryDirectory(prefix="gateway-ab-") as tmp:
        variants = {}
        for label, env_items in (("A", args.env_a), ("B", args.env_b)):
            port = free_port()
            server = gateway(port, 1, stream=f"bench:events:ab-{label}", **dict(i.split("=", 1) for i in env_items))
            server.name, server.log_path = f"ab-{label}", logs / f"{args.name}-{label}.log"
            server.log_path.parent.mkdir(parents=True, exist_ok=True)
            server.log_path.unlink(missing_ok=True)
            if label == "A" and args.before:
                source = checkout(args.before, Path(tmp), *SOURCES)
                server.cwd = source
                server.env = {**server.env, "PYTHONPATH": str(source), "MODEL_DIR": str(bundle_dir())}
            variants[label] = (server, port)
        runs: dict[str, list[dict[str, Any]]] = {"A": [], "B": []}
        try:
            for server, port in variants.values():
                server.start()
                run_wrk(f"http://127.0.0.1:{port}", bodies, 8, 2, api_key=BENCH_API_KEY)
            for repeat in range(args.repeats):
                for label, (server, port) in variants.items():
                    run = run_wrk(f"http://127.0.0.1:{port}", bodies, args.connections, args.duration,
                                  api_key=BENCH_API_KEY, server=server)
                    runs[label].append(run)
                    log(f"[{repeat + 1}/{args.repeats}] {label}: {run['rps']} req/s, p99 {run['p99_ms']} ms, "
                        f"{run['server_cpu_us_per_req']} us/req, load {run['loadavg1']}")
        finally:
            for server, _ in variants.values():
                server.stop()
            drop_streams("bench:events:ab-A", "bench:events:ab-B")
    summary: dict[str, Any] = {}
    for label, mine in runs.items():
        text = variants[label][0].log_path.read_text() if variants[label][0].log_path else ""  # type: ignore[union-attr]
        summary[label] = {key: median(r[key] for r in mine) for key in ("rps", "p50_ms", "p99_ms",
                                                                        "server_cpu_us_per_req")}
        summary[label]["log_lines_per_request"] = round(text.count("\n") / max(1, sum(r["requests"] for r in mine)), 2)
    summary["B_cheaper_pairs"] = sum(b["server_cpu_us_per_req"] < a["server_cpu_us_per_req"]
                                     for a, b in zip(runs["A"], runs["B"], strict=True))
    command = " ".join([".venv/bin/python -m benchmarks.ab", *(argv if argv is not None else sys.argv[1:])])
    data = {"machine": machine(), "before": args.before or "work tree", "env_a": args.env_a, "env_b": args.env_b,
            "summary": summary, "runs": runs, "command": command}
    rows = [[label, f["rps"], f["p50_ms"], f["p99_ms"], f["server_cpu_us_per_req"], f["log_lines_per_request"]]
            for label, f in summary.items() if isinstance(f, dict)]
    markdown = (f"# A/B of the gateway\n\nA = {args.before or 'work tree'} {args.env_a or ''}, B = work tree "
                f"{args.env_b or ''}; {args.repeats} x {args.duration} s at {args.connections} connections, "
                f"medians; load average {data['machine']['loadavg']}.\n\n"
                + md_table(["variant", "req/s", "p50 ms", "p99 ms", "server CPU µs/req", "log lines/request"], rows)
                + f"\nB used less CPU per request in {summary['B_cheaper_pairs']} of {args.repeats} pairs.\n\n"
                + f"Command: `{command}`\n")
    write_results(args.name, data, markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
