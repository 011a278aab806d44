"""Profile the running gateway under load with py-spy: where the Python CPU goes, HTTP server included.

Starts the gateway (real Redis, events handed off), drives it with wrk at ``--connections``
for ``--duration`` s and samples it with ``py-spy record --gil`` (only the thread holding
the GIL: CPU spent in Python, not waits). Writes the raw stacks, the top functions by
self and by inclusive share, to ``results/profile/live-<tag>.*``.

``--native`` adds the C frames (``py-spy record --native``: orjson, ONNX Runtime, uvloop,
httptools); ``--source REV`` profiles the gateway of another git revision (``gateway/`` and
``shared/`` extracted with ``git archive``, as ``benchmarks.ab`` does).

Usage:
    .venv/bin/python -m benchmarks.live_profile [--duration 15] [--connections 32] [--tag current] [--env K=V]
        [--native] [--source REV]
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.ab import SOURCES
from benchmarks.common import (
    BENCH_API_KEY,
    RESULTS,
    bundle_dir,
    bundle_info,
    checkout,
    drop_streams,
    free_port,
    log,
    machine,
    md_table,
    write_results,
)
from benchmarks.payloads import ensure_payloads
from benchmarks.request_budget import budget, table
from benchmarks.servers import gateway
from benchmarks.wrk import run_wrk

PROFILE_DIR = RESULTS / "profile"
RATE = 250  # py-spy samples per second


def _frame(frame: str) -> str:
    """``function (file.py:line)`` -> ``function (file.py)``."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0].rsplit('/', 1)[-1]})" if where else name


def aggregate(raw: Path, top: int = 30) -> tuple[list[tuple[str, float]], list[tuple[str, float]], int]:
    """(inclusive shares, self shares, samples) of a py-spy raw (collapsed stacks) file."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_frame(f) for f in stack.split(";")]
        for name in set(frames):
            inclusive[name] += n
        own[frames[-1]] += n
    share = (lambda c: [(k, round(100 * v / total, 1)) for k, v in c.most_common(top)]) if total else (lambda c: [])
    return share(inclusive), share(own), total


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--tag", default="current")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the gateway")
    parser.add_argument("--native", action="store_true", help="C frames too (py-spy --native)")
    parser.add_argument("--source", help="git revision of the gateway to profile (default: the work tree)")
    args = parser.parse_args(argv)
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        raise SystemExit("py-spy is not installed (pip install py-spy; it is in the dev extra)")
    PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    raw = PROFILE_DIR / f"live-{args.tag}.txt"
    port = free_port()
    bodies = ensure_payloads()["applications"]
    env = dict(item.split("=", 1) for item in args.env)
    server = gateway(port, 1, stream="bench:events:profile", **env)
    with tempfile.TemporaryDirectory(prefix="live-profile-") as tmp:
        if args.source:
            source = checkout(args.source, Path(tmp), *SOURCES)
            server.cwd = source
            server.env = {**server.env, "PYTHONPATH": str(source), "MODEL_DIR": str(bundle_dir())}
        with server:
            url = f"http://127.0.0.1:{port}"
            run_wrk(url, bodies, 8, 3, api_key=BENCH_API_KEY)
            spy_argv = [spy, "record", "--pid", str(server.pid), "--duration", str(args.duration), "--rate", str(RATE),
                        "--gil", "--format", "raw", "-o", str(raw)]
            # --native reads the C stacks, which needs the process paused at each sample
            spy_argv += ["--native"] if args.native else ["--nonblocking"]
            sampler = subprocess.Popen(spy_argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            load = run_wrk(url, bodies, args.connections, args.duration + 1, api_key=BENCH_API_KEY, server=server)
            sampler.wait(120)
    drop_streams("bench:events:profile")
    inclusive, own, samples = aggregate(raw)
    log(f"{samples} samples; {load['rps']} req/s during the profile")
    steps, counted = budget(raw, _frame)
    cpu_us = load.get("server_cpu_us_per_req")
    rows = table(steps, counted, cpu_us)
    command = " ".join([".venv/bin/python -m benchmarks.live_profile", *(argv if argv is not None else sys.argv[1:])])
    data = {"machine": machine(), "bundle": bundle_info(), "samples": samples, "load": load, "inclusive": inclusive,
            "self": own, "raw": str(raw), "budget": [{"step": step, "share_pct": share, "us_per_request": us}
                                                     for step, share, us in rows],
            "command": command}
    markdown = (f"# Live profile of the gateway ({args.tag})\n\npy-spy --gil, {samples} samples over {args.duration} s "
                f"at {args.connections} connections ({load['rps']} req/s, load average {load['loadavg1']}).\n\n"
                "Self (% of GIL-holding samples):\n\n" + "\n".join(f"- {v}% {k}" for k, v in own[:20])
                + "\n\nInclusive:\n\n" + "\n".join(f"- {v}% {k}" for k, v in inclusive[:30])
                + f"\n\nWhere a request's {cpu_us} µs of server CPU go (each step's share of the samples "
                "times the CPU per request of the run, `benchmarks.request_budget`):\n\n"
                + md_table(["step", "% of samples", "µs per request"], rows)
                + f"\n\nCommand: `{command}`\n")
    write_results(f"live-profile-{args.tag}", data, markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
