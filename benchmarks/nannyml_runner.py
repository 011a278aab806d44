"""NannyML's CBPE on CSV files: run by ``benchmarks.cbpe_nannyml`` with NannyML's own virtualenv.

Standalone on purpose (it imports nothing of this project): NannyML 0.13 pins
libraries older than this project's, so it lives in ``.nannyml-venv``.

Usage (from ``benchmarks.cbpe_nannyml``):
    .nannyml-venv/bin/python benchmarks/nannyml_runner.py REFERENCE.csv ANALYSIS.csv OUT.json CHUNK COST_FN COST_FP
"""

import json
import sys
import time

import nannyml as nml
import pandas as pd


def main() -> None:
    """Fit CBPE on the reference, estimate ROC AUC and the business value per chunk of the analysis."""
    reference_path, analysis_path, out_path, chunk, cost_fn, cost_fp = sys.argv[1:7]
    reference = pd.read_csv(reference_path)
    analysis = pd.read_csv(analysis_path)
    # business value in NannyML's matrix layout [[TN, FP], [FN, TP]]: minus the cost. Not normalised by NannyML:
    # its "per_prediction" divides each predicted class by its own count, not by the applications of the chunk
    # (checked on unit matrices); the total is divided by the chunk's rows below.
    matrix = [[0.0, -float(cost_fp)], [-float(cost_fn), 0.0]]
    started = time.perf_counter()
    estimator = nml.CBPE(y_pred_proba="p", y_pred="refused", y_true="y", problem_type="classification_binary",
                         metrics=["roc_auc", "business_value"], business_value_matrix=matrix,
                         normalize_business_value=None, chunk_size=int(chunk))
    estimator.fit(reference)
    results = estimator.estimate(analysis.drop(columns=["y"]))
    seconds = time.perf_counter() - started
    frame = results.filter(period="analysis").to_df()
    rows = []
    for _, row in frame.iterrows():
        size = int(row[("chunk", "end_index")]) - int(row[("chunk", "start_index")]) + 1
        rows.append({"chunk": int(row[("chunk", "chunk_index")]), "rows": size,
                     "auc": float(row[("roc_auc", "value")]),
                     "cost_per_application": -float(row[("business_value", "value")]) / size})
    with open(out_path, "w") as handle:
        json.dump({"nannyml": nml.__version__, "seconds": seconds, "chunks": rows}, handle)


if __name__ == "__main__":
    main()
