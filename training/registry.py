"""The model registry decides which version serves: champion, challenger, promotion, rollback.

A build registers a new version of ``credit-scoring`` in MLflow
(:func:`training.tracking.track_build`); the very first version becomes
``champion``, every later one ``challenger``. :func:`promote` moves
``champion`` to a version only after the gate of :mod:`training.gate` (or
with ``force``, recorded as such); :func:`rollback` moves it back to the
previous champion. The registered model keeps the history of champions in
its tag ``champion_history`` (a JSON list, oldest first), so a rollback
needs nothing but MLflow.

Every move is recorded in the store (``scoring-model-events`` in
Elasticsearch, the ``model_events`` table in embedded mode) and, with
``REDIS_URL`` set, published for the serving processes (:mod:`shared.champion`).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from training import gate as gate_mod
from training.exceptions import TrainingError
from training.tracking import CHALLENGER, CHAMPION, MODEL_NAME, quiet_mlflow, tracking_uri

Log = Callable[[str], None]
HISTORY_TAG = "champion_history"
EVALUATION_TAG = "evaluation_run_id"
EVALUATION_ARTIFACT = "evaluation"
CACHE = Path("var") / "registry"


class PromotionRefused(TrainingError):
    """The gate refused the candidate (the comparison is in ``result``)."""

    def __init__(self, message: str, result: gate_mod.GateResult, champion: str, candidate: str) -> None:
        super().__init__(message)
        self.result = result
        self.champion = champion
        self.candidate = candidate


@dataclass
class Move:
    """One registry move: what the command prints and the store records."""

    action: str
    from_version: str | None
    to_version: str
    forced: bool = False
    gate: dict[str, Any] | None = None
    bundle_uri: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))  # when the move happened

    @property
    def timestamp(self) -> str:
        """``at`` as stored: ISO-8601 UTC with milliseconds and a Z."""
        return self.at.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def document(self) -> dict[str, Any]:
        """The model event stored for this move."""
        return {
            "model_event_id": f"{self.at:%Y%m%d%H%M%S}-{random.getrandbits(32):08x}",
            "timestamp": self.timestamp,
            "action": self.action, "from_version": self.from_version, "to_version": self.to_version,
            "forced": self.forced, "gate": self.gate, "bundle_uri": self.bundle_uri,
        }


def client() -> Any:
    """An MLflow client on ``MLFLOW_TRACKING_URI`` (or the local store)."""
    quiet_mlflow()
    from mlflow import MlflowClient

    quiet_mlflow()
    return MlflowClient(tracking_uri=tracking_uri())


def alias_version(mlflow_client: Any, alias: str) -> str | None:
    """The version holding ``alias``, or None."""
    try:
        return str(mlflow_client.get_model_version_by_alias(MODEL_NAME, alias).version)
    except Exception:  # noqa: BLE001 - MLflow raises its own RestException for a missing alias
        return None


def _history(mlflow_client: Any) -> list[str]:
    tags = mlflow_client.get_registered_model(MODEL_NAME).tags
    try:
        return [str(v) for v in json.loads(tags.get(HISTORY_TAG, "[]"))]
    except (TypeError, ValueError):
        return []


def _set_history(mlflow_client: Any, history: list[str]) -> None:
    mlflow_client.set_registered_model_tag(MODEL_NAME, HISTORY_TAG, json.dumps(history[-50:]))


def bundle_uri(mlflow_client: Any, version: str) -> str:
    """Where a version's bundle lies: the artifact location of its run's ``bundle/`` folder."""
    run_id = mlflow_client.get_model_version(MODEL_NAME, version).run_id
    return mlflow_client.get_run(run_id).info.artifact_uri.rstrip("/") + "/bundle"


def bundle_dir(mlflow_client: Any, version: str) -> Path:
    """A local copy of a version's bundle (downloaded once into ``var/registry/<version>``)."""
    target = CACHE / f"v{version}"
    if (target / "bundle" / "metadata.json").is_file():
        return target / "bundle"
    import mlflow

    run_id = mlflow_client.get_model_version(MODEL_NAME, version).run_id
    target.mkdir(parents=True, exist_ok=True)
    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="bundle", dst_path=str(target),
                                               tracking_uri=tracking_uri())
    return Path(path)


