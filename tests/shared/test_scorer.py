"""The Scorer on a real bundle: load once, score one or many, calibration, clear errors for broken bundles."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from shared.encoding import encode
from shared.exceptions import BundleError
from shared.schema import example_application
from shared.scorer import Calibration, Scorer, ScoreResult, decide
from tests.utils.data import synthetic_applications


@pytest.fixture(scope="module")
def scorer(tiny_bundle: Path) -> Scorer:
    return Scorer.load(tiny_bundle)


def test_score_one(scorer: Scorer) -> None:
    result = scorer.score(example_application())
    assert isinstance(result, ScoreResult)
    assert 0.0 <= result.probability <= 1.0
    assert result.decision == decide(result.probability, scorer.threshold)
    assert result.threshold == scorer.threshold and result.model_version == scorer.model_version
    assert result.inference_ms > 0
    assert set(result.to_dict()) == {"probability", "decision", "threshold", "model_version", "inference_ms"}


def test_batch_equals_one_by_one(scorer: Scorer) -> None:
    applications = synthetic_applications(200, seed=8)
    batch = [r.probability for r in scorer.score_batch(applications)]
    single = [scorer.score(a).probability for a in applications[:20]]
    assert np.allclose(batch[:20], single, atol=1e-6)
    assert scorer.score_batch([]) == []
    decisions = {r.decision for r in scorer.score_batch(applications)}
    assert decisions == {"approved", "refused"}  # the threshold splits real-looking applications


def test_score_is_the_calibrated_model_output(scorer: Scorer) -> None:
    assert not scorer.calibration.identity  # the tiny bundle is calibrated, like every new build
    applications = synthetic_applications(50, seed=9)
    raw = scorer.predict_proba(encode(applications, scorer.state))
    assert raw.shape == (50,)
    calibrated = scorer.calibrate(raw)
    assert np.allclose([r.probability for r in scorer.score_batch(applications)], calibrated, atol=1e-9)
    assert [scorer.score(a).probability for a in applications[:5]] == pytest.approx(calibrated[:5], abs=1e-9)
    # the weighted model's raw scores are pushed up; calibration brings them down, keeping the order
    assert calibrated.mean() < raw.mean()
    assert np.array_equal(np.argsort(calibrated, kind="stable"), np.argsort(raw, kind="stable"))


def test_a_bundle_without_calibration_serves_raw_scores(tiny_bundle: Path, tmp_path: Path) -> None:
    """Bundles built before calibration existed still load and score as they did."""
    bundle = _copy(tiny_bundle, tmp_path)
    metadata = json.loads((bundle / "metadata.json").read_text())
    del metadata["calibration"]
    (bundle / "metadata.json").write_text(json.dumps(metadata))
    old = Scorer.load(bundle)
    assert old.calibration.identity
    applications = synthetic_applications(20, seed=10)
    raw = old.predict_proba(encode(applications, old.state))
    assert old.calibrate(raw) is raw
    results = old.score_batch(applications)
    assert [r.probability for r in results] == pytest.approx(raw.tolist(), abs=0)
    assert [r.decision for r in results] == [decide(p, old.threshold) for p in raw.tolist()]


@pytest.mark.parametrize(
    ("calibration", "message"),
    [
        ({"method": "isotonic", "a": 1.0, "b": 0.0}, "unknown calibration method"),
        ({"method": "platt", "a": -0.5, "b": 0.0}, "positive"),
        ({"method": "platt", "a": 0.0, "b": 0.0}, "positive"),
        ({"method": "platt", "b": 0.0}, "'a' and 'b'"),
        ({"method": "platt", "a": "x", "b": 0.0}, "'a' and 'b'"),
    ],
)
def test_bad_calibration_is_a_bundle_error(tiny_bundle: Path, tmp_path: Path, calibration: dict, message: str) -> None:
    bundle = _copy(tiny_bundle, tmp_path)
    metadata = json.loads((bundle / "metadata.json").read_text())
    metadata["calibration"] = calibration
    (bundle / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(BundleError, match=message):
        Scorer.load(bundle)


@pytest.mark.parametrize("n", [1, 3, 8, 9, 1_000])  # the plain-float path (<= 8 rows) and the numpy path
def test_calibration_is_platt_scaling(n: int) -> None:
    calibration = Calibration(a=0.8, b=-2.1)
    rng = np.random.default_rng(n)
    raw = rng.random(n).astype(np.float32)
    z = np.log(raw.astype(np.float64) / (1.0 - raw.astype(np.float64)))
    expected = 1.0 / (1.0 + np.exp(-(0.8 * z - 2.1)))
    got = calibration.apply(raw)
    assert got.dtype == np.float64 and got.shape == raw.shape
    assert np.allclose(got, expected, rtol=1e-12, atol=0)
    assert [calibration.apply_one(v) for v in raw.tolist()] == pytest.approx(got.tolist(), rel=1e-12)
    assert [calibration.inverse(p) for p in got.tolist()] == pytest.approx(raw.tolist(), rel=1e-9)


def test_calibration_at_the_edges() -> None:
    calibration = Calibration(a=0.8, b=-2.1)
    for raw in (np.array([0.0, 1.0, 0.5], dtype=np.float32), np.array([0.0, 1.0, 0.5] * 5, dtype=np.float32)):
        got = calibration.apply(raw)
        assert np.all(np.isfinite(got)) and np.all((got >= 0) & (got <= 1))
        assert got[0] < got[2] < got[1]  # 0 and 1 stay ordered (clipped inside (0, 1), never NaN)
    steep = Calibration(a=60.0, b=0.0)  # an odds ratio beyond float range: probability 0, no error
    assert steep.apply_one(1e-12) == 0.0
    assert np.all(steep.apply(np.full(20, 1e-12)) == 0.0)
    assert Calibration().identity and Calibration().inverse(0.3) == 0.3


def test_decide_at_the_threshold() -> None:
    assert decide(0.5, 0.5) == "refused"
    assert decide(0.4999, 0.5) == "approved"


def test_threads_option(tiny_bundle: Path, scorer: Scorer) -> None:
    two = Scorer.load(tiny_bundle, threads=2)
    application = example_application()
    assert two.score(application).probability == pytest.approx(scorer.score(application).probability, abs=1e-6)


def _copy(tiny_bundle: Path, tmp_path: Path) -> Path:
    target = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, target)
    return target


@pytest.mark.parametrize("missing", ["model.onnx", "metadata.json"])
def test_missing_file_is_a_bundle_error(tiny_bundle: Path, tmp_path: Path, missing: str) -> None:
    bundle = _copy(tiny_bundle, tmp_path)
    (bundle / missing).unlink()
    with pytest.raises(BundleError, match=missing):
        Scorer.load(bundle)


def test_bad_metadata_is_a_bundle_error(tiny_bundle: Path, tmp_path: Path) -> None:
    bundle = _copy(tiny_bundle, tmp_path)
    (bundle / "metadata.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        Scorer.load(bundle)
    metadata = json.loads((tiny_bundle / "metadata.json").read_text())
    del metadata["threshold"]
    (bundle / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(BundleError, match="threshold"):
        Scorer.load(bundle)


def test_encoding_that_does_not_fit_the_model_is_refused(tiny_bundle: Path, tmp_path: Path) -> None:
    bundle = _copy(tiny_bundle, tmp_path)
    metadata = json.loads((bundle / "metadata.json").read_text())
    categories = metadata["encoding"]["categories"]
    categories["NAME_CONTRACT_TYPE"] = categories["NAME_CONTRACT_TYPE"][:1]
    metadata["encoding"].pop("feature_names")
    (bundle / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(BundleError, match="features"):
        Scorer.load(bundle)


def test_one_application_gets_the_calibrated_value_of_its_raw_output(scorer: Scorer) -> None:
    for application in synthetic_applications(20, seed=5):
        raw = scorer.predict_proba(encode([application], scorer.state))
        assert scorer.score_batch([application])[0].probability == scorer.calibrate(raw).tolist()[0]
