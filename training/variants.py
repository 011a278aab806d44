"""Two candidate models, with and without ``CODE_GENDER``, and the rule that picks the one that ships.

Both are trained the same way (same rows, folds, seed and settings: only the
gender's one-hot columns differ), calibrated and thresholded on their own
out-of-fold scores, then compared on the holdout (on the out-of-fold scores
when the build keeps no holdout). The model without the gender ships unless
it costs more than :data:`GENDER_TOLERANCE` (2 %) more per application; the
bundle's metadata and model card show both either way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.encoding import EncodingState, encode
from shared.fairness import fairness_report
from shared.scorer import Calibration
from training.confidence import bootstrap_intervals
from training.platt import calibration_record, fit_platt
from training.threshold import Costs, best_threshold, evaluate
from training.train import CVResult, TrainConfig, cross_validate, predict_folds

Log = Callable[[str], None]
GENDER = "CODE_GENDER"
GENDER_TOLERANCE = 0.02  # the model without the gender ships unless it costs more than 2 % more
WITH_GENDER = "with_gender"
WITHOUT_GENDER = "without_gender"


@dataclass
class Variant:
    """One candidate: its encoding, CV models, calibration, threshold and evaluation.

    Attributes:
        name: ``with_gender`` or ``without_gender``.
        state: its encoding state.
        X: all rows, encoded with ``state``.
        cv: the cross-validation (out-of-fold scores, fold models).
        calibration: Platt map fitted on the out-of-fold scores.
        calibration_info: the bundle's ``calibration`` entry.
        threshold: the cost-minimising threshold on the calibrated out-of-fold probabilities.
        oof: metrics at the threshold on the out-of-fold probabilities.
        holdout: the same on the holdout (None without one).
        fairness: :func:`shared.fairness.fairness_report` of its decisions on the holdout (else out-of-fold).
        intervals: 95 % bootstrap intervals of the holdout (else out-of-fold) AUC and cost.
    """

    name: str
    state: EncodingState
    X: np.ndarray
    cv: CVResult
    calibration: Calibration
    calibration_info: dict[str, Any]
    threshold: float
    oof: dict[str, Any]
    holdout: dict[str, Any] | None
    fairness: dict[str, Any]
    intervals: dict[str, Any]

    @property
    def evaluated(self) -> dict[str, Any]:
        """The metrics the comparison uses: the holdout's, else the out-of-fold ones."""
        return self.holdout if self.holdout is not None else self.oof

    def summary(self) -> dict[str, Any]:
        """JSON-ready comparison entry for the metadata and the model card."""
        evaluated = self.evaluated
        return {
            "features": self.state.n_features,
            "threshold": self.threshold,
            "auc": evaluated["auc"],
            "cost_per_application": evaluated["cost_per_application"],
            "refusal_rate": evaluated["refusal_rate"],
            "recall": evaluated["recall"],
            "precision": evaluated["precision"],
            "intervals": self.intervals,
            "fairness": self.fairness,
        }


def without_field(state: EncodingState, field: str) -> EncodingState:
    """The same encoding without one categorical field's one-hot columns."""
    return EncodingState(numeric=state.numeric, categories={k: v for k, v in state.categories.items() if k != field})


def fit_variant(name: str, state: EncodingState, applications: Sequence[dict[str, Any]], y: np.ndarray,
                split: tuple[np.ndarray, np.ndarray], train: TrainConfig, costs: Costs, seed: int,
                log: Log = lambda _: None) -> Variant:
    """Encode, cross-validate, calibrate, threshold and evaluate one candidate.

    Args:
        name: the candidate's name.
        state: its encoding.
        applications: every raw application (the fairness groups are read there).
        y: every target.
        split: (training rows, holdout rows) indices; the holdout may be empty.
        train: LightGBM and CV settings.
        costs: the two errors' costs.
        seed: seed of the bootstrap.
        log: progress lines.
    """
    train_idx, hold_idx = split
    X = encode(applications, state)
    log(f"{name}: matrix {X.shape[0]:,} x {X.shape[1]}")
    cv = cross_validate(X[train_idx], y[train_idx], train, log=lambda line: log(f"{name}: {line}"))
    calibration = fit_platt(y[train_idx], cv.oof)
    calibration_info = calibration_record(calibration, y[train_idx], cv.oof)
    threshold = best_threshold(y[train_idx], calibration.apply(cv.oof), costs)
    oof = _evaluate(y[train_idx], cv.oof, calibration, threshold, costs)
    holdout = None
    rows, raw = train_idx, cv.oof
    if len(hold_idx):
        raw = predict_folds(cv.models, X[hold_idx])
        holdout = _evaluate(y[hold_idx], raw, calibration, threshold, costs)
        rows = hold_idx
    probabilities = calibration.apply(raw)
    approved = (probabilities < threshold).tolist()
    fairness = fairness_report(
        [applications[i].get(GENDER) for i in rows.tolist()],
        [applications[i].get("DAYS_BIRTH") for i in rows.tolist()],
        approved,
        [bool(v) for v in y[rows].tolist()],
    )
    fairness["evaluated_on"] = "holdout" if holdout is not None else "out-of-fold"
    intervals = bootstrap_intervals(y[rows], probabilities, threshold, costs, seed=seed)
    return Variant(name, state, X, cv, calibration, calibration_info, threshold, oof, holdout, fairness, intervals)


def choose(with_gender: Variant, without_gender: Variant,
           tolerance: float = GENDER_TOLERANCE) -> tuple[Variant, dict[str, Any]]:
    """The candidate that ships, and the record of the comparison.

    The model without the gender ships unless its cost per application is more
    than ``tolerance`` above the other's.
    """
    cost_with = with_gender.evaluated["cost_per_application"]
    cost_without = without_gender.evaluated["cost_per_application"]
    extra = (cost_without - cost_with) / cost_with if cost_with > 0 else 0.0
    shipped = without_gender if extra <= tolerance + 1e-12 else with_gender  # 1e-12: exactly 2 % more still ships
    record = {
        "shipped": shipped.name,
        "rule": f"the model without {GENDER} ships unless it costs more than {tolerance:.0%} more per application",
        "compared_on": "holdout" if with_gender.holdout is not None else "out-of-fold",
        "extra_cost_without_gender": extra,
        WITH_GENDER: with_gender.summary(),
        WITHOUT_GENDER: without_gender.summary(),
    }
    return shipped, record


def _evaluate(y: np.ndarray, raw: np.ndarray, calibration: Calibration, threshold: float,
              costs: Costs) -> dict[str, Any]:
    """Metrics of the calibrated probabilities at the threshold, plus the raw scores' Brier score."""
    metrics = evaluate(y, calibration.apply(raw), threshold, costs)
    metrics["brier_raw"] = float(np.mean((np.clip(raw, 0.0, 1.0) - y) ** 2))
    return metrics
