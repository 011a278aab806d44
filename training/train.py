"""LightGBM training: stratified k-fold CV with early stopping, then one refit on all rows.

Class imbalance (about 8 % defaults) is handled with ``scale_pos_weight`` =
negatives / positives by default: each default weighs as much as all the
good loans together, so the trees split on the rare class. The outputs are
then shifted upwards (risk scores, not probabilities): the out-of-fold scores
are calibrated afterwards (:mod:`training.platt`), and the decision threshold
is chosen on the calibrated probabilities (:mod:`training.threshold`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

# OpenMP threads spin while they wait; on a shared machine they then steal the
# cores they wait for. Passive waiting keeps multi-threaded training sane there.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import lightgbm as lgb  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402

Log = Callable[[str], None]


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters and CV settings (all recorded in the bundle and in MLflow).

    Attributes:
        folds: number of stratified CV folds.
        seed: seed of the fold split and of LightGBM's bagging.
        learning_rate: boosting learning rate.
        num_leaves: leaves per tree.
        min_child_samples: minimum rows per leaf.
        feature_fraction: share of features tried per tree.
        bagging_fraction: share of rows per tree.
        lambda_l2: L2 regularisation of leaf values.
        max_bin: histogram bins per feature.
        max_rounds: boosting rounds ceiling (early stopping ends sooner).
        early_stopping_rounds: rounds without AUC gain on the fold's validation part.
        rounds: a fixed number of boosting rounds for the folds and the final model,
            without early stopping (None: early stopping picks it). Used to build
            larger models on purpose, e.g. the 500-tree model of the quantisation study.
        threads: LightGBM threads (1 is the fastest on a busy 2-core machine).
        pos_weight: weight of the positive class; None means negatives / positives.
    """

    folds: int = 5
    seed: int = 0
    learning_rate: float = 0.1
    num_leaves: int = 31
    min_child_samples: int = 100
    feature_fraction: float = 0.7
    bagging_fraction: float = 0.8
    lambda_l2: float = 1.0
    max_bin: int = 127
    max_rounds: int = 2000
    early_stopping_rounds: int = 50
    rounds: int | None = None
    threads: int = 1
    pos_weight: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass
class CVResult:
    """Out-of-fold predictions and the per-fold models.

    Attributes:
        oof: out-of-fold probability of every training row.
        best_iterations: best round of each fold (early stopping).
        fold_aucs: validation AUC of each fold.
        models: the fold models (their average scores a holdout set).
        pos_weight: the positive-class weight used.
    """

    oof: np.ndarray
    best_iterations: list[int] = field(default_factory=list)
    fold_aucs: list[float] = field(default_factory=list)
    models: list[lgb.Booster] = field(default_factory=list)
    pos_weight: float = 1.0

    @property
    def rounds(self) -> int:
        """Rounds of the final model: the mean best iteration of the folds."""
        return max(1, int(round(float(np.mean(self.best_iterations)))))


def lightgbm_params(config: TrainConfig, pos_weight: float) -> dict[str, Any]:
    """LightGBM parameters for a config and a positive-class weight."""
    return {
        "objective": "binary",
        "metric": "auc",
        "learning_rate": config.learning_rate,
        "num_leaves": config.num_leaves,
        "min_child_samples": config.min_child_samples,
        "feature_fraction": config.feature_fraction,
        "bagging_fraction": config.bagging_fraction,
        "bagging_freq": 1,
        "lambda_l2": config.lambda_l2,
        "max_bin": config.max_bin,
        "scale_pos_weight": pos_weight,
        "num_threads": config.threads,
        "seed": config.seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbose": -1,
    }


def positive_weight(y: np.ndarray, config: TrainConfig) -> float:
    """The configured positive-class weight, or negatives / positives."""
    if config.pos_weight is not None:
        return float(config.pos_weight)
    positives = int(y.sum())
    return float((len(y) - positives) / max(1, positives))


def cross_validate(X: np.ndarray, y: np.ndarray, config: TrainConfig, log: Log = lambda _: None) -> CVResult:
    """Stratified k-fold CV with early stopping on each fold's validation AUC.

    Args:
        X: encoded float32 matrix.
        y: 0/1 targets.
        config: training settings.
        log: receives one line per fold.

    Returns:
        The out-of-fold probabilities, best iterations, fold AUCs and fold models.
    """
    weight = positive_weight(y, config)
    params = lightgbm_params(config, weight)
    result = CVResult(oof=np.zeros(len(y), dtype=np.float64), pos_weight=weight)
    splitter = StratifiedKFold(n_splits=config.folds, shuffle=True, random_state=config.seed)
    for fold, (train_idx, valid_idx) in enumerate(splitter.split(X, y), start=1):
        start = time.perf_counter()
        train = lgb.Dataset(X[train_idx], y[train_idx], params={"max_bin": config.max_bin}, free_raw_data=True)
        valid = lgb.Dataset(X[valid_idx], y[valid_idx], reference=train)
        if config.rounds is None:
            model = lgb.train(
                params,
                train,
                num_boost_round=config.max_rounds,
                valid_sets=[valid],
                callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)],
            )
            best = model.best_iteration or config.max_rounds
        else:
            model = lgb.train(params, train, num_boost_round=config.rounds)
            best = config.rounds
        result.oof[valid_idx] = model.predict(X[valid_idx], num_iteration=best)
        auc = float(roc_auc_score(y[valid_idx], result.oof[valid_idx]))
        result.best_iterations.append(int(best))
        result.fold_aucs.append(auc)
        result.models.append(model)
        log(f"fold {fold}/{config.folds}: AUC {auc:.4f}, best iteration {best}, {time.perf_counter() - start:.1f}s")
    return result


def fit_final(X: np.ndarray, y: np.ndarray, config: TrainConfig, rounds: int, pos_weight: float) -> lgb.Booster:
    """Refit on all rows with a fixed number of rounds (the CV's mean best iteration)."""
    params = lightgbm_params(config, pos_weight)
    dataset = lgb.Dataset(X, y, params={"max_bin": config.max_bin})
    return lgb.train(params, dataset, num_boost_round=rounds)


def predict_folds(models: list[lgb.Booster], X: np.ndarray) -> np.ndarray:
    """Average probability of the fold models (scores a holdout set)."""
    return np.mean([m.predict(X, num_iteration=m.best_iteration or None) for m in models], axis=0)
