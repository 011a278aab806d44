"""Platt scaling: turns the weighted model's risk scores into probabilities of default.

The model is trained with ``scale_pos_weight`` = negatives / positives (the
class imbalance is handled in training), which pushes its outputs upwards:
they rank well but are not probabilities. A logistic regression of the target
on the logit of the **out-of-fold** scores (rows no model saw in training)
gives ``p = sigmoid(a * logit(raw) + b)``; with ``a > 0`` the map is strictly
increasing, so the AUC and the decisions of a threshold moved through it do
not change. Serving applies the same map (``shared.scorer.Calibration``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss

from shared.scorer import CALIBRATION_METHOD, Calibration
from training.exceptions import TrainingError

# the same clipping as serving, so a raw 0 or 1 gets a finite logit
EPSILON = 1e-15


def logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)) in float64, with p kept inside (0, 1)."""
    p = np.clip(np.asarray(p, dtype=np.float64), EPSILON, 1.0 - EPSILON)
    return np.log(p / (1.0 - p))  # type: ignore[no-any-return]


def fit_platt(y: np.ndarray, raw: np.ndarray) -> Calibration:
    """Fit ``sigmoid(a * logit(raw) + b)`` to the targets by unpenalised logistic regression.

    Args:
        y: 0/1 targets.
        raw: the model's raw out-of-fold probabilities for the same rows.

    Returns:
        The calibration (``a``, ``b``).

    Raises:
        TrainingError: the fitted slope is not positive (the scores rank the
            targets no better than chance, or backwards): no monotone calibration exists.
    """
    model = LogisticRegression(C=np.inf, solver="lbfgs", max_iter=1000)
    model.fit(logit(raw).reshape(-1, 1), np.asarray(y, dtype=np.int64))
    a, b = float(model.coef_[0, 0]), float(model.intercept_[0])
    if not a > 0:
        raise TrainingError(f"calibration slope a = {a:.4g} <= 0: the out-of-fold scores do not rank the defaults")
    return Calibration(a, b)


def calibration_record(calibration: Calibration, y: np.ndarray, raw: np.ndarray) -> dict[str, Any]:
    """The bundle's ``calibration`` entry: the map and the out-of-fold Brier scores before and after it."""
    return {
        "method": CALIBRATION_METHOD,
        "a": calibration.a,
        "b": calibration.b,
        "fitted_on": "out-of-fold scores",
        "rows": int(len(y)),
        "brier_raw": float(brier_score_loss(y, np.clip(raw, 0.0, 1.0))),
        "brier_calibrated": float(brier_score_loss(y, calibration.apply(raw))),
    }
