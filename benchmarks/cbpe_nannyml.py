"""This project's CBPE against NannyML's, on the same synthetic data.

Data: a calibrated reference (``--reference`` applications: probability of
default ``p`` drawn from a beta law, the outcome drawn with probability ``p``,
refused when ``p >= --threshold``), then an analysis period of ``--chunks``
chunks of ``--chunk`` applications:

- chunks 0-4, covariate shift: the applicants get riskier chunk by chunk (the
  beta law moves), the scores stay calibrated, CBPE should follow the realised figures;
- chunks 5-9, concept shift: the same applicants as the reference but they
  default 1.6 times as often as scored; no estimate from the scores can see it.

NannyML runs in its own virtualenv (``.nannyml-venv``, created with
``python3 -m venv .nannyml-venv && .nannyml-venv/bin/pip install nannyml==0.13.1 statsmodels``;
NannyML imports statsmodels without declaring it)
with its defaults (it calibrates the probabilities on the reference when it
finds them not calibrated) and the business value matrix of our costs; its
total business value per chunk, divided by the chunk's applications, is then
minus the cost per application. Its usage statistics are turned off
(``NANNYML_DISABLE_USAGE_LOGGING``): the machine may have no way out.

Usage:
    .venv/bin/python -m benchmarks.cbpe_nannyml [--reference 50000] [--chunk 5000] [--chunks 10]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.common import ROOT, command_line, log, machine, md_table, write_results
from monitoring.performance import cbpe, metrics

NANNYML_PY = ROOT / ".nannyml-venv" / "bin" / "python"
RUNNER = ROOT / "benchmarks" / "nannyml_runner.py"


def make_data(n_reference: int, chunk: int, chunks: int, threshold: float, seed: int) -> tuple[pd.DataFrame, ...]:
    """(reference, analysis) frames with columns ``p``, ``refused``, ``y``, ``kind``."""
    rng = np.random.default_rng(seed)

    def frame(p: np.ndarray, default_factor: float, kind: str) -> pd.DataFrame:
        y = rng.random(len(p)) < np.clip(p * default_factor, 0, 1)
        return pd.DataFrame({"p": p, "refused": (p >= threshold).astype(int), "y": y.astype(int), "kind": kind})

    reference = frame(rng.beta(0.7, 7.0, n_reference), 1.0, "reference")
    parts = []
    half = chunks // 2
    for k in range(chunks):
        if k < half:  # riskier applicants, still calibrated
            parts.append(frame(rng.beta(0.7 + 0.15 * k, 7.0 - 0.6 * k, chunk), 1.0, "covariate shift"))
        else:  # same applicants, more defaults than scored
            parts.append(frame(rng.beta(0.7, 7.0, chunk), 1.6, "concept shift"))
    return reference, pd.concat(parts, ignore_index=True)


def ours(analysis: pd.DataFrame, chunk: int, cost_fn: float, cost_fp: float) -> tuple[list[dict[str, Any]], float]:
    """Our estimate and the realised figures per chunk, and the seconds the estimates took."""
    rows, seconds = [], 0.0
    for k, start in enumerate(range(0, len(analysis), chunk)):
        part = analysis.iloc[start:start + chunk]
        p, refused, y = part["p"].to_numpy(), part["refused"].to_numpy().astype(bool), part["y"].to_numpy()
        started = time.perf_counter()
        auc = cbpe.expected_auc(p)
        cost = cbpe.expected_cost(p, refused, cost_fn, cost_fp)
        seconds += time.perf_counter() - started
        rows.append({"chunk": k, "kind": part["kind"].iloc[0], "auc": auc, "cost_per_application": cost,
                     "realised_auc": metrics.roc_auc(y, p),
                     "realised_cost": metrics.cost_per_application(y, refused, cost_fn, cost_fp)})
    return rows, seconds


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", type=int, default=50_000)
    parser.add_argument("--chunk", type=int, default=5_000)
    parser.add_argument("--chunks", type=int, default=10)
    parser.add_argument("--threshold", type=float, default=0.1)
    parser.add_argument("--cost-fn", type=float, default=metrics.COST_FN)
    parser.add_argument("--cost-fp", type=float, default=metrics.COST_FP)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not NANNYML_PY.exists():
        raise SystemExit(f"{NANNYML_PY} is missing: python3 -m venv .nannyml-venv && "
                         ".nannyml-venv/bin/pip install nannyml==0.13.1 statsmodels")
    reference, analysis = make_data(args.reference, args.chunk, args.chunks, args.threshold, args.seed)
    mine, my_seconds = ours(analysis, args.chunk, args.cost_fn, args.cost_fp)
    with tempfile.TemporaryDirectory() as folder:
        ref_csv, ana_csv, out = Path(folder, "reference.csv"), Path(folder, "analysis.csv"), Path(folder, "out.json")
        reference.drop(columns=["kind"]).to_csv(ref_csv, index=False, float_format="%.17g")
        analysis.drop(columns=["kind"]).to_csv(ana_csv, index=False, float_format="%.17g")
        log("NannyML CBPE ...")
        done = subprocess.run([str(NANNYML_PY), str(RUNNER), str(ref_csv), str(ana_csv), str(out), str(args.chunk),
                               str(args.cost_fn), str(args.cost_fp)], capture_output=True, text=True, timeout=900,
                              env={**os.environ, "NANNYML_DISABLE_USAGE_LOGGING": "1"})
        if done.returncode != 0:
            raise SystemExit(f"NannyML failed: {done.stderr[-3000:]}")
        theirs = json.loads(out.read_text())
    rows, table = [], []
    for m, t in zip(mine, theirs["chunks"], strict=True):
        row = {**m, "nannyml_auc": t["auc"], "nannyml_cost": t["cost_per_application"]}
        rows.append(row)
        table.append([m["chunk"], m["kind"], f"{m['realised_auc']:.4f}", f"{m['auc']:.4f}", f"{t['auc']:.4f}",
                      f"{m['realised_cost']:.4f}", f"{m['cost_per_application']:.4f}",
                      f"{t['cost_per_application']:.4f}"])
    shift = [r for r in rows if r["kind"] == "covariate shift"]
    summary = {
        "max_abs_diff_auc": max(abs(r["auc"] - r["nannyml_auc"]) for r in rows),
        "max_abs_diff_cost": max(abs(r["cost_per_application"] - r["nannyml_cost"]) for r in rows),
        "covariate_shift_mean_abs_error_auc": {
            "ours": float(np.mean([abs(r["auc"] - r["realised_auc"]) for r in shift])),
            "nannyml": float(np.mean([abs(r["nannyml_auc"] - r["realised_auc"]) for r in shift]))},
        "covariate_shift_mean_abs_error_cost": {
            "ours": float(np.mean([abs(r["cost_per_application"] - r["realised_cost"]) for r in shift])),
            "nannyml": float(np.mean([abs(r["nannyml_cost"] - r["realised_cost"]) for r in shift]))},
        "seconds": {"ours_estimates": my_seconds, "nannyml_fit_and_estimate": theirs["seconds"]},
    }
    results = {"command": command_line(), "machine": machine(), "nannyml": theirs["nannyml"], "args": vars(args),
               "summary": summary, "chunks": rows}
    s = summary
    markdown = (
        "# CBPE: this project's against NannyML's\n\n"
        f"`{results['command']}`; NannyML {theirs['nannyml']} in its own virtualenv, default settings, business "
        f"value matrix [[0, -{args.cost_fp:g}], [-{args.cost_fn:g}, 0]], its total per chunk over the chunk's "
        "applications (shown here as a cost per application). "
        f"Machine: {results['machine']['cpus']} CPUs, load average {results['machine']['loadavg']} (shared).\n\n"
        f"Reference {args.reference:,} calibrated applications; {args.chunks} chunks of {args.chunk:,}: the first "
        "half with riskier applicants (covariate shift, still calibrated), the second half defaulting 1.6 times "
        "as often as scored (concept shift, invisible to any estimate from the scores).\n\n"
        + md_table(["chunk", "period", "realised AUC", "our AUC", "NannyML AUC", "realised cost", "our cost",
                    "NannyML cost"], table)
        + f"\nLargest difference between the two estimates: AUC {s['max_abs_diff_auc']:.4f}, cost per application "
        f"{s['max_abs_diff_cost']:.4f}. Mean absolute error against the realised figures under covariate shift: "
        f"AUC ours {s['covariate_shift_mean_abs_error_auc']['ours']:.4f} / NannyML "
        f"{s['covariate_shift_mean_abs_error_auc']['nannyml']:.4f}; cost ours "
        f"{s['covariate_shift_mean_abs_error_cost']['ours']:.4f} / NannyML "
        f"{s['covariate_shift_mean_abs_error_cost']['nannyml']:.4f}. Time: ours {s['seconds']['ours_estimates']:.3f} s "
        f"for the estimates, NannyML {s['seconds']['nannyml_fit_and_estimate']:.2f} s to fit and estimate.\n"
    )
    write_results("cbpe-nannyml", results, markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
