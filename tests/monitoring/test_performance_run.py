"""Performance runs on the SQLite store: the window's figures, per model version, the report, the alerts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
import pytest
from sklearn.metrics import roc_auc_score

from monitoring.__main__ import main
from monitoring.performance.run import PerformanceJob, PerformanceWindow
from monitoring.settings import MonitoringSettings
from shared.outcomes import OutcomeService
from shared.store.sqlite import SQLiteEventStore
from tests.utils.outcomes import KEY, population

START = datetime(2026, 11, 1, tzinfo=UTC)
METADATA = {"version": "model-2", "threshold": {"value": 0.1, "cost_fn": 10.0, "cost_fp": 1.0},
            "metrics": {"auc": 0.7, "cost_per_application": 0.6,
                        "holdout": {"auc": 0.77, "cost_per_application": 0.52}}}


@pytest.fixture
def perf_settings(settings: MonitoringSettings, tmp_path: Path) -> MonitoringSettings:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "metadata.json").write_text(json.dumps(METADATA))
    return settings.model_copy(update={"model_dir": bundle, "performance_min_applications": 200})


@pytest.fixture
def loaded(store: SQLiteEventStore) -> tuple[SQLiteEventStore, np.ndarray, np.ndarray]:
    """1,200 applications (two model versions), outcomes for every other one."""
    people = population(1_200, start=START, versions=("model-1", "model-2"), men_refused_more=0.15)
    store.index_events(people.events)
    service = OutcomeService(store, KEY, clock=lambda: datetime(2027, 3, 2, tzinfo=UTC))
    answer = service.ingest({"outcomes": people.outcome_items(every=2)})
    assert answer.accepted == 600 and not answer.errors
    return store, people.scores[::2], people.defaulted[::2]


def test_last_n_figures_match_scikit_learn(perf_settings: MonitoringSettings, loaded: tuple) -> None:
    store, scores, defaulted = loaded
    report = PerformanceJob(perf_settings, store).run(PerformanceWindow(last=1_200), alert=False)
    assert report["n_scored"] == 1_200 and report["n_outcomes"] == 600 and report["n_unmatched"] == 0
    assert report["realised"]["auc"] == pytest.approx(roc_auc_score(defaulted, scores), abs=1e-9)
    refused = scores >= 0.1
    cost = (10 * np.sum(defaulted & ~refused) + np.sum(~defaulted & refused)) / 600
    assert report["realised"]["cost_per_application"] == pytest.approx(cost)
    assert report["reference"] == {"cost_per_application": 0.52, "auc": 0.77, "model_version": "model-2"}
    assert report["model_versions"] == ["model-1", "model-2"]
    assert {v: b["n_scored"] for v, b in report["per_model_version"].items()} == {"model-1": 600, "model-2": 600}
    assert report["estimated"]["n"] == 1_200 and 0.5 < report["estimated"]["auc"] < 1
    fairness = report["fairness"]
    assert set(fairness) == {"CODE_GENDER", "age_band", "disparate_impact"}
    assert fairness["CODE_GENDER"]["F"]["approval_rate"] > fairness["CODE_GENDER"]["M"]["approval_rate"]
    assert store.list_performance_reports()[0]["report_id"] == report["report_id"]


def test_last_n_takes_only_those_applications_outcomes(perf_settings: MonitoringSettings, loaded: tuple) -> None:
    store, _, _ = loaded
    report = PerformanceJob(perf_settings, store).run(PerformanceWindow(last=100), alert=False, save=False)
    assert report["n_scored"] == 100 and report["n_outcomes"] == 50


def test_since_window(perf_settings: MonitoringSettings, loaded: tuple) -> None:
    store, _, _ = loaded
    spec = PerformanceWindow(since=START + timedelta(seconds=1_000), until=START + timedelta(seconds=1_100))
    report = PerformanceJob(perf_settings, store).run(spec, alert=False, save=False)
    assert report["n_scored"] == 100 and report["n_outcomes"] == 50


def test_no_outcome_gives_null_realised(perf_settings: MonitoringSettings, store: SQLiteEventStore) -> None:
    store.index_events(population(50, start=START).events)
    report = PerformanceJob(perf_settings, store).run(PerformanceWindow(last=50), alert=False, save=False)
    assert report["realised"] is None and report["n_outcomes"] == 0 and report["estimated"]["n"] == 50


def test_alerts_on_cost_and_disparate_impact(perf_settings: MonitoringSettings, loaded: tuple) -> None:
    store, _, _ = loaded
    strict = perf_settings.model_copy(update={"fairness_min_ratio": 0.99, "performance_cost_margin": 0.0})
    PerformanceJob(strict, store).run(PerformanceWindow(last=1_200))
    alerts = store.list_alerts()
    metrics = {(a["metric"], a["model_version"]) for a in alerts}
    assert ("disparate_impact", "model-1") in metrics and ("estimated_cost", "model-2") in metrics
    assert all(a["source"] == "performance" and a["applications"] >= 200 for a in alerts)
    few = strict.model_copy(update={"performance_min_applications": 10_000})
    before = len(store.list_alerts())
    PerformanceJob(few, store).run(PerformanceWindow(last=1_200))
    assert len(store.list_alerts()) == before  # too few applications behind any figure: no alert


def test_command_json(perf_settings: MonitoringSettings, loaded: tuple, monkeypatch: pytest.MonkeyPatch,
                      capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("MODEL_DIR", str(perf_settings.model_dir))
    monkeypatch.setenv("SQLITE_PATH", str(perf_settings.sqlite_path))
    assert main(["performance", "--last", "1200", "--json"]) == 0
    report = orjson.loads(capsys.readouterr().out)
    assert {"window", "model_versions", "n_scored", "n_outcomes", "n_unmatched", "realised", "estimated",
            "reference", "fairness"} <= set(report)
    assert set(report["realised"]) == {"auc", "cost_per_application", "approval_rate", "default_rate_approved",
                                       "brier", "reliability"}
    assert set(report["realised"]["reliability"][0]) == {"mean_predicted", "observed", "n"}
    assert set(report["estimated"]) == {"auc", "cost_per_application", "n"}
    assert set(report["fairness"]["disparate_impact"]) == {"CODE_GENDER", "age_band"}
    assert {"n", "approval_rate", "tpr", "fpr"} <= set(report["fairness"]["CODE_GENDER"]["F"])
    assert main(["performance", "--last", "1200"]) == 0
    assert "realised:  cost/application" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["performance", "--last", "0"], ["performance", "--last", "5", "--since",
                                                                    "2026-01-01T00:00:00Z"]])
def test_bad_arguments_exit_2(argv: list[str], perf_settings: MonitoringSettings) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
