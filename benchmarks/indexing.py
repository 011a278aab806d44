"""Indexing rate into Elasticsearch: repeats ``scripts/bench_indexing.py`` and takes medians.

That script (not duplicated here) measures, on a throw-away index prefix, the bulk rate of
``store.index_events`` and the end-to-end rate of the Indexer (Redis Stream -> consumer
group -> bulk -> XACK). This wrapper runs it ``--repeats`` times (``--sample 0``: its
sampling phase is not an indexing figure) and reports the medians against the
target (>= 5,000 events/s).

Usage:
    .venv/bin/python -m benchmarks.indexing [--repeats 3] [--events 20000] [--threads 2] [--batch-size 1000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

from benchmarks.common import ROOT, VENV_PY, log, machine, md_table, median, write_results


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--name", default="indexing", help="result file name under docs/results/")
    args = parser.parse_args(argv)
    script = ROOT / "scripts" / "bench_indexing.py"
    if not script.is_file():
        raise SystemExit(f"{script} is missing: it belongs to the storage part of the project")
    runs: list[dict[str, Any]] = []
    for repeat in range(args.repeats):
        argv_run = [str(VENV_PY), str(script), "--events", str(args.events), "--threads", str(args.threads),
                    "--batch-size", str(args.batch_size), "--sample", "0"]
        log(f"[{repeat + 1}/{args.repeats}] {' '.join(argv_run[1:])}")
        done = subprocess.run(argv_run, cwd=ROOT, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise SystemExit(f"bench_indexing.py failed: {done.stderr[-2000:]}")
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        figures["loadavg1"] = machine()["loadavg"][0]
        runs.append(figures)
        log(f"    {figures}")
    summary = {key: median(r.get(key) for r in runs) for key in ("bulk_events_per_s", "indexer_events_per_s")}
    summary["target_5000_events_per_s"] = summary["indexer_events_per_s"] >= 5000
    command = " ".join([".venv/bin/python -m benchmarks.indexing", *(argv if argv is not None else sys.argv[1:])])
    data = {"machine": machine(), "events": args.events, "threads": args.threads, "batch_size": args.batch_size,
            "summary": summary, "runs": runs, "command": command}
    markdown = (f"# Indexing into Elasticsearch\n\n{args.events} events per run, {args.threads} indexer consumers, "
                f"bulk of {args.batch_size}; median of {args.repeats}.\n\n"
                + md_table(["figure", "median", "runs"], [
                    [k, summary[k], ", ".join(str(r.get(k)) for r in runs)]
                    for k in ("bulk_events_per_s", "indexer_events_per_s")])
                + f"\nTarget >= 5,000 events/s (indexer): {summary['target_5000_events_per_s']}\n\n"
                + f"Command: `{command}`\n")
    write_results(args.name, data, markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
