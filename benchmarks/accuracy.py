"""Accuracy and bias check of the serving path: run it before and after any change to the hot path.

Scores labelled synthetic applications (``training.synthetic.generate``, a seed the
model was not trained on) through the serving path (``Scorer.score_batch``: the
encoding and the ONNX model) and writes:

- AUC, refusal rate, and each application's probability and decision (as a digest);
- approval rate by CODE_GENDER and by age band (from DAYS_BIRTH);
- parity with an independent path (pandas encoding + LightGBM booster, then the bundle's
  calibration as the scorer applies it) and with the
  scores the bundle stored at build time for its reference sample (``reference.jsonl.gz``).

``--save-baseline`` keeps the figures in ``docs/results/accuracy-baseline.json``; a later
run compares with it: same decisions, max |Δp|, ΔAUC, Δ approval rates. ``--encode-from FILE``
scores with the ``encode`` of another copy of ``shared/encoding.py`` (e.g. the previous
version: ``git show HEAD~1:shared/encoding.py > /tmp/encoding_old.py``), for the "before" figures.

Usage:
    .venv/bin/python -m benchmarks.accuracy [--rows 20000] [--seed 2024] [--save-baseline] [--encode-from FILE]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import BENCH_DIR, bundle_dir, bundle_info, log, machine, write_results

AGE_BANDS = ((0, 25), (25, 35), (35, 45), (45, 55), (55, 65), (65, 200))
BASELINE = BENCH_DIR / "accuracy-baseline.json"


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC by the rank statistic (ties averaged), no scikit-learn needed."""
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    positives = labels == 1
    n_pos, n_neg = positives.sum(), (~positives).sum()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def approval_rates(groups: list[Any], approved: np.ndarray) -> dict[str, dict[str, float]]:
    """Approval rate and count per group value."""
    out = {}
    for value in sorted({str(g) for g in groups}):
        mask = np.array([str(g) == value for g in groups])
        out[value] = {"n": int(mask.sum()), "approval_rate": round(float(approved[mask].mean()), 6)}
    return out


def age_band(days_birth: float) -> str:
    """``"25-35"``... from DAYS_BIRTH (negative days)."""
    years = -days_birth / 365.25
    for low, high in AGE_BANDS:
        if low <= years < high:
            return f"{low}-{high}" if high < 200 else f"{low}+"
    return "unknown"


