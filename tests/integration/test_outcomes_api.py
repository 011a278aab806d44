"""POST /v1/outcomes against a real Elasticsearch: score 2,000 applications, send their outcomes, measure.

The gateway runs in-process with its embedded indexer writing to this test's
index prefix (``test-<uuid8>``, dropped after); the command then reads the
same indices. Its realised AUC must be scikit-learn's on the probabilities the
API returned, to 1e-9.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from sklearn.metrics import roc_auc_score

from embedded.app import create_app
from gateway.settings import GatewaySettings
from monitoring.__main__ import main
from shared.store.elastic import ElasticsearchEventStore
from shared.store.outcome_base import MATCHED
from tests.utils.outcome_flow import applications_with_outcomes, outcome_items, post_outcomes, score_all, wait_indexed
from tests.utils.servers import require_elasticsearch

pytestmark = pytest.mark.integration

API_KEY = "outcomes-integration-key"
HEADERS = {"X-API-Key": API_KEY}
N = 2_000


def test_realised_auc_equals_scikit_learn_on_the_returned_probabilities(
        es_store: ElasticsearchEventStore, tiny_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    url = require_elasticsearch()
    settings = GatewaySettings(
        redis_url=None, elasticsearch_url=url, es_index_prefix=es_store.prefix, model_dir=tiny_bundle,
        api_keys=API_KEY, allow_no_api_key=False, environment="development", embedded_worker=False,
        embedded_indexer=True, spool_dir=tmp_path / "spool", access_log=False,
        pseudonymisation_key="outcomes-integration-pseudonymisation-key")
    applications, defaulted = applications_with_outcomes(N, seed=21)
    with TestClient(create_app(settings)) as client:
        results = score_all(client, applications, HEADERS)
        wait_indexed(es_store, N)
        items = outcome_items(applications, results, defaulted)
        assert post_outcomes(client, items, HEADERS) == {"accepted": N, "updated": 0, "unchanged": 0}
        assert post_outcomes(client, items[:300], HEADERS) == {"accepted": 0, "updated": 0, "unchanged": 300}
    es_store.refresh()
    assert es_store.count_outcomes(MATCHED) == N
    stored = es_store.get_outcome(results[0]["event_id"])  # sent by SK_ID_CURR (item 0)
    assert stored is not None and str(applications[0]["SK_ID_CURR"]) not in orjson.dumps(stored).decode()

    monkeypatch.setenv("ELASTICSEARCH_URL", url)
    monkeypatch.setenv("ES_INDEX_PREFIX", es_store.prefix)
    monkeypatch.setenv("MODEL_DIR", str(tiny_bundle))
    assert main(["performance", "--last", str(N), "--json"]) == 0
    report = orjson.loads(capsys.readouterr().out)
    probabilities = [r["probability"] for r in results]
    assert report["n_scored"] == N and report["n_outcomes"] == N and report["n_unmatched"] == 0
    assert report["realised"]["auc"] == pytest.approx(roc_auc_score(defaulted, probabilities), abs=1e-9)
    assert report["estimated"]["n"] == N
    assert report["reference"]["auc"] is not None
