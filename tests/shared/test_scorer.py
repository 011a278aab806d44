"""The Scorer on a real bundle: load once, score one or many, clear errors for broken bundles."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from shared.encoding import encode
from shared.exceptions import BundleError
from shared.schema import example_application
from shared.scorer import Scorer, ScoreResult, decide
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


def test_predict_proba_on_a_matrix(scorer: Scorer) -> None:
    applications = synthetic_applications(50, seed=9)
    probabilities = scorer.predict_proba(encode(applications, scorer.state))
    assert probabilities.shape == (50,)
    assert np.allclose(probabilities, [r.probability for r in scorer.score_batch(applications)], atol=1e-6)


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