def _patch_encode(path: Path) -> None:
    """Score with the ``encode`` of another copy of shared/encoding.py."""
    import shared.scorer

    spec = importlib.util.spec_from_file_location("encoding_under_test", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["encoding_under_test"] = module
    spec.loader.exec_module(module)
    shared.scorer.encode = lambda rows, state: module.encode(rows, module.EncodingState.from_dict(state.to_dict()))


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--save-baseline", action="store_true")
    parser.add_argument("--encode-from", type=Path, help="another shared/encoding.py to score with")
    parser.add_argument("--name", default="accuracy")
    args = parser.parse_args(argv)
    import lightgbm as lgb
    import pandas as pd

    from benchmarks.peer import pandas_encode
    from shared.columns import TARGET
    from shared.scorer import Scorer
    from training.data import to_records
    from training.synthetic import generate

    if args.encode_from:
        _patch_encode(args.encode_from)
    path = bundle_dir()
    scorer = Scorer.load(path)
    log(f"generating {args.rows} labelled applications (seed {args.seed}) ...")
    frame = generate(args.rows, seed=args.seed)
    labels = frame[TARGET].to_numpy()
    apps = to_records(frame.drop(columns=[TARGET]), ints=True)
    results = scorer.score_batch(apps)
    p = np.array([r.probability for r in results])
    approved = np.array([r.decision == "approved" for r in results])
    independent = lgb.Booster(model_file=str(path / "model.txt")).predict(
        pandas_encode(pd.DataFrame(apps), scorer.state).to_numpy(), num_threads=1)
    calibrate = getattr(scorer, "calibrate", None)  # the bundle's calibration, when the scorer applies one
    if calibrate is not None:
        independent = np.asarray(calibrate(independent))
    with gzip.open(path / "reference.jsonl.gz", "rt") as f:
        reference = [json.loads(line) for line in f]
    stored = np.array([r.pop("score") for r in reference], dtype=np.float64)
    rescored = np.array([r.probability for r in scorer.score_batch(reference)])
    decisions = "".join("A" if a else "R" for a in approved)
    data: dict[str, Any] = {
        "machine": machine(), "bundle": bundle_info(path), "rows": args.rows, "seed": args.seed,
        "encode_from": str(args.encode_from) if args.encode_from else "shared/encoding.py",
        "auc": round(auc(labels, p), 6), "refusal_rate": round(float(1 - approved.mean()), 6),
        "decisions_sha256": hashlib.sha256(decisions.encode()).hexdigest(),
        "probabilities_sha256": hashlib.sha256(np.round(p, 7).tobytes()).hexdigest(),
        "approval_by_gender": approval_rates(frame["CODE_GENDER"].tolist(), approved),
        "approval_by_age_band": approval_rates([age_band(d) for d in frame["DAYS_BIRTH"]], approved),
        "parity_vs_pandas_lightgbm": {
            "max_abs_diff": float(np.max(np.abs(p - independent))),
            "decision_mismatches": int(np.sum((independent >= scorer.threshold) != ~approved))},
        "parity_vs_bundle_reference_scores": {
            "rows": len(reference), "max_abs_diff": float(np.max(np.abs(rescored - stored))),
            "decision_mismatches": int(np.sum((rescored >= scorer.threshold) != (stored >= scorer.threshold)))},
        "command": " ".join([".venv/bin/python -m benchmarks.accuracy", *(argv if argv is not None else sys.argv[1:])]),
    }
    if args.save_baseline:
        BENCH_DIR.mkdir(parents=True, exist_ok=True)
        BASELINE.write_text(json.dumps(data, indent=2))
        np.save(BENCH_DIR / "accuracy-baseline-probabilities.npy", p)
        log(f"baseline saved: {BASELINE}")
    elif BASELINE.is_file():
        base = json.loads(BASELINE.read_text())
        base_p = np.load(BENCH_DIR / "accuracy-baseline-probabilities.npy")
        same_bundle = base["bundle"]["version"] == data["bundle"]["version"] and base["rows"] == args.rows \
            and base["seed"] == args.seed
        data["vs_baseline"] = {
            "comparable": same_bundle,
            "same_decisions": base["decisions_sha256"] == data["decisions_sha256"],
            "max_abs_prob_diff": float(np.max(np.abs(p - base_p))) if same_bundle else None,
            "auc_diff": round(data["auc"] - base["auc"], 9),
            "max_approval_rate_diff_gender": max(abs(data["approval_by_gender"][k]["approval_rate"]
                                                     - base["approval_by_gender"][k]["approval_rate"])
                                                 for k in data["approval_by_gender"]),
            "max_approval_rate_diff_age": max(abs(data["approval_by_age_band"][k]["approval_rate"]
                                                  - base["approval_by_age_band"][k]["approval_rate"])
                                              for k in data["approval_by_age_band"]),
        }
    lines = [f"# Accuracy and bias check ({data['encode_from']})\n",
             f"Bundle `{data['bundle']['version']}`, {args.rows} labelled synthetic applications, seed {args.seed}.\n",
             f"- AUC {data['auc']}, refusal rate {data['refusal_rate']}",
             f"- approval by gender: {json.dumps(data['approval_by_gender'])}",
             f"- approval by age band: {json.dumps(data['approval_by_age_band'])}",
             f"- parity vs pandas + LightGBM: {json.dumps(data['parity_vs_pandas_lightgbm'])}",
             "- parity vs the bundle's stored reference scores: "
             + json.dumps(data['parity_vs_bundle_reference_scores'])]
    if "vs_baseline" in data:
        lines.append(f"- vs baseline: {json.dumps(data['vs_baseline'])}")
    lines.append(f"\nCommand: `{data['command']}`\n")
    write_results(args.name, data, "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
