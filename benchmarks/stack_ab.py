"""The whole stack at another git revision against this tree's, run after run (``benchmarks.stack`` each).

Side A is ``REV`` extracted with ``git archive`` into a temporary folder (its own
``scripts/stack.sh``, Procfile and code; this tree's ``.venv`` and ``models``), side B
this tree. The runs alternate A, B, B, A, ... (``--pairs``), each measured exactly as
``python -m benchmarks.stack`` does; the report gives both sides' figures and the CPU
per stored event of each component, medians over the runs of a side. Both sides use
the same virtualenv: a change of dependencies is not part of the comparison.

Usage:
    .venv/bin/python -m benchmarks.stack_ab --before REV [--pairs 1] [--name stack-ab]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import stack_procs as procs
from benchmarks.common import ROOT, checkout, command_line, log, machine, md_table, median, write_results
from benchmarks.stack import TARGET_RPS, run_once
from benchmarks.wrk import ensure_wrk


def revision_tree(revision: str, into: Path) -> Path:
    """The tree of ``revision`` in ``into/src`` (git archive), with links to this tree's .venv and models."""
    target = checkout(revision, into)
    for name in (".venv", "models"):
        link = target / name
        if link.is_symlink():
            link.unlink()
        elif link.exists():
            shutil.rmtree(link)
        link.symlink_to((ROOT / name).resolve())
    return target


def per_event(run: dict[str, Any]) -> dict[str, float]:
    """CPU µs per stored event of each component."""
    events = run["events_stored"] or 1
    return {name: round(1e6 * seconds / events, 1) for name, seconds in run["cpu_s"].items()}


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, help="git revision of side A")
    parser.add_argument("--pairs", type=int, default=1, help="runs per side (alternating A B, B A, ...)")
    parser.add_argument("--duration", type=int, default=30)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--settle", type=float, default=100.0)
    parser.add_argument("--idle", type=float, default=10.0)
    parser.add_argument("--deadline", type=float, default=120.0)
    parser.add_argument("--name", default="stack-ab")
    args = parser.parse_args(argv)
    args.attach = args.attach_cwd = None
    ensure_wrk()
    runs: dict[str, list[dict[str, Any]]] = {"A": [], "B": []}
    with tempfile.TemporaryDirectory() as tmp:
        roots = {"A": revision_tree(args.before, Path(tmp)), "B": ROOT}
        for pair in range(args.pairs):
            for side in ("A", "B") if pair % 2 == 0 else ("B", "A"):
                log(f"pair {pair + 1}, side {side}: {roots[side]}")
                run, load, run_id = run_once(args, roots[side])
                run.update(loadavg_before=load, run_id=run_id)
                runs[side].append(run)
                log(f"side {side}: {run['rps_200']} stored/s, all stored after {run['stored_after_s']} s, "
                    f"CPU µs per event {per_event(run)}")
    summary: dict[str, dict[str, Any]] = {}
    for side, items in runs.items():
        costs = [per_event(r) for r in items]
        summary[side] = {
            "rps_200": median(r["rps_200"] for r in items),
            "p99_ms": median(r["wrk"]["p99_ms"] for r in items),
            "stored_after_s": median(r["stored_after_s"] for r in items if r["stored_after_s"] is not None),
            "lost": sum(r["lost"] for r in items),
            "cpu_us_per_event": {name: median(c.get(name, 0.0) for c in costs) for name in procs.COMPONENTS},
        }
    data = {"machine": machine(), "before": args.before, "pairs": args.pairs, "duration_s": args.duration,
            "connections": args.connections, "summary": summary, "runs": runs, "command": command_line()}
    a, b = summary["A"], summary["B"]
    total = {side: sum(summary[side]["cpu_us_per_event"].values()) for side in summary}
    rows = [[name, a["cpu_us_per_event"][name], b["cpu_us_per_event"][name]] for name in procs.COMPONENTS]
    rows.append(["**all of the stack**", round(total["A"], 1), round(total["B"], 1)])
    loads = ", ".join(f"{side} {r['loadavg_before'][0]}" for side in runs for r in runs[side])
    markdown = (
        f"# The whole stack: `{args.before}` (A) against this tree (B)\n\n`{data['command']}`\n\n"
        f"{args.pairs} run(s) per side, alternating, each `benchmarks.stack`: wrk {args.duration} s at "
        f"{args.connections} connections on `POST /v1/score`; medians. Load average before each run: {loads}.\n\n"
        + md_table(["figure", "A", "B"], [
            ["answered and stored per s", a["rps_200"], b["rps_200"]],
            ["p99 ms", a["p99_ms"], b["p99_ms"]],
            ["all stored after the load (s)", a["stored_after_s"], b["stored_after_s"]],
            ["lost", a["lost"], b["lost"]],
            [f"stored per s the stack's CPU would allow on {machine()['cpus']} cores",
             round(machine()["cpus"] * 1e6 / total["A"]), round(machine()["cpus"] * 1e6 / total["B"])],
            [f"cores for {TARGET_RPS:,}/s", round(total["A"] * TARGET_RPS / 1e6, 2),
             round(total["B"] * TARGET_RPS / 1e6, 2)],
        ])
        + "\n## CPU µs per stored event\n\n" + md_table(["component", "A", "B"], rows))
    write_results(args.name, data, markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
