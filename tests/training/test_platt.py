"""Platt scaling of the weighted model's scores: what it recovers, what it keeps (ranking, decisions, cost)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from shared.columns import CLIENT_ID, TARGET, feature_names
from shared.encoding import encode, fit_encoding
from tests.utils.data import synthetic_frame
from training.data import to_records
from training.exceptions import TrainingError
from training.platt import calibration_record, fit_platt, logit
from training.threshold import Costs, best_threshold, evaluate
from training.train import TrainConfig, cross_validate


def _weighted_scores(n: int, weight: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Targets drawn from known probabilities, and the scores a model weighting defaults by ``weight`` gives.

    Weighting the positives by w multiplies the odds by w: the scores are
    sigmoid(true logit + log w), so the exact calibration is a = 1, b = -log w.
    """
    rng = np.random.default_rng(seed)
    true_logit = rng.normal(-3.0, 1.2, n)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-true_logit))).astype(np.int64)
    raw = 1.0 / (1.0 + np.exp(-(true_logit + math.log(weight))))
    return y, raw


def _cost(y: np.ndarray, p: np.ndarray, threshold: float, costs: Costs) -> float:
    return float(evaluate(y, p, threshold, costs)["cost_per_application"])


def test_platt_recovers_the_shift_of_the_class_weight() -> None:
    weight = (1 - 0.08) / 0.08
    y, raw = _weighted_scores(60_000, weight, seed=0)
    calibration = fit_platt(y, raw)
    assert calibration.a == pytest.approx(1.0, abs=0.05)
    assert calibration.b == pytest.approx(-math.log(weight), abs=0.15)
    record = calibration_record(calibration, y, raw)
    base = y.mean() * (1 - y.mean())
    assert record["brier_raw"] > base > record["brier_calibrated"]
    assert record["brier_calibrated"] == pytest.approx(brier_score_loss(y, calibration.apply(raw)))


@pytest.mark.parametrize("seed", range(3))
def test_calibrated_threshold_keeps_the_ranking_and_the_cost(seed: int) -> None:
    y, raw = _weighted_scores(20_000, 11.0, seed=seed)
    calibration = fit_platt(y, raw)
    calibrated = calibration.apply(raw)
    costs = Costs()
    assert roc_auc_score(y, calibrated) == pytest.approx(roc_auc_score(y, raw), abs=1e-12)
    raw_threshold = best_threshold(y, raw, costs)
    threshold = best_threshold(y, calibrated, costs)
    assert _cost(y, calibrated, threshold, costs) == pytest.approx(_cost(y, raw, raw_threshold, costs), abs=1e-9)
    # same refusals, and the threshold lands near the textbook cost_fp / (cost_fn + cost_fp) = 1/11
    assert np.array_equal(calibrated >= threshold, raw >= calibration.inverse(threshold))
    assert raw_threshold > 0.4 and threshold == pytest.approx(1 / 11, abs=0.03)


def test_calibration_of_real_out_of_fold_scores() -> None:
    """LightGBM weighted as in a build, 3-fold CV on synthetic rows: Brier lowered, same cost at the threshold."""
    frame = synthetic_frame(3_000, seed=3)
    applications = to_records(frame[[CLIENT_ID, *feature_names()]])
    X = encode(applications, fit_encoding(applications))
    y = frame[TARGET].to_numpy(dtype=np.int64)
    cv = cross_validate(X, y, TrainConfig(folds=3, seed=3))
    assert cv.pos_weight > 5  # negatives / positives
    calibration = fit_platt(y, cv.oof)
    record = calibration_record(calibration, y, cv.oof)
    assert record["brier_calibrated"] < record["brier_raw"]
    assert record["brier_calibrated"] < y.mean() * (1 - y.mean())  # better than the base rate
    costs = Costs()
    calibrated = calibration.apply(cv.oof)
    before = _cost(y, cv.oof, best_threshold(y, cv.oof, costs), costs)
    after = _cost(y, calibrated, best_threshold(y, calibrated, costs), costs)
    assert after == pytest.approx(before, abs=1e-9)


def test_scores_that_do_not_rank_cannot_be_calibrated() -> None:
    y, raw = _weighted_scores(5_000, 11.0, seed=4)
    with pytest.raises(TrainingError, match="slope"):
        fit_platt(y, 1.0 - raw)  # backwards


def test_logit_stays_finite_at_zero_and_one() -> None:
    z = logit(np.array([0.0, 0.5, 1.0], dtype=np.float32))
    assert np.all(np.isfinite(z)) and z[1] == 0.0 and z[0] == pytest.approx(-z[2], rel=1e-3)
