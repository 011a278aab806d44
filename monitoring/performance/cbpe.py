"""Confidence-based performance estimation (CBPE): performance expected from calibrated probabilities.

When ``p`` is a calibrated probability of default, an application with
probability ``p`` is, in expectation, ``p`` of a defaulter and ``1 - p`` of a
good client. Every count of the confusion matrix, and so the cost, has an
expected value without any outcome; the ROC curve too, with expected true and
false positives at each cut. This is NannyML's CBPE for binary
classification, written here (NannyML's pins conflict with this project's
libraries; ``benchmarks/cbpe_nannyml.py`` compares the two).

What it cannot see: it assumes the calibration still holds. A change in how
the features relate to default (concept drift) leaves the scores, and so the
estimate, unchanged; the realised reliability curve shows it once outcomes
arrive.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from monitoring.performance.metrics import COST_FN, COST_FP


def expected_cost(p: Any, refused: Any, cost_fn: float = COST_FN, cost_fp: float = COST_FP) -> float | None:
    """Expected ``(cost_fn * FN + cost_fp * FP) / n``: approved rows add ``p``, refused ones ``1 - p``."""
    p_arr = np.asarray(p, dtype=float)
    refused_arr = np.asarray(refused, dtype=bool)
    if not len(p_arr):
        return None
    expected_fn = p_arr[~refused_arr].sum()
    expected_fp = (1.0 - p_arr[refused_arr]).sum()
    return float((cost_fn * expected_fn + cost_fp * expected_fp) / len(p_arr))


def expected_auc(p: Any) -> float | None:
    """The area under the expected ROC curve.

    At each distinct probability ``t`` taken as the cut (refuse ``p >= t``), the
    expected true positives are the sum of ``p`` over the refused and the
    expected false positives the sum of ``1 - p``; the curve joins those points
    in (FPR, TPR) and the area is taken by trapezoids, as NannyML does. In
    closed form: ``(sum over pairs s_i > s_j of p_i (1 - p_j) + half the tied
    pairs' sum, each row paired with itself included) / (sum p * sum (1 - p))``.

    Returns:
        The expected AUC; None when the probabilities are all 0 or all 1.
    """
    p_arr = np.sort(np.asarray(p, dtype=float))
    positives, negatives = p_arr.sum(), (1.0 - p_arr).sum()
    if not len(p_arr) or positives <= 0 or negatives <= 0:
        return None
    values, starts = np.unique(p_arr, return_index=True)
    pos_group = np.add.reduceat(p_arr, starts)  # expected defaulters at each distinct probability
    neg_group = np.add.reduceat(1.0 - p_arr, starts)
    neg_below = np.cumsum(neg_group) - neg_group  # expected good clients at strictly lower probabilities
    area = float(np.sum(pos_group * neg_below) + 0.5 * np.sum(pos_group * neg_group))
    return area / float(positives * negatives)


def estimated(p: Any, refused: Any, cost_fn: float = COST_FN, cost_fp: float = COST_FP) -> dict[str, Any] | None:
    """The estimated block: ``auc``, ``cost_per_application`` and ``n``; None when there is no application."""
    p_arr = np.asarray(p, dtype=float)
    if not len(p_arr):
        return None
    return {"auc": expected_auc(p_arr), "cost_per_application": expected_cost(p_arr, refused, cost_fn, cost_fp),
            "n": len(p_arr)}
