"""Behavioural checks of a trained model (the session's tiny bundle), averaged over many applications.

They test what the model learned, not the code: a better external score must
not raise the risk, age must not raise it much, an identifier must not
matter. Each compares mean probabilities over the same 1,500 real-looking
applications changed in one field, so a single odd tree cannot decide.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shared.columns import DAYS_EMPLOYED_UNEMPLOYED
from shared.scorer import Scorer
from tests.utils.data import synthetic_applications

YEAR = 365.25


@pytest.fixture(scope="module")
def scorer(tiny_bundle: Path) -> Scorer:
    return Scorer.load(tiny_bundle)


@pytest.fixture(scope="module")
def applications() -> list[dict[str, Any]]:
    return synthetic_applications(1_500, seed=77)


@pytest.fixture(scope="module")
def mean_risk(scorer: Scorer, applications: list[dict[str, Any]]) -> Callable[..., float]:
    def risk(change: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> float:
        rows = [change(dict(a)) if change else a for a in applications]
        return float(np.mean([r.probability for r in scorer.score_batch(rows)]))

    return risk


@pytest.mark.parametrize("name", ["EXT_SOURCE_1", "EXT_SOURCE_2", "EXT_SOURCE_3"])
def test_higher_external_score_does_not_raise_risk(mean_risk: Callable[..., float], name: str) -> None:
    levels = [0.1, 0.3, 0.5, 0.7, 0.9]
    risks = [mean_risk(lambda a, v=v: {**a, name: v}) for v in levels]
    assert all(later <= earlier + 0.005 for earlier, later in zip(risks, risks[1:], strict=False)), risks
    assert risks[0] > risks[-1]


def test_external_scores_matter_most(mean_risk: Callable[..., float]) -> None:
    low = mean_risk(lambda a: {**a, "EXT_SOURCE_1": 0.1, "EXT_SOURCE_2": 0.1, "EXT_SOURCE_3": 0.1})
    high = mean_risk(lambda a: {**a, "EXT_SOURCE_1": 0.9, "EXT_SOURCE_2": 0.9, "EXT_SOURCE_3": 0.9})
    young = mean_risk(lambda a: {**a, "DAYS_BIRTH": -round(25 * YEAR)})
    old = mean_risk(lambda a: {**a, "DAYS_BIRTH": -round(60 * YEAR)})
    assert low - high > 0.1
    assert low - high > abs(young - old)


def test_older_age_does_not_raise_risk_much(mean_risk: Callable[..., float]) -> None:
    risks = [mean_risk(lambda a, y=y: {**a, "DAYS_BIRTH": -round(y * YEAR)}) for y in (25, 35, 45, 55, 65)]
    assert max(b - a for a, b in zip(risks, risks[1:], strict=False)) < 0.02, risks
    assert risks[-1] <= risks[0] + 0.01


def test_longer_employment_does_not_raise_risk_much(mean_risk: Callable[..., float]) -> None:
    def employed(years: float) -> Callable[[dict[str, Any]], dict[str, Any]]:
        def change(a: dict[str, Any]) -> dict[str, Any]:
            if a["DAYS_EMPLOYED"] == DAYS_EMPLOYED_UNEMPLOYED:
                return a
            return {**a, "DAYS_EMPLOYED": -round(min(years * YEAR, -a["DAYS_BIRTH"] - 16 * YEAR))}

        return change

    assert mean_risk(employed(15)) <= mean_risk(employed(0.5)) + 0.01


def test_client_reference_does_not_matter(scorer: Scorer, applications: list[dict[str, Any]]) -> None:
    renamed = [{**a, "SK_ID_CURR": 999_999 - i} for i, a in enumerate(applications[:200])]
    before = [r.probability for r in scorer.score_batch(applications[:200])]
    after = [r.probability for r in scorer.score_batch(renamed)]
    assert before == after


def test_application_weekday_barely_matters(mean_risk: Callable[..., float]) -> None:
    monday = mean_risk(lambda a: {**a, "WEEKDAY_APPR_PROCESS_START": "MONDAY"})
    sunday = mean_risk(lambda a: {**a, "WEEKDAY_APPR_PROCESS_START": "SUNDAY"})
    assert abs(monday - sunday) < 0.02
