"""Exact explanations: additivity, agreement with the served probability, every column mapped once."""

from __future__ import annotations

import json
import math
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from shared.columns import REQUIRED
from shared.encoding import DOMAIN_FEATURES, encode
from shared.exceptions import BundleError
from shared.explain import LOWERS, RAISES, TOP_REASONS, Explainer, ExplainerLoader, sigmoid
from shared.explain_fields import DERIVED_FROM, FOLDED_INTO, field_map
from shared.schema import example_application
from shared.scorer import Scorer
from tests.utils.data import synthetic_applications


@pytest.fixture(scope="module")
def scorer(tiny_bundle: Path) -> Scorer:
    return Scorer.load(tiny_bundle)


@pytest.fixture(scope="module")
def explainer(tiny_bundle: Path, scorer: Scorer) -> Explainer:
    return Explainer.load(tiny_bundle, scorer.metadata)


def _only_required(application: dict) -> dict:
    return {name: (value if name in REQUIRED else None) for name, value in application.items()}


def _check(explanation: dict, probability: float) -> None:
    reasons = explanation["reasons"]
    total = explanation["base_value"] + sum(r["contribution"] for r in reasons) + explanation["rest"]
    assert math.isclose(total, explanation["raw_score"], abs_tol=1e-6)
    assert math.isclose(sigmoid(explanation["raw_score"]), probability, abs_tol=1e-4)
    sizes = [abs(r["contribution"]) for r in reasons]
    assert sizes == sorted(sizes, reverse=True)
    for reason in reasons:
        assert reason["direction"] == (RAISES if reason["contribution"] > 0 else LOWERS)


def test_additive_and_equal_to_the_served_probability(scorer: Scorer, explainer: Explainer) -> None:
    applications = synthetic_applications(300, seed=21)
    results = scorer.score_batch(applications)
    explanations = explainer.explain(applications)
    assert len(explanations) == len(applications)
    for explanation, result in zip(explanations, results, strict=True):
        assert len(explanation["reasons"]) == TOP_REASONS
        _check(explanation, result.probability)
    # the base value is the same for every application: the calibrated expected log-odds
    assert len({round(e["base_value"], 9) for e in explanations}) == 1


def test_every_optional_field_missing(scorer: Scorer, explainer: Explainer) -> None:
    applications = [_only_required(a) for a in synthetic_applications(50, seed=22)]
    applications.append({})  # nothing at all: every column missing
    for explanation, result in zip(explainer.explain(applications), scorer.score_batch(applications), strict=True):
        _check(explanation, result.probability)


def test_values_are_the_application_s(explainer: Explainer) -> None:
    application = example_application()
    matrix = encode([application], explainer.state)
    explanation = explainer.explain([application], matrix)[0]
    assert explanation == explainer.explain([application])[0]  # the caller's matrix changes nothing
    json.dumps(explanation, allow_nan=False)  # strict JSON: missing values are null
    for reason in explainer.explain([application])[0]["reasons"] + _all_reasons(explainer, application):
        name = reason["field"]
        if name in DERIVED_FROM:
            assert reason["derived_from"] == list(DERIVED_FROM[name])
            column = explainer.fields.derived_column[name]
            expected = float(matrix[0, column])
            assert reason["value"] is None if math.isnan(expected) else math.isclose(reason["value"], expected,
                                                                                     rel_tol=1e-6)
        else:
            assert "derived_from" not in reason
            assert reason["value"] == application.get(name)


def _all_reasons(explainer: Explainer, application: dict) -> list[dict]:
    every = Explainer(explainer.model, explainer.state, explainer.calibration, top=len(explainer.fields.names))
    return every.explain([application])[0]["reasons"]


def test_every_encoded_column_belongs_to_exactly_one_field(explainer: Explainer) -> None:
    fields = field_map(explainer.state)
    assert len(fields.column_field) == explainer.state.n_features
    assert len(set(fields.names)) == len(fields.names)
    grouping = fields.matrix()
    assert (grouping.sum(axis=1) == 1).all()  # each column exactly once
    assert (grouping.sum(axis=0) >= 1).all()  # each field has a column
    names = explainer.state.feature_names
    counts = Counter(fields.names[f] for f in fields.column_field)
    for column, field in zip(names, fields.column_field, strict=True):
        name = fields.names[field]
        if "=" in column:
            assert column.split("=", 1)[0] == name
        elif column in FOLDED_INTO:
            assert name == FOLDED_INTO[column]
        else:
            assert column == name
    for name, categories in explainer.state.categories.items():
        assert counts[name] == len(categories)
    assert counts["DAYS_EMPLOYED"] == 2
    assert set(DERIVED_FROM) | set(FOLDED_INTO) == set(DOMAIN_FEATURES)


def test_importance_is_sorted_and_positive(explainer: Explainer) -> None:
    matrix = encode(synthetic_applications(200, seed=23), explainer.state)
    importance = explainer.importance(matrix)
    assert [i["field"] for i in importance] != []
    assert {i["field"] for i in importance} == set(explainer.fields.names)
    values = [i["mean_abs_contribution"] for i in importance]
    assert values == sorted(values, reverse=True) and values[0] > 0


def test_no_application_no_explanation(explainer: Explainer) -> None:
    assert explainer.explain([]) == []


def test_missing_lightgbm_model_is_a_bundle_error(tiny_bundle: Path, tmp_path: Path, scorer: Scorer) -> None:
    copy = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, copy)
    (copy / "model.txt").unlink()
    with pytest.raises(BundleError, match="model.txt"):
        Explainer.load(copy, scorer.metadata)


def test_sigmoid_is_stable() -> None:
    assert sigmoid(0.0) == 0.5
    assert sigmoid(-1000.0) == 0.0 and sigmoid(1000.0) == 1.0
    assert np.isclose(sigmoid(-2.0), 1 / (1 + math.exp(2.0)))


def test_loader_gives_the_explainer_loaded_in_the_background(tiny_bundle: Path, scorer: Scorer) -> None:
    loader = ExplainerLoader(tiny_bundle, scorer.metadata)
    explainer = loader.get(timeout=60)
    assert loader.ready and loader.get() is explainer
    assert explainer.fields.names == field_map(scorer.state).names


def test_loader_reports_a_failed_load(tiny_bundle: Path, tmp_path: Path, scorer: Scorer) -> None:
    copy = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, copy)
    (copy / "model.txt").write_text("not a model")  # LightGBM refuses it
    loader = ExplainerLoader(copy, scorer.metadata)
    with pytest.raises(BundleError, match="LightGBM"):
        loader.get(timeout=60)
