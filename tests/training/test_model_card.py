"""The build's fairness, gender comparison, global importance and model card."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shared.encoding import EncodingState
from shared.fairness import AGE_BAND_NAMES
from shared.scorer import Scorer
from training.bundle import MODEL_CARD_FILE, read_metadata
from training.card import render
from training.confidence import bootstrap_intervals
from training.threshold import Costs
from training.variants import GENDER, WITH_GENDER, WITHOUT_GENDER, Variant, choose, without_field


@pytest.fixture(scope="module")
def metadata(tiny_bundle: Path) -> dict:
    return read_metadata(tiny_bundle)


def test_metadata_holds_fairness_on_the_holdout(metadata: dict) -> None:
    fairness = metadata["fairness"]
    assert fairness["evaluated_on"] == "holdout"
    rows = metadata["training"]["rows_holdout"]
    assert sum(g["n"] for g in fairness[GENDER].values()) == rows
    assert sum(g["n"] for g in fairness["age_band"].values()) == rows
    assert set(fairness["age_band"]) <= {*AGE_BAND_NAMES, "unknown"}
    # the approval rate of all groups together is the holdout's
    approved = sum(g["n"] * g["approval_rate"] for g in fairness[GENDER].values())
    assert approved / rows == pytest.approx(1 - metadata["metrics"]["holdout"]["refusal_rate"])
    for ratio in fairness["disparate_impact"].values():
        assert ratio is None or 0 < ratio <= 1


def test_the_shipped_model_follows_the_gender_rule(metadata: dict, tiny_bundle: Path) -> None:
    comparison = metadata["gender_comparison"]
    cost_with = comparison[WITH_GENDER]["cost_per_application"]
    cost_without = comparison[WITHOUT_GENDER]["cost_per_application"]
    expected = WITHOUT_GENDER if cost_without <= cost_with * 1.02 + 1e-12 else WITH_GENDER
    assert comparison["shipped"] == expected
    state = EncodingState.from_dict(metadata["encoding"])
    assert (GENDER in state.categories) == (expected == WITH_GENDER)
    assert comparison[WITH_GENDER]["features"] > comparison[WITHOUT_GENDER]["features"]
    assert metadata["metrics"]["holdout"]["cost_per_application"] == comparison[expected]["cost_per_application"]
    # the served bundle scores with the shipped encoding
    assert Scorer.load(tiny_bundle).state.n_features == comparison[expected]["features"]


def test_importance_covers_every_field(metadata: dict) -> None:
    importance = metadata["importance"]
    values = [i["mean_abs_contribution"] for i in importance]
    assert values == sorted(values, reverse=True) and values[0] > 0
    fields = {i["field"] for i in importance}
    assert {"EXT_SOURCE_MEAN", "DAYS_EMPLOYED", "NAME_CONTRACT_TYPE"} <= fields
    assert not any("=" in name for name in fields)  # one-hot columns are summed into their field


def test_model_card_is_written_from_the_metadata(tiny_bundle: Path, metadata: dict) -> None:
    card = (tiny_bundle / MODEL_CARD_FILE).read_text()
    assert card == render(metadata)
    assert metadata["version"] in card
    for heading in ("Intended use", "Training data", "Metrics", "Threshold and its cost rule", "Calibration",
                    "Fairness", "With and without CODE_GENDER", "Global importance", "Known limits"):
        assert f"## {heading}" in card or f"### {heading}" in card, heading
    assert f"{metadata['threshold']['value']:.4f}" in card
    assert metadata["importance"][0]["field"] in card
    assert "synthetic" in card


def _variant(name: str, cost: float) -> Variant:
    evaluated = {"auc": 0.75, "cost_per_application": cost, "refusal_rate": 0.3, "recall": 0.6, "precision": 0.2}
    state = EncodingState(numeric=("AMT_CREDIT",), categories={GENDER: ("F", "M")} if name == WITH_GENDER else {})
    return Variant(name, state, np.zeros((1, 1)), None, None, {}, 0.1, evaluated, evaluated,  # type: ignore[arg-type]
                   {"disparate_impact": {}}, {})


@pytest.mark.parametrize(("cost_without", "shipped"), [(0.50, WITHOUT_GENDER), (0.51, WITHOUT_GENDER),
                                                       (0.5101, WITH_GENDER), (0.49, WITHOUT_GENDER)])
def test_without_gender_ships_unless_it_costs_over_two_percent_more(cost_without: float, shipped: str) -> None:
    chosen, record = choose(_variant(WITH_GENDER, 0.50), _variant(WITHOUT_GENDER, cost_without))
    assert chosen.name == record["shipped"] == shipped
    assert record["extra_cost_without_gender"] == pytest.approx((cost_without - 0.50) / 0.50)
    assert set(record) >= {WITH_GENDER, WITHOUT_GENDER, "rule", "compared_on"}


def test_without_field_drops_only_its_columns() -> None:
    state = EncodingState(numeric=("AMT_CREDIT",), categories={GENDER: ("F", "M"), "FLAG_X": ("Y", "N")})
    dropped = without_field(state, GENDER)
    assert dropped.feature_names == [n for n in state.feature_names if not n.startswith(GENDER)]


def test_bootstrap_intervals_hold_the_point_estimate() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(2_000) < 0.1).astype(int)
    p = np.clip(0.1 + 0.3 * y + rng.normal(0, 0.1, 2_000), 0, 1)
    intervals: dict[str, Any] = bootstrap_intervals(y, p, 0.2, Costs(), resamples=100)
    refused = p >= 0.2
    cost = (10 * np.sum(~refused & (y == 1)) + np.sum(refused & (y == 0))) / len(y)
    low, high = intervals["cost_per_application"]
    assert low <= cost <= high
    assert intervals["auc"][0] < intervals["auc"][1] <= 1
    json.dumps(intervals, allow_nan=False)
