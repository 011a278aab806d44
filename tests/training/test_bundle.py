"""The bundle round trip: build, load with the serving Scorer, same scores as LightGBM (calibrated)."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest

from shared.columns import feature_names
from shared.encoding import EncodingState, encode
from shared.scorer import Calibration, Scorer
from training.bundle import bundle_files, read_metadata, read_reference, staging


@pytest.fixture(scope="module")
def metadata(tiny_bundle: Path) -> dict:
    return read_metadata(tiny_bundle)


@pytest.fixture(scope="module")
def reference(tiny_bundle: Path) -> list[dict]:
    return list(read_reference(tiny_bundle / "reference.jsonl.gz"))


def test_bundle_holds_every_file(tiny_bundle: Path) -> None:
    assert sorted(p.name for p in tiny_bundle.iterdir()) == sorted(bundle_files())


def test_metadata_has_what_the_scorer_and_monitoring_read(metadata: dict) -> None:
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{8}", metadata["version"])
    assert metadata["version"].endswith(metadata["data"]["fingerprint"][:8])
    assert metadata["data"]["source"] == "synthetic" and metadata["data"]["rows"] == 3_000
    assert 0.05 < metadata["data"]["target_rate"] < 0.12
    assert metadata["features"] == EncodingState.from_dict(metadata["encoding"]).feature_names
    threshold = metadata["threshold"]
    assert 0 < threshold["value"] < 1 and (threshold["cost_fn"], threshold["cost_fp"]) == (10.0, 1.0)
    for key in ("auc", "recall", "precision", "brier", "cost_per_application"):
        assert isinstance(metadata["metrics"][key], float), key
    assert metadata["metrics"]["cost_per_application"] == threshold["cost_per_application"]
    assert metadata["parity"]["rows"] >= 10_000 and metadata["parity"]["max_abs_diff"] <= 1e-4
    parity = metadata["parity"]
    assert parity["calibrated_decision_mismatches"] == parity["calibrated_near_threshold"]
    assert metadata["reference"] == {"file": "reference.jsonl.gz", "rows": 3_000}
    assert {"lightgbm", "onnxruntime", "onnxmltools"} <= set(metadata["libraries"])
    assert "mlflow" not in metadata  # built with --no-mlflow


def test_calibration_is_recorded_and_lowers_the_brier_score(metadata: dict) -> None:
    calibration = metadata["calibration"]
    assert calibration["method"] == "platt" and calibration["fitted_on"] == "out-of-fold scores"
    assert calibration["a"] > 0 and calibration["rows"] == metadata["training"]["rows_cv"]
    oof = metadata["metrics"]["oof"]
    base_rate = (oof["tp"] + oof["fn"]) / oof["rows"]
    # the weighted model's raw scores are worse than always answering the base rate; calibrated, they are better
    assert calibration["brier_raw"] > base_rate * (1 - base_rate) > calibration["brier_calibrated"]
    assert metadata["metrics"]["brier"] == calibration["brier_calibrated"] == oof["brier"]
    assert metadata["metrics"]["brier_raw"] == pytest.approx(calibration["brier_raw"], rel=1e-12)
    holdout = metadata["metrics"]["holdout"]
    assert holdout["brier"] < holdout["brier_raw"]


def test_threshold_is_on_calibrated_probabilities(metadata: dict) -> None:
    threshold = metadata["threshold"]
    assert threshold["chosen_on"] == "calibrated out-of-fold probabilities"
    calibration = Calibration(metadata["calibration"]["a"], metadata["calibration"]["b"])
    assert calibration.apply_one(threshold["raw_value"]) == pytest.approx(threshold["value"], rel=1e-9)
    assert threshold["value"] < threshold["raw_value"]  # the raw scores are pushed upwards
    assert 0.02 < threshold["value"] < 0.3  # near 1/11 = cost_fp / (cost_fn + cost_fp), not near 0.5


def test_scorer_scores_equal_lightgbm(tiny_bundle: Path, reference: list[dict], metadata: dict) -> None:
    scorer = Scorer.load(tiny_bundle)
    applications = [{k: v for k, v in row.items() if k != "score"} for row in reference[:2_000]]
    results = scorer.score_batch(applications)
    booster = lgb.Booster(model_file=str(tiny_bundle / "model.txt"))
    matrix = encode(applications, scorer.state)
    expected = booster.predict(matrix)
    assert np.abs(scorer.predict_proba(matrix) - expected).max() <= 1e-4  # raw parity
    got = np.array([r.probability for r in results])
    assert np.abs(got - scorer.calibrate(expected)).max() <= 1e-4  # served = calibrated LightGBM
    assert scorer.model_version == metadata["version"]
    assert scorer.threshold == metadata["threshold"]["value"]
    single = scorer.score(applications[0])
    assert single.probability == pytest.approx(results[0].probability, abs=1e-6)
    assert all(r.decision == ("refused" if r.probability >= scorer.threshold else "approved") for r in results)


def test_reference_lines_are_raw_applications_with_their_score(tiny_bundle: Path, reference: list[dict]) -> None:
    """The reference ``score`` is the calibrated probability, as production events carry it."""
    assert len(reference) == 3_000
    expected_keys = {*feature_names(), "score"}  # no client id: see the test below
    assert all(set(row) == expected_keys for row in reference)
    assert any(row["EXT_SOURCE_1"] is None for row in reference)  # missing stays missing (null)
    scorer = Scorer.load(tiny_bundle)
    sample = reference[:300]
    scores = [r.probability for r in scorer.score_batch([{k: v for k, v in r.items() if k != "score"} for r in sample])]
    assert np.allclose(scores, [r["score"] for r in sample], atol=1e-6)
    # plain JSON lines: readable without pandas
    import gzip

    with gzip.open(tiny_bundle / "reference.jsonl.gz", "rt") as handle:
        assert isinstance(json.loads(handle.readline()), dict)


def test_the_reference_sample_keeps_no_client_id(tiny_bundle: Path, reference: list[dict]) -> None:
    assert reference and not any("SK_ID_CURR" in row for row in reference)
    with gzip.open(tiny_bundle / "reference.jsonl.gz", "rb") as handle:
        assert b"SK_ID_CURR" not in handle.read()


def test_staging_replaces_the_old_bundle_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "bundle"
    with staging(target) as first:
        (first / "metadata.json").write_text('{"v": 1}')
    with pytest.raises(RuntimeError), staging(target) as second:
        (second / "metadata.json").write_text('{"v": 2}')
        raise RuntimeError("build failed half-way")
    assert json.loads((target / "metadata.json").read_text()) == {"v": 1}
    with staging(target) as third:
        (third / "metadata.json").write_text('{"v": 3}')
    assert json.loads((target / "metadata.json").read_text()) == {"v": 3}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]  # no staging or old copies left
