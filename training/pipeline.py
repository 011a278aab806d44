"""One build, end to end: data -> encoding -> CV -> calibration and threshold -> refit -> ONNX -> bundle (-> MLflow).

Every stage is timed and reported through ``log``; the bundle is written
atomically (see :func:`training.bundle.staging`), so a failed build leaves the
previous bundle in place.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from shared.columns import CLIENT_ID, TARGET, feature_names
from shared.encoding import fit_encoding
from shared.explain import Explainer
from shared.scorer import MODEL_FILE, REFERENCE_FILE
from shared.treeshap import TreeShap
from training import bundle as bundle_io
from training.card import write_model_card
from training.data import file_sha256, fingerprint, load_csv, to_records
from training.exceptions import DataError
from training.export import check_parity, onnx_probabilities, onnx_session, parity_matrix, to_onnx
from training.synthetic import generate
from training.threshold import Costs
from training.train import TrainConfig, fit_final
from training.variants import GENDER, WITH_GENDER, WITHOUT_GENDER, choose, fit_variant, without_field

Log = Callable[[str], None]
MIN_ROWS = 500


@dataclass(frozen=True)
class BuildConfig:
    """What to build and how.

    Attributes:
        output: the bundle directory (replaced atomically).
        rows: synthetic rows (ignored when ``data`` is set).
        data: path of an ``application_train.csv`` file (None: synthetic data).
        seed: seed of the synthetic data, the splits and LightGBM.
        holdout: share of rows kept out of the CV for an honest estimate (0 for none).
        costs: the business costs of the two errors.
        train: LightGBM and CV settings.
        reference_rows: rows of the reference sample written to the bundle.
        parity_rows: rows of the ONNX parity check (at least 10,000).
        mlflow: track the build in MLflow.
    """

    output: Path
    rows: int = 100_000
    data: Path | None = None
    seed: int = 0
    holdout: float = 0.2
    costs: Costs = field(default_factory=Costs)
    train: TrainConfig = field(default_factory=TrainConfig)
    reference_rows: int = bundle_io.REFERENCE_ROWS
    parity_rows: int = 20_000
    mlflow: bool = True


@dataclass
class BuildResult:
    """What a build produced."""

    output: Path
    metadata: dict[str, Any]
    seconds: float
    stage_seconds: dict[str, float]


class _Stages:
    def __init__(self, log: Log) -> None:
        self.log = log
        self.start = time.perf_counter()
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        began = time.perf_counter()
        self.log(f"[{began - self.start:6.1f}s] {name} ...")
        yield
        self.seconds[name] = round(time.perf_counter() - began, 2)
        self.log(f"[{time.perf_counter() - self.start:6.1f}s] {name} done in {self.seconds[name]:.1f}s")


def _load(config: BuildConfig, log: Log) -> tuple[pd.DataFrame, dict[str, Any]]:
    source: dict[str, Any]
    if config.data is not None:
        df = load_csv(config.data)
        source = {"source": "csv", "path": str(config.data), "file_sha256": file_sha256(config.data)}
    else:
        df = generate(config.rows, seed=config.seed)
        source = {"source": "synthetic", "seed": config.seed}
    if len(df) < MIN_ROWS:
        raise DataError(f"{len(df)} rows: at least {MIN_ROWS} are needed to train")
    positives = int(df[TARGET].sum())
    if positives < config.train.folds * 2:
        raise DataError(f"only {positives} defaults (TARGET = 1): too few for {config.train.folds}-fold CV")
    source.update(rows=len(df), fingerprint=fingerprint(df), target_rate=round(float(df[TARGET].mean()), 6))
    log(f"         {len(df):,} rows ({source['source']}), target rate {source['target_rate']:.2%}")
    return df, source


def build(config: BuildConfig, log: Log = lambda _: None) -> BuildResult:
    """Build a bundle into ``config.output``.

    Raises:
        DataError: unusable data (missing file, wrong columns, too few rows).
        ParityError: the ONNX model does not reproduce LightGBM.
    """
    stages = _Stages(log)
    with stages.stage("data"):
        df, data_info = _load(config, log)
        applications = to_records(df[[CLIENT_ID, *feature_names()]])
        y = df[TARGET].to_numpy(dtype=np.int64)
    index = np.arange(len(y))
    if config.holdout > 0:
        train_idx, hold_idx = train_test_split(
            index, test_size=config.holdout, stratify=y, random_state=config.seed
        )
    else:
        train_idx, hold_idx = index, index[:0]
    with stages.stage("encoding"):
        full_state = fit_encoding(applications)
    candidates = {}
    for name, state in ((WITH_GENDER, full_state), (WITHOUT_GENDER, without_field(full_state, GENDER))):
        with stages.stage(f"{name}: cross-validation ({config.train.folds} folds on {len(train_idx):,} rows), "
                          "calibration and threshold"):
            candidates[name] = fit_variant(name, state, applications, y, (train_idx, hold_idx), config.train,
                                           config.costs, config.seed, log=lambda line: log("         " + line))
    shipped, comparison = choose(candidates[WITH_GENDER], candidates[WITHOUT_GENDER])
    log(f"         ships {shipped.name}: cost/application without {GENDER} "
        f"{comparison['extra_cost_without_gender']:+.2%} vs with it ({comparison['compared_on']})")
    state, X, cv, calibration, threshold = shipped.state, shipped.X, shipped.cv, shipped.calibration, shipped.threshold
    calibration_info, oof, holdout = shipped.calibration_info, shipped.oof, shipped.holdout
    log(
        f"         Platt a={calibration.a:.4f} b={calibration.b:.4f}; threshold {threshold:.4f} "
        f"(raw score {calibration.inverse(threshold):.4f}): "
        f"OOF cost/application {oof['cost_per_application']:.4f}, AUC {oof['auc']:.4f}"
    )
    del candidates
    with stages.stage(f"final model ({cv.rounds} rounds on {len(y):,} rows)"):
        booster = fit_final(X, y, config.train, cv.rounds, cv.pos_weight)
    with stages.stage("ONNX export and parity"):
        model = to_onnx(booster, X.shape[1])
        session = onnx_session(model)
        parity = check_parity(
            session, booster, parity_matrix(X, config.seed, config.parity_rows), threshold, calibration=calibration
        )
        log(f"         parity over {parity.rows:,} rows: max |diff| {parity.max_abs_diff:.2e}, "
            f"{parity.decision_mismatches} decision mismatch(es), "
            f"{parity.calibrated_decision_mismatches} on calibrated probabilities")
    metrics = _metrics(oof, holdout, cv)
    created = datetime.now(UTC)
    version = bundle_io.make_version(data_info["fingerprint"], created)
    with stages.stage("bundle"), bundle_io.staging(config.output) as staging_dir:
        rng = np.random.default_rng(config.seed)
        sample = np.sort(rng.choice(len(y), size=min(config.reference_rows, len(y)), replace=False))
        scores = calibration.apply(onnx_probabilities(session, X[sample]))  # what production events carry
        (staging_dir / MODEL_FILE).write_bytes(model)
        booster.save_model(str(staging_dir / bundle_io.LIGHTGBM_FILE))
        reference_rows = bundle_io.write_reference(
            staging_dir / REFERENCE_FILE, [applications[i] for i in sample], scores.tolist()
        )
        metadata = {
            "version": version,
            "created_at": created.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "data": data_info,
            "encoding": state.to_dict(),
            "features": state.feature_names,
            "threshold": {
                "value": threshold,
                "raw_value": calibration.inverse(threshold),
                "cost_fn": config.costs.fn,
                "cost_fp": config.costs.fp,
                "cost_per_application": oof["cost_per_application"],
                "chosen_on": "calibrated out-of-fold probabilities",
                "rule": "refused when probability >= value (raw_value: the same cut on the model's raw output)",
            },
            "calibration": calibration_info,
            "metrics": metrics,
            "training": {
                **config.train.to_dict(),
                "scale_pos_weight": cv.pos_weight,
                "holdout": config.holdout,
                "rows_cv": int(len(train_idx)),
                "rows_holdout": int(len(hold_idx)),
                "rows_final": int(len(y)),
                "final_rounds": cv.rounds,
                "best_iterations": cv.best_iterations,
            },
            "parity": parity.to_dict(),
            "libraries": bundle_io.library_versions(),
            "reference": {"file": REFERENCE_FILE, "rows": reference_rows},
            "timings_s": dict(stages.seconds),
        }
        explainer = Explainer(TreeShap(staging_dir / bundle_io.LIGHTGBM_FILE), state, calibration)
        metadata["importance"] = explainer.importance(X[sample], threads=config.train.threads)
        metadata["fairness"] = shipped.fairness
        metadata["gender_comparison"] = comparison
        metadata["timings_s"] = dict(stages.seconds)
        bundle_io.write_metadata(staging_dir, metadata)
        write_model_card(staging_dir / bundle_io.MODEL_CARD_FILE, metadata)
        if config.mlflow:
            from training.tracking import track_build

            metadata["mlflow"] = track_build(staging_dir, metadata, booster, log=lambda line: log("         " + line))
            bundle_io.write_metadata(staging_dir, metadata)
    total = time.perf_counter() - stages.start
    return BuildResult(Path(config.output), metadata, total, dict(stages.seconds))


def _metrics(oof: dict[str, Any], holdout: dict[str, Any] | None, cv: Any) -> dict[str, Any]:
    metrics: dict[str, Any] = {
        "auc": oof["auc"],
        "recall": oof["recall"],
        "precision": oof["precision"],
        "brier": oof["brier"],
        "brier_raw": oof["brier_raw"],
        "cost_per_application": oof["cost_per_application"],
        "refusal_rate": oof["refusal_rate"],
        "cv_fold_auc": cv.fold_aucs,
        "cv_auc_mean": float(np.mean(cv.fold_aucs)),
        "cv_auc_std": float(np.std(cv.fold_aucs)),
        "oof": oof,
    }
    if holdout is not None:
        metrics["holdout"] = holdout
        metrics["holdout_auc"] = holdout["auc"]
    return metrics
