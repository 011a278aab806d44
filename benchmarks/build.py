"""The model build, timed: wall clock, CPU, peak memory and the bundle's own figures.

Runs ``python -m training build --rows N`` into a scratch directory (MLflow off,
so no registry is touched), then writes ``docs/results/build.json`` and ``.md``:
the resources the build took and the metrics its ``metadata.json`` holds (AUC,
cost per application at the threshold, calibration, parity), so the docs quote
the figures of a build anyone can rerun.

Usage:
    .venv/bin/python -m benchmarks.build [--rows 100000] [--seed 0] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, log, machine, md_table, write_results


def _run_build(rows: int, seed: int, output: Path) -> dict[str, Any]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    env = {**os.environ, "MLFLOW_TRACKING_URI": ""}
    command = [sys.executable, "-m", "training", "build", "--rows", str(rows), "--seed", str(seed),
               "--output", str(output), "--no-mlflow"]
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"command": " ".join(command[1:]), "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            "peak_rss_mb": round(after.ru_maxrss / 1024, 0)}


def _figures(meta: dict[str, Any]) -> dict[str, Any]:
    metrics, oof = meta.get("metrics", {}), meta.get("metrics", {}).get("oof", {})
    holdout = metrics.get("holdout", {})
    return {
        "version": meta.get("version"),
        "rows": meta.get("data", {}).get("rows"),
        "target_rate": meta.get("data", {}).get("target_rate"),
        "auc_oof": oof.get("auc"),
        "auc_holdout": holdout.get("auc"),
        "cost_per_application_oof": oof.get("cost_per_application"),
        "cost_per_application_holdout": holdout.get("cost_per_application"),
        "cost_accept_all": oof.get("cost_accept_all"),
        "threshold": meta.get("threshold", {}).get("value"),
        "brier_calibrated": meta.get("calibration", {}).get("brier_calibrated"),
        "brier_raw": meta.get("calibration", {}).get("brier_raw"),
        "refusal_rate_holdout": holdout.get("refusal_rate"),
        "parity": meta.get("parity"),
        "timings_s": meta.get("timings_s"),
    }


def main(argv: list[str] | None = None) -> int:
    """Build once, write the result files."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="keep the bundle there instead of deleting it")
    args = parser.parse_args(argv)

    scratch = Path(tempfile.mkdtemp(prefix="bench-build-"))
    output = args.keep or scratch / "bundle"
    try:
        log(f"building {args.rows} rows into {output}")
        started = machine()
        resources = _run_build(args.rows, args.seed, output)
        figures = _figures(json.loads((output / "metadata.json").read_text()))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    data = {"machine_at_start": started, "machine_at_end": machine(), "build": resources, "bundle": figures}

    def fmt(value: Any) -> str:
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    rows = [(key, fmt(figures[key])) for key in ("rows", "target_rate", "auc_oof", "auc_holdout",
                                                  "cost_per_application_oof", "cost_per_application_holdout",
                                                  "cost_accept_all", "threshold", "brier_calibrated", "brier_raw",
                                                  "refusal_rate_holdout")]
    markdown = "\n".join([
        "# Model build",
        "",
        f"`{resources['command']}`, seed {args.seed}; load average at start {started['loadavg']}, "
        f"at end {data['machine_at_end']['loadavg']}; {started['cpus']} CPUs.",
        "",
        md_table(["resource", "value"], [("wall clock (s)", resources["wall_s"]), ("CPU (s)", resources["cpu_s"]),
                                         ("peak resident memory (MB)", resources["peak_rss_mb"])]),
        md_table(["bundle figure", "value"], rows),
        f"Parity: `{json.dumps(figures['parity'])}`",
        "",
        f"Stages (s): `{json.dumps(figures['timings_s'])}`",
        "",
        "Command: `.venv/bin/python -m benchmarks.build " + " ".join(argv or sys.argv[1:]) + "`",
        "",
    ])
    write_results("build", data, markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
