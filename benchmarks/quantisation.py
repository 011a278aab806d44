"""Quantisation study of the tree ensemble: precision, binned inputs, fewer trees, compiled trees, ORT options.

For each bundle (``--bundle``, repeatable; default: models/default), every
variant of :mod:`benchmarks.tree_runtimes` scores the same held-out labelled
synthetic applications (``training.synthetic.generate``, a seed the model was
not trained on). Per variant: size on disk, single-row p50 latency (each of
``--single`` rows timed on its own), batch-1,000 throughput (median of
``--repeats`` passes), AUC, decisions changed against the bundle's shipped
model (``onnx enable_all``, what the scorer runs), and the approval rate by
``CODE_GENDER`` and age band (``shared.fairness``). Times are the model's
alone, from the encoded float32 matrix (the encoding is the same for all).

The gates a variant must pass to replace the shipped model: the same decision
on every held-out application, AUC within 0.001, every group's approval rate
within 0.5 point.

``--alternative DIR`` adds other builds of the model (``python -m training build
--num-leaves 15 ...``), each deciding with its own calibration and threshold, judged
against the first bundle's shipped model by the same gates.

Writes docs/results/quantisation.json and .md (``--output`` for another name).

Usage:
    .venv/bin/python -m benchmarks.quantisation [--bundle DIR ...] [--alternative DIR ...] [--only GROUPS]
        [--rows 20000] [--repeats 5] [--output PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.accuracy import auc
from benchmarks.common import ROOT, bundle_info, log, machine, md_table
from benchmarks.tree_runtimes import (
    Variant,
    alternative_variants,
    compiled_variants,
    precision_variants,
    shipped_variants,
    truncated_variants,
)

RESULTS = ROOT / "docs" / "results"
SHIPPED = "onnx enable_all"
GATES = {"decisions_changed": 0, "auc_diff": 0.001, "approval_rate_diff": 0.005}
GROUPS = ("ort-options", "precision", "fewer trees", "compiled", "reference")


def operator_facts() -> dict[str, Any]:
    """What the installed onnx's operator schemas say about tree ensembles and int8 quantisation.

    Int8 weight quantisation puts a ``DequantizeLinear`` in front of an
    operator's weight *input* (an initializer tensor of MatMul, Gemm, Conv).
    The tree operators have one input, X; their thresholds and leaf values are
    node *attributes*, typed float (or double, or float16 for TreeEnsemble-5).
    """
    import onnx
    import onnx.defs as defs

    facts: dict[str, Any] = {"onnx": onnx.__version__}
    for name, domain in (("TreeEnsembleRegressor", "ai.onnx.ml"), ("TreeEnsembleClassifier", "ai.onnx.ml"),
                         ("TreeEnsemble", "ai.onnx.ml"), ("DequantizeLinear", ""), ("MatMulInteger", "")):
        schema = defs.get_schema(name, domain=domain)
        facts[name] = {
            "since_version": schema.since_version,
            "inputs": [i.name for i in schema.inputs],
            "type_constraints": {t.type_param_str: list(t.allowed_type_strs) for t in schema.type_constraints},
            "value_attributes": {k: str(v.type).rsplit(".", 1)[-1] for k, v in schema.attributes.items()
                                 if any(w in k for w in ("values", "weights", "splits"))},
        }
    return facts


def single_row_p50_us(predict: Any, matrix: np.ndarray, rows: int) -> float:
    """Median wall µs of one call on one row, over ``rows`` rows."""
    for i in range(min(50, rows)):
        predict(matrix[i:i + 1])
    times = []
    for i in range(rows):
        row = matrix[i:i + 1]
        start = time.perf_counter_ns()
        predict(row)
        times.append(time.perf_counter_ns() - start)
    return round(statistics.median(times) / 1000, 1)


def batch_rows_per_s(predict: Any, matrix: np.ndarray, size: int, repeats: int) -> float:
    """Median over ``repeats`` passes of rows per second in batches of ``size``."""
    batches = [matrix[i:i + size] for i in range(0, len(matrix) - size + 1, size)]
    predict(batches[0])
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for batch in batches:
            predict(batch)
        rates.append(len(batches) * size / (time.perf_counter() - start))
    return round(statistics.median(rates))


def _rates(groups: list[str], approved: np.ndarray) -> dict[str, float]:
    from shared.fairness import group_metrics

    return {str(k): round(v["approval_rate"], 6) for k, v in group_metrics(groups, approved).items()}


def study(bundle: Path, rows: int, seed: int, single: int, repeats: int, alternatives: list[Path] | None = None,
          groups: set[str] | None = None) -> dict[str, Any]:
    """Every variant on one bundle."""
    import lightgbm as lgb

    from shared.columns import TARGET
    from shared.encoding import encode
    from shared.fairness import age_bands
    from shared.scorer import Scorer
    from training.data import to_records
    from training.synthetic import generate

    scorer = Scorer.load(bundle)
    frame = generate(rows, seed=seed)
    labels = frame[TARGET].to_numpy()
    matrix = encode(to_records(frame.drop(columns=[TARGET]), ints=True), scorer.state)
    genders = [str(g) for g in frame["CODE_GENDER"]]
    bands = age_bands(frame["DAYS_BIRTH"].tolist())
    booster = lgb.Booster(model_file=str(bundle / "model.txt"))
    wanted = groups or set(GROUPS)
    shipped = shipped_variants(bundle)
    variants: list[Variant] = shipped if "ort-options" in wanted else shipped[:1]  # the shipped one always
    if "precision" in wanted:
        variants += precision_variants(booster)
    if "fewer trees" in wanted:
        variants += truncated_variants(booster)
    if "compiled" in wanted:
        variants += compiled_variants(bundle, ROOT / "var" / "quantisation" / str(bundle_info(bundle)["version"]))
    if "reference" in wanted:
        variants.append(Variant("lightgbm booster", lambda m: booster.predict(m, num_threads=1),
                                (bundle / "model.txt").stat().st_size, "LightGBM's own predict (float64), 1 thread",
                                "reference"))
    if alternatives:
        variants += alternative_variants(alternatives, scorer.state.feature_names)
    results: dict[str, Any] = {}
    base: dict[str, Any] = {}
    for variant in variants:
        raw = np.asarray(variant.predict(matrix), dtype=np.float64).ravel()
        decider = variant.scorer or scorer
        p = decider.calibrate(raw)
        approved = p < decider.threshold
        entry: dict[str, Any] = {
            "group": variant.group, "what": variant.what, "size_bytes": variant.size_bytes,
            "single_row_p50_us": single_row_p50_us(variant.predict, matrix, single),
            "batch_1000_rows_per_s": batch_rows_per_s(variant.predict, matrix, 1000, repeats),
            "auc": round(auc(labels, p), 6), "approval_rate": round(float(approved.mean()), 6),
            "approval_by_gender": _rates(genders, approved), "approval_by_age_band": _rates(bands, approved),
            **variant.extra,
        }
        if variant.name == SHIPPED:
            base = {"p": p, "approved": approved, **entry}
        if base:
            entry["decisions_changed"] = int(np.sum(approved != base["approved"]))
            entry["max_abs_prob_diff"] = float(np.max(np.abs(p - base["p"])))
            entry["auc_diff"] = round(entry["auc"] - base["auc"], 6)
            entry["max_approval_rate_diff"] = round(max(
                abs(entry[key][g] - base[key][g]) for key in ("approval_by_gender", "approval_by_age_band")
                for g in base[key]), 6)
            entry["gates_hold"] = (entry["decisions_changed"] <= GATES["decisions_changed"]
                                   and abs(entry["auc_diff"]) <= GATES["auc_diff"]
                                   and entry["max_approval_rate_diff"] <= GATES["approval_rate_diff"])
        results[variant.name] = entry
        log(f"{bundle.name:22s} {variant.name:28s} p50 {entry['single_row_p50_us']:8.1f} µs, "
            f"{entry['batch_1000_rows_per_s']:>9,} rows/s, AUC {entry['auc']:.4f}, "
            f"changed {entry.get('decisions_changed')}")
    info = bundle_info(bundle)
    info["trees"] = booster.num_trees()
    return {"bundle": info, "loadavg_after": machine()["loadavg"], "variants": results}


def winner(result: dict[str, Any]) -> dict[str, Any]:
    """The fastest single-row variant among those that pass the gates, against the shipped one."""
    variants = result["variants"]
    passing = {k: v for k, v in variants.items() if v.get("gates_hold") and v["group"] != "reference"}
    best = min(passing, key=lambda k: passing[k]["single_row_p50_us"])
    base = variants[SHIPPED]
    return {"fastest_passing": best, "speedup_single_row": round(base["single_row_p50_us"]
                                                                  / passing[best]["single_row_p50_us"], 2),
            "speedup_batch": round(passing[best]["batch_1000_rows_per_s"] / base["batch_1000_rows_per_s"], 2)}


def markdown(data: dict[str, Any]) -> str:
    """The report."""
    parts = ["# Quantisation study of the tree ensemble\n",
             f"Machine: {data['machine']['cpu_model']}, {data['machine']['cpus']} cores, load average before "
             f"{data['machine']['loadavg']} (a shared machine: read the times with it). {data['rows']:,} held-out "
             f"labelled synthetic applications (seed {data['seed']}); single row: p50 of {data['single']:,} calls; "
             f"batch: median of {data['repeats']} passes. Gates: same decisions, |ΔAUC| <= 0.001, approval rate of "
             "every gender and age band within 0.5 point of the shipped model.\n"]
    for result in data["bundles"]:
        b = result["bundle"]
        parts.append(f"\n## Bundle `{b['version']}` ({b['trees']} trees)\n\nLoad average after: "
                     f"{result['loadavg_after']}. Winner under the gates: {json.dumps(result['winner'])}.\n\n")
        rows = []
        for name, v in result["variants"].items():
            rows.append([name, f"{v['size_bytes'] / 1024:,.0f}", f"{v['single_row_p50_us']:,.1f}",
                         f"{v['batch_1000_rows_per_s']:,}", f"{v['auc']:.4f}", v.get("decisions_changed", "-"),
                         f"{v.get('max_approval_rate_diff', 0) * 100:.2f}", "yes" if v.get("gates_hold") else "no"])
        parts.append(md_table(["variant", "size KiB", "1 row p50 µs", "batch 1,000 rows/s", "AUC",
                               "decisions changed", "max Δ approval (points)", "gates"], rows))
    parts.append(f"\nCommand: `{data['command']}`\n")
    return "".join(parts)


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", action="append", type=Path, help="bundle directory (repeatable)")
    parser.add_argument("--rows", type=int, default=20_000, help="held-out applications")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--single", type=int, default=2000, help="rows timed one at a time")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--alternative", action="append", type=Path, default=[],
                        help="another bundle (e.g. built with fewer leaves) judged against the first --bundle")
    parser.add_argument("--only", help=f"comma-separated groups of variants: {', '.join(GROUPS)} (default: all)")
    parser.add_argument("--output", type=Path, default=RESULTS / "quantisation")
    args = parser.parse_args(argv)
    bundles = args.bundle or [ROOT / "models" / "default"]
    data: dict[str, Any] = {"machine": machine(), "rows": args.rows, "seed": args.seed, "single": args.single,
                            "repeats": args.repeats, "gates": GATES, "bundles": [], "operators": operator_facts(),
                            "command": " ".join([".venv/bin/python -m benchmarks.quantisation",
                                                 *(argv if argv is not None else sys.argv[1:])])}
    for bundle in bundles:
        result = study(bundle, args.rows, args.seed, args.single, args.repeats,
                       args.alternative if bundle == bundles[0] else None,
                       set(args.only.split(",")) if args.only else None)
        result["winner"] = winner(result)
        data["bundles"].append(result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n")
    text = markdown(data)
    args.output.with_suffix(".md").write_text(text)
    log(f"wrote {args.output}.json and .md")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
