"""95 % bootstrap confidence intervals of the metrics the model card reports."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from training.threshold import Costs

RESAMPLES = 200
LEVEL = 0.95


def bootstrap_intervals(y: np.ndarray, p: np.ndarray, threshold: float, costs: Costs,
                        resamples: int = RESAMPLES, seed: int = 0) -> dict[str, Any]:
    """Percentile bootstrap intervals of the AUC, the cost per application and the refusal rate.

    Args:
        y: 0/1 targets.
        p: calibrated probabilities of default.
        threshold: the decision threshold (refused when ``p >= threshold``).
        costs: the two errors' costs.
        resamples: bootstrap resamples.
        seed: seed of the resampling.

    Returns:
        ``{"level", "resamples", "auc": [low, high], "cost_per_application": [...], "refusal_rate": [...]}``
        (an AUC interval of None when a resample has one class only).
    """
    y = np.asarray(y, dtype=np.int64)
    p = np.asarray(p, dtype=np.float64)
    rng = np.random.default_rng(seed)
    refused = p >= threshold
    cost = np.where(refused & (y == 0), costs.fp, 0.0) + np.where(~refused & (y == 1), costs.fn, 0.0)
    aucs, costs_per, refusals = [], [], []
    for _ in range(resamples):
        sample = rng.integers(0, len(y), len(y))
        ys = y[sample]
        if 0 < ys.sum() < len(ys):
            aucs.append(roc_auc_score(ys, p[sample]))
        costs_per.append(cost[sample].mean())
        refusals.append(refused[sample].mean())
    tail = (1.0 - LEVEL) / 2.0 * 100.0

    def interval(values: list[float]) -> list[float] | None:
        if len(values) < resamples:
            return None
        low, high = np.percentile(values, [tail, 100.0 - tail])
        return [float(low), float(high)]

    return {
        "level": LEVEL,
        "resamples": resamples,
        "auc": interval(aucs),
        "cost_per_application": interval(costs_per),
        "refusal_rate": interval(refusals),
    }