def evaluation_set(mlflow_client: Any, data: Path | None, log: Log) -> list[dict[str, Any]]:
    """The registry's fixed evaluation set: made once (synthetic, or ``data``), saved with version 1, reused."""
    import mlflow

    tags = mlflow_client.get_registered_model(MODEL_NAME).tags
    run_id = tags.get(EVALUATION_TAG)
    if run_id:
        if data is not None:
            raise TrainingError("this registry already has its evaluation set; --evaluation-data applies only "
                                "before the first gate")
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=f"{EVALUATION_ARTIFACT}/{gate_mod.EVALUATION_FILE}",
            dst_path=str(CACHE / "evaluation"), tracking_uri=tracking_uri())
        return gate_mod.load_evaluation_set(Path(path))
    if data is not None:
        log(f"evaluation set: {data} (saved with the first registered version, reused by every gate)")
        records = gate_mod.csv_evaluation_set(data)
    else:
        log(f"evaluation set: {gate_mod.EVALUATION_ROWS:,} synthetic applications, seed {gate_mod.EVALUATION_SEED} "
            "(saved with the first registered version, reused by every gate)")
        records = gate_mod.synthetic_evaluation_set()
    first = min(mlflow_client.search_model_versions(f"name='{MODEL_NAME}'"), key=lambda v: int(v.version))
    local = gate_mod.save_evaluation_set(records, CACHE / "evaluation" / gate_mod.EVALUATION_FILE)
    mlflow_client.log_artifact(first.run_id, str(local), artifact_path=EVALUATION_ARTIFACT)
    mlflow_client.set_registered_model_tag(MODEL_NAME, EVALUATION_TAG, first.run_id)
    return gate_mod.load_evaluation_set(local)


def resolve(mlflow_client: Any, version: str | None, alias: str | None) -> str:
    """The version a ``--version``/``--alias`` pair names."""
    if version:
        try:
            mlflow_client.get_model_version(MODEL_NAME, version)
        except Exception as exc:  # noqa: BLE001
            raise TrainingError(f"{MODEL_NAME} has no version {version}") from exc
        return str(version)
    found = alias_version(mlflow_client, alias or CHALLENGER)
    if found is None:
        raise TrainingError(f"no version of {MODEL_NAME} holds the alias '{alias or CHALLENGER}'")
    return found


def promote(version: str | None = None, alias: str | None = None, force: bool = False,
            data: Path | None = None, limits: gate_mod.GateLimits | None = None, log: Log = print) -> Move:
    """Move ``champion`` to a version after the gate.

    Raises:
        PromotionRefused: the gate failed and ``force`` is False (nothing moved).
        TrainingError: no such version or alias, or the version is already champion.
    """
    mlflow_client = client()
    candidate = resolve(mlflow_client, version, alias)
    champion = alias_version(mlflow_client, CHAMPION)
    if champion == candidate:
        raise TrainingError(f"version {candidate} is already the champion")
    result = None
    if champion is not None:
        records = evaluation_set(mlflow_client, data, log)
        log(f"gate: champion v{champion} against candidate v{candidate} on {len(records):,} applications")
        result = gate_mod.compare(gate_mod.evaluate(bundle_dir(mlflow_client, champion), records),
                                  gate_mod.evaluate(bundle_dir(mlflow_client, candidate), records), limits)
        log(result.table())
        if not result.passed and not force:
            raise PromotionRefused(f"v{candidate} refused by the gate: champion stays v{champion}", result,
                                   champion, candidate)
    mlflow_client.set_registered_model_alias(MODEL_NAME, CHAMPION, candidate)
    if alias_version(mlflow_client, CHALLENGER) == candidate:
        mlflow_client.delete_registered_model_alias(MODEL_NAME, CHALLENGER)
    if champion is not None:
        _set_history(mlflow_client, [*_history(mlflow_client), champion])
    forced = bool(force and result is not None and not result.passed)
    return Move("promote", champion, candidate, forced, result.to_dict() if result else None,
                bundle_uri(mlflow_client, candidate))


def rollback(log: Log = print) -> Move:
    """Move ``champion`` back to the previous champion.

    Raises:
        TrainingError: there is no previous champion.
    """
    mlflow_client = client()
    history = _history(mlflow_client)
    current = alias_version(mlflow_client, CHAMPION)
    if not history:
        raise TrainingError("no previous champion to roll back to")
    previous = history.pop()
    mlflow_client.set_registered_model_alias(MODEL_NAME, CHAMPION, previous)
    _set_history(mlflow_client, history)
    log(f"champion: v{current} -> v{previous}")
    return Move("rollback", current, previous, bundle_uri=bundle_uri(mlflow_client, previous))
