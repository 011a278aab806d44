"""Realised performance metrics, written with numpy (tested against scikit-learn on the same arrays).

Conventions: ``y`` is 1 for a default; ``p`` the served probability of
default; ``refused`` the served decision (the model's "positive"). A false
negative is an approved defaulter, a false positive a refused good client.
"""

from __future__ import annotations

from typing import Any

import numpy as np

COST_FN = 10.0  # an approved defaulter costs ten refused good clients (the bundle's threshold says so too)
COST_FP = 1.0
RELIABILITY_BINS = 10


def _arrays(*values: Any) -> list[np.ndarray]:
    arrays = [np.asarray(v, dtype=float) for v in values]
    if len({len(a) for a in arrays}) > 1:
        raise ValueError("arrays differ in length")
    return arrays


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``values``, ties sharing their average rank."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]]
    group = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(values)]
    mean_rank = (starts + ends + 1) / 2.0  # ranks starts+1 .. ends, averaged
    ranks = np.empty(len(values))
    ranks[order] = mean_rank[group]
    return ranks


def roc_auc(y: Any, p: Any) -> float | None:
    """Area under the ROC curve (Mann-Whitney form, ties counted half); None with one class only."""
    y_arr, p_arr = _arrays(y, p)
    positives = int(y_arr.sum())
    negatives = len(y_arr) - positives
    if positives == 0 or negatives == 0:
        return None
    ranks = average_ranks(p_arr)
    return float((ranks[y_arr == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def cost_per_application(y: Any, refused: Any, cost_fn: float = COST_FN, cost_fp: float = COST_FP) -> float | None:
    """``(cost_fn * FN + cost_fp * FP) / n`` at the served decisions; None when empty."""
    y_arr, refused_arr = _arrays(y, refused)
    if not len(y_arr):
        return None
    bad, ref = y_arr == 1, refused_arr == 1
    fn = int((bad & ~ref).sum())
    fp = int((~bad & ref).sum())
    return (cost_fn * fn + cost_fp * fp) / len(y_arr)


def approval_rate(refused: Any) -> float | None:
    """Share of approved applications; None when empty."""
    (refused_arr,) = _arrays(refused)
    return float((refused_arr == 0).mean()) if len(refused_arr) else None


def default_rate_approved(y: Any, refused: Any) -> float | None:
    """Share of defaulters among the approved; None when none was approved."""
    y_arr, refused_arr = _arrays(y, refused)
    approved = refused_arr == 0
    return float(y_arr[approved].mean()) if approved.any() else None


def brier(y: Any, p: Any) -> float | None:
    """Mean squared difference between probability and outcome; None when empty."""
    y_arr, p_arr = _arrays(y, p)
    return float(np.mean((p_arr - y_arr) ** 2)) if len(y_arr) else None


def reliability(y: Any, p: Any, bins: int = RELIABILITY_BINS) -> list[dict[str, Any]]:
    """The reliability curve: per equal-width bin of probability, the mean predicted, observed rate and count.

    Bins as scikit-learn's ``calibration_curve(strategy="uniform")``: edges
    ``k / bins``, a probability on an inner edge belongs to the lower bin; empty
    bins are left out.
    """
    y_arr, p_arr = _arrays(y, p)
    edges = np.linspace(0.0, 1.0, bins + 1)
    ids = np.searchsorted(edges[1:-1], p_arr)
    total = np.bincount(ids, minlength=bins)
    predicted = np.bincount(ids, weights=p_arr, minlength=bins)
    observed = np.bincount(ids, weights=y_arr, minlength=bins)
    return [{"mean_predicted": float(predicted[k] / total[k]), "observed": float(observed[k] / total[k]),
             "n": int(total[k])} for k in range(bins) if total[k]]


def realised(y: Any, p: Any, refused: Any, cost_fn: float = COST_FN, cost_fp: float = COST_FP) -> dict[str, Any] | None:
    """Every realised metric of applications whose outcome is known; None when there is none."""
    y_arr, p_arr, refused_arr = _arrays(y, p, refused)
    if not len(y_arr):
        return None
    return {
        "auc": roc_auc(y_arr, p_arr),
        "cost_per_application": cost_per_application(y_arr, refused_arr, cost_fn, cost_fp),
        "approval_rate": approval_rate(refused_arr),
        "default_rate_approved": default_rate_approved(y_arr, refused_arr),
        "brier": brier(y_arr, p_arr),
        "reliability": reliability(y_arr, p_arr),
        "n": len(y_arr),
    }
