"""MLflow tracking: one run per build, the LightGBM model registered as ``credit-scoring``.

The default tracking store is local: ``sqlite:///mlruns/mlflow.db`` with the
artifacts under ``mlruns/artifacts`` (``mlruns/`` is git-ignored), relative to
the working directory. ``MLFLOW_TRACKING_URI`` overrides it. Each build logs
its parameters, metrics and the whole bundle as artifacts and registers the
LightGBM model: the very first version becomes ``champion``, every later one
``challenger``, which only ``python -m training promote`` (after its gate) makes
champion (:mod:`training.registry`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from training import bundle as bundle_io

DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"
DEFAULT_ARTIFACTS = Path("mlruns") / "artifacts"
EXPERIMENT = "credit-scoring"
MODEL_NAME = "credit-scoring"
CHAMPION = "champion"
CHALLENGER = "challenger"

Log = Callable[[str], None]


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` when set, else the local SQLite store."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def quiet_mlflow() -> None:
    """No telemetry, no progress bars, no chatter from MLflow and its libraries."""
    # no usage telemetry leaves the machine (MLflow 3 sends some by default)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("mlflow", "alembic", "sqlalchemy", "urllib3"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"mlflow.*")


def _experiment_id(client: Any, uri: str) -> str:
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is not None:
        return str(experiment.experiment_id)
    location = None
    if uri == DEFAULT_TRACKING_URI:
        DEFAULT_ARTIFACTS.mkdir(parents=True, exist_ok=True)
        location = DEFAULT_ARTIFACTS.resolve().as_uri()
    return str(client.create_experiment(EXPERIMENT, artifact_location=location))


def _flat_params(metadata: dict[str, Any]) -> dict[str, Any]:
    training = metadata["training"]
    params = {f"lgb_{k}": v for k, v in training.items() if not isinstance(v, (list, dict))}
    params.update(
        data_source=metadata["data"]["source"],
        data_rows=metadata["data"]["rows"],
        data_fingerprint=metadata["data"]["fingerprint"][:16],
        cost_fn=metadata["threshold"]["cost_fn"],
        cost_fp=metadata["threshold"]["cost_fp"],
        n_features=len(metadata["features"]),
        bundle_version=metadata["version"],
    )
    return params


def _flat_metrics(metadata: dict[str, Any]) -> dict[str, float]:
    metrics = metadata["metrics"]
    out = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
    for key in ("cost_per_application", "recall", "precision", "brier", "brier_raw", "refusal_rate"):
        if "holdout" in metrics and key in metrics["holdout"]:
            out[f"holdout_{key}"] = float(metrics["holdout"][key])
    out["threshold"] = float(metadata["threshold"]["value"])
    if "calibration" in metadata:
        for key in ("a", "b", "brier_raw", "brier_calibrated"):
            out[f"calibration_{key}"] = float(metadata["calibration"][key])
    out["parity_max_abs_diff"] = float(metadata["parity"]["max_abs_diff"])
    out["parity_decision_mismatches"] = float(metadata["parity"]["decision_mismatches"])
    return out


def track_build(bundle_dir: Path, metadata: dict[str, Any], booster: Any, log: Log = lambda _: None) -> dict[str, Any]:
    """Record one build in MLflow and register its model.

    Adds ``metadata["mlflow"]`` (run id, model name and version) and rewrites
    ``metadata.json`` in ``bundle_dir`` before logging the bundle, so the
    logged bundle knows its own run.

    Returns:
        ``{"run_id", "experiment_id", "model_name", "model_version", "alias", "tracking_uri"}``.
    """
    quiet_mlflow()
    import mlflow
    import mlflow.lightgbm
    from mlflow import MlflowClient

    quiet_mlflow()  # again: importing mlflow configures its own loggers

    uri = tracking_uri()
    if uri == DEFAULT_TRACKING_URI:
        Path("mlruns").mkdir(exist_ok=True)
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(tracking_uri=uri)
    experiment_id = _experiment_id(client, uri)
    with mlflow.start_run(experiment_id=experiment_id, run_name=metadata["version"]) as run:
        mlflow.log_params(_flat_params(metadata))
        mlflow.log_metrics(_flat_metrics(metadata))
        mlflow.set_tags({"bundle_version": metadata["version"], "data_source": metadata["data"]["source"]})
        lightgbm_version = metadata["libraries"].get("lightgbm", "")
        info = mlflow.lightgbm.log_model(
            booster, name="model", pip_requirements=[f"lightgbm=={lightgbm_version}"] if lightgbm_version else None
        )
        with contextlib.redirect_stderr(io.StringIO()):  # MLflow prints "Registered model ..." lines
            registered = mlflow.register_model(info.model_uri, MODEL_NAME)
        try:
            has_champion = client.get_model_version_by_alias(MODEL_NAME, CHAMPION) is not None
        except Exception:  # noqa: BLE001 - MLflow's RestException when the alias does not exist
            has_champion = False
        alias = CHALLENGER if has_champion else CHAMPION
        client.set_registered_model_alias(MODEL_NAME, alias, registered.version)
        result = {
            "run_id": run.info.run_id,
            "experiment_id": experiment_id,
            "model_name": MODEL_NAME,
            "model_version": str(registered.version),
            "alias": alias,
            "tracking_uri": uri,
        }
        metadata["mlflow"] = result
        bundle_io.write_metadata(bundle_dir, metadata)
        mlflow.log_artifacts(str(bundle_dir), artifact_path="bundle")
    log(f"mlflow run {result['run_id']}: {MODEL_NAME} version {result['model_version']} is now '{alias}'")
    return result
