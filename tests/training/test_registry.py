"""Champion and challenger in a local MLflow store: the gate promotes, refuses, is forced; rollback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import lightgbm as lgb
import pytest

from shared.settings import BaseServiceSettings
from shared.store.sqlite import SQLiteEventStore
from training import gate
from training.__main__ import EXIT_REFUSED, main
from training.bundle import read_metadata, write_metadata
from training.tracking import CHALLENGER, CHAMPION, MODEL_NAME, track_build

pytestmark = pytest.mark.slow


@pytest.fixture
def registry(tiny_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """A fresh local MLflow store and SQLite store, with a function that registers a copy of the tiny bundle."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("SQLITE_PATH", str(tmp_path / "store.sqlite3"))
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("ELASTICSEARCH_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # MLflow's artifacts and the registry cache stay in tmp_path
    monkeypatch.setattr(gate, "EVALUATION_ROWS", 3000)
    booster = lgb.Booster(model_file=str(tiny_bundle / "model.txt"))
    count = {"n": 0}

    def register(threshold: float | None = None) -> str:
        count["n"] += 1
        bundle = tmp_path / f"build{count['n']}"
        shutil.copytree(tiny_bundle, bundle)
        metadata = read_metadata(bundle)
        if threshold is not None:  # a deliberately worse model: its decisions ignore the cost rule
            metadata["threshold"]["value"] = threshold
            write_metadata(bundle, metadata)
        return str(track_build(bundle, metadata, booster)["model_version"])

    from mlflow import MlflowClient

    return {"register": register, "client": MlflowClient(tracking_uri=uri)}


def _alias(client: object, alias: str) -> str:
    return str(client.get_model_version_by_alias(MODEL_NAME, alias).version)  # type: ignore[attr-defined]


def _events() -> list[dict[str, object]]:
    store = SQLiteEventStore(BaseServiceSettings().sqlite_path)
    store.setup()
    return store.list_model_events()


def test_gate_promotes_refuses_forces_and_rolls_back(registry: dict[str, object],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    register, client = registry["register"], registry["client"]
    assert register() == "1" and _alias(client, CHAMPION) == "1"  # the first version is champion at once
    assert register() == "2" and _alias(client, CHALLENGER) == "2" and _alias(client, CHAMPION) == "1"

    # the same model again: the gate passes, champion moves, the challenger alias is consumed
    assert main(["promote", "--alias", "challenger"]) == 0
    assert _alias(client, CHAMPION) == "2"
    out = capsys.readouterr().out
    assert "AUC" in out and "disparate impact CODE_GENDER" in out and "champion v1 -> v2" in out

    # a worse model (approves everyone: every default missed) is refused, nothing moves
    assert register(threshold=0.999) == "3"
    assert main(["promote", "--version", "3"]) == EXIT_REFUSED
    assert _alias(client, CHAMPION) == "2"
    assert "cost per application" in capsys.readouterr().out

    # forced past the gate: promoted and recorded as forced
    assert main(["promote", "--version", "3", "--force"]) == 0
    assert _alias(client, CHAMPION) == "3"

    # rollback: back to the previous champion, then to the one before
    assert main(["rollback"]) == 0 and _alias(client, CHAMPION) == "2"
    assert main(["rollback"]) == 0 and _alias(client, CHAMPION) == "1"
    assert main(["rollback"]) == 2  # no previous champion left: a one-line error

    events = list(reversed(_events()))
    assert [e["action"] for e in events] == ["promote", "refused", "promote", "rollback", "rollback"]
    assert [(e["from_version"], e["to_version"]) for e in events] == [
        ("1", "2"), ("2", "3"), ("2", "3"), ("3", "2"), ("2", "1")]
    assert [e["forced"] for e in events] == [False, False, True, False, False]
    refused = events[1]["gate"]
    assert isinstance(refused, dict) and refused["passed"] is False
    failed = {c["name"] for c in refused["checks"] if not c["passed"]}
    assert "cost per application" in failed


def test_the_evaluation_set_is_saved_once_and_reused(registry: dict[str, object]) -> None:
    register, client = registry["register"], registry["client"]
    register(), register()
    assert main(["promote"]) == 0
    tags = client.get_registered_model(MODEL_NAME).tags  # type: ignore[attr-defined]
    run_id = tags["evaluation_run_id"]
    first_run = client.get_model_version(MODEL_NAME, "1").run_id  # type: ignore[attr-defined]
    assert run_id == first_run
    register()
    # a second gate reuses it, and refuses another evaluation set
    data = Path("other.csv")
    data.write_text("x\n")
    assert main(["promote", "--evaluation-data", str(data)]) == 2
    assert main(["promote"]) == 0
    assert client.get_registered_model(MODEL_NAME).tags["evaluation_run_id"] == run_id  # type: ignore[attr-defined]
    files = {a.path for a in client.list_artifacts(first_run, "evaluation")}  # type: ignore[attr-defined]
    assert files == {"evaluation/evaluation.jsonl.gz"}


def test_compare_limits_by_hand() -> None:
    champion = {"auc": 0.770, "cost_per_application": 0.500, "rows": 10,
                "disparate_impact": {"CODE_GENDER": 0.90, "age_band": 0.50}}
    ok = {"auc": 0.7651, "cost_per_application": 0.5049, "rows": 10,
          "disparate_impact": {"CODE_GENDER": 0.881, "age_band": 0.49}}
    assert gate.compare(champion, ok).passed
    for key, value in (("auc", 0.7649), ("cost_per_application", 0.5051)):
        assert not gate.compare(champion, {**ok, key: value}).passed
    worse_di = {**ok, "disparate_impact": {"CODE_GENDER": 0.879, "age_band": 0.49}}
    result = gate.compare(champion, worse_di)
    assert not result.passed and [c.name for c in result.checks if not c.passed] == ["disparate impact CODE_GENDER"]
    assert json.dumps(result.to_dict())  # stored as JSON in the model events


def test_register_an_existing_bundle(registry: dict[str, object], tiny_bundle: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    for expected in ({"model_version": "1", "alias": CHAMPION}, {"model_version": "2", "alias": CHALLENGER}):
        bundle = tmp_path / f"ci-{expected['model_version']}"
        shutil.copytree(tiny_bundle, bundle)
        assert main(["register", "--bundle", str(bundle), "--json"]) == 0
        assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == expected
    assert main(["register", "--bundle", str(tmp_path)]) == 2  # not a bundle: one-line error


def test_bad_promote_arguments_are_one_line_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    assert main(["promote", "--evaluation-data", str(tmp_path / "missing.csv")]) == 2  # before any MLflow call
    assert "no such file" in capsys.readouterr().err
    assert main(["promote", "--version", "99"]) == 2  # an empty registry has no version 99
    assert "no version 99" in capsys.readouterr().err
    assert main(["promote"]) == 2  # nor a challenger
    assert "challenger" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: --version and --alias exclude each other
        main(["promote", "--version", "1", "--alias", "challenger"])
