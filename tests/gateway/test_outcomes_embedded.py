"""The outcomes flow in embedded mode (SQLite, in-process indexer): score, send outcomes, run the command."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from sklearn.metrics import roc_auc_score

from embedded.app import create_app
from gateway.settings import GatewaySettings
from monitoring.__main__ import main
from shared.store.sqlite import SQLiteEventStore
from tests.utils.outcome_flow import applications_with_outcomes, outcome_items, post_outcomes, score_all, wait_indexed

HEADERS = {"X-API-Key": "embedded-outcomes-key"}
N = 400


def test_embedded_outcomes_and_performance(bundle_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture) -> None:
    for name in ("REDIS_URL", "ELASTICSEARCH_URL"):
        monkeypatch.delenv(name, raising=False)
    sqlite_path = tmp_path / "events.sqlite3"
    settings = GatewaySettings(
        redis_url=None, elasticsearch_url=None, sqlite_path=sqlite_path, model_dir=bundle_dir,
        api_keys=HEADERS["X-API-Key"], allow_no_api_key=False, environment="development", embedded_worker=False,
        embedded_indexer=True, spool_dir=tmp_path / "spool", access_log=False,
        pseudonymisation_key="embedded-outcomes-pseudonymisation-key")
    applications, defaulted = applications_with_outcomes(N, seed=22)
    store = SQLiteEventStore(sqlite_path)
    store.setup()  # the tables exist before the first count, whenever the in-process indexer gets to them
    with TestClient(create_app(settings)) as client:
        results = score_all(client, applications, HEADERS)
        wait_indexed(store, N)
        items = outcome_items(applications, results, defaulted)
        assert post_outcomes(client, items, HEADERS, size=150) == {"accepted": N, "updated": 0, "unchanged": 0}
    store.close()
    monkeypatch.setenv("SQLITE_PATH", str(sqlite_path))
    monkeypatch.setenv("MODEL_DIR", str(bundle_dir))
    assert main(["performance", "--last", str(N), "--json"]) == 0
    report = orjson.loads(capsys.readouterr().out)
    assert report["n_scored"] == N and report["n_outcomes"] == N
    probabilities = [r["probability"] for r in results]
    assert report["realised"]["auc"] == pytest.approx(roc_auc_score(defaulted, probabilities), abs=1e-9)
