"""The business-cost threshold and the metrics reported at it.

A missed default (false negative: a loan granted that is not repaid) costs
``cost_fn`` (10 by default), a good client refused (false positive) costs
``cost_fp`` (1). The threshold minimises the total cost over the calibrated
out-of-fold probabilities (:mod:`training.platt`); an application is refused
when its probability is >= the threshold (``shared.scorer.decide``). With
calibrated probabilities the optimum sits near ``cost_fp / (cost_fn + cost_fp)``
(1/11), the point where refusing and granting cost the same on average.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import brier_score_loss, roc_auc_score


@dataclass(frozen=True)
class Costs:
    """Unit costs of the two errors."""

    fn: float = 10.0
    fp: float = 1.0


def best_threshold(y: np.ndarray, p: np.ndarray, costs: Costs) -> float:
    """The threshold minimising ``cost_fn * FN + cost_fp * FP``.

    Every cut between two distinct probabilities is tried (exactly, in one
    sort); the threshold is placed half-way between the last refused and the
    first approved probability, away from both.

    Args:
        y: 0/1 targets.
        p: probabilities of default.
        costs: unit costs.

    Returns:
        The threshold (refuse when ``p >= threshold``).
    """
    order = np.argsort(-p, kind="stable")
    p_sorted = p[order].astype(np.float64)
    y_sorted = y[order].astype(np.float64)
    positives = y_sorted.sum()
    # cut k = refuse the k highest: TP and FP among them; k = 0 refuses nobody
    tp = np.concatenate(([0.0], np.cumsum(y_sorted)))
    fp = np.concatenate(([0.0], np.cumsum(1.0 - y_sorted)))
    cost = costs.fn * (positives - tp) + costs.fp * fp
    # only cut where the next probability differs (ties go together)
    valid = np.ones(len(cost), dtype=bool)
    valid[1:-1] = p_sorted[:-1] != p_sorted[1:]
    k = int(np.flatnonzero(valid)[np.argmin(cost[valid])])
    if k == 0:
        return float(np.nextafter(p_sorted[0], np.inf))
    if k == len(p_sorted):
        return float(p_sorted[-1])
    return float((p_sorted[k - 1] + p_sorted[k]) / 2.0)


def evaluate(y: np.ndarray, p: np.ndarray, threshold: float, costs: Costs) -> dict[str, Any]:
    """Metrics of probabilities ``p`` at ``threshold``.

    Returns:
        ``auc``, ``brier``, ``cost_per_application``, ``recall``, ``precision``,
        ``refusal_rate``, the confusion counts, and the two naive policies' costs
        (``cost_accept_all``, ``cost_refuse_all``) for comparison.
    """
    y = y.astype(np.int64)
    refused = p >= threshold
    tp = int(np.sum(refused & (y == 1)))
    fp = int(np.sum(refused & (y == 0)))
    fn = int(np.sum(~refused & (y == 1)))
    tn = int(np.sum(~refused & (y == 0)))
    n = len(y)
    positives = tp + fn
    return {
        "rows": n,
        "auc": float(roc_auc_score(y, p)) if 0 < positives < n else float("nan"),
        "brier": float(brier_score_loss(y, np.clip(p, 0.0, 1.0))),
        "cost_per_application": (costs.fn * fn + costs.fp * fp) / n,
        "recall": tp / positives if positives else 0.0,
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "refusal_rate": (tp + fp) / n,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "cost_accept_all": costs.fn * positives / n,
        "cost_refuse_all": costs.fp * (n - positives) / n,
    }
