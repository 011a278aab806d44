"""MLflow tracking of a build: run, metrics, bundle artifacts; the first version champion, the next challengers."""

from __future__ import annotations

import shutil
from pathlib import Path

import lightgbm as lgb
import pytest

from training.bundle import read_metadata
from training.tracking import CHALLENGER, CHAMPION, DEFAULT_TRACKING_URI, MODEL_NAME, track_build, tracking_uri


def test_tracking_uri_defaults_to_local_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri() == DEFAULT_TRACKING_URI == "sqlite:///mlruns/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////tmp/elsewhere.db")
    assert tracking_uri() == "sqlite:////tmp/elsewhere.db"


@pytest.mark.slow
def test_two_builds_two_versions_only_the_first_is_champion(
    tiny_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)  # MLflow's default artifact root is ./mlruns: keep it out of the repo
    booster = lgb.Booster(model_file=str(tiny_bundle / "model.txt"))
    infos = []
    for build in ("first", "second"):
        bundle = tmp_path / build
        shutil.copytree(tiny_bundle, bundle)
        metadata = read_metadata(bundle)
        infos.append(track_build(bundle, metadata, booster))
        assert read_metadata(bundle)["mlflow"] == infos[-1]  # the bundle knows its run
    assert [i["model_version"] for i in infos] == ["1", "2"]
    client = MlflowClient(tracking_uri=uri)
    assert [i["alias"] for i in infos] == [CHAMPION, CHALLENGER]
    # a build never moves the champion: only `python -m training promote` does, after its gate
    assert str(client.get_model_version_by_alias(MODEL_NAME, CHAMPION).version) == "1"
    assert str(client.get_model_version_by_alias(MODEL_NAME, CHALLENGER).version) == "2"
    run = client.get_run(infos[1]["run_id"])
    assert run.data.metrics["auc"] == pytest.approx(read_metadata(tiny_bundle)["metrics"]["auc"])
    assert run.data.params["cost_fn"] == "10.0"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "bundle")}
    assert {"bundle/model.onnx", "bundle/metadata.json", "bundle/reference.jsonl.gz"} <= artifacts
