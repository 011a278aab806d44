"""The fairness module against small examples computed by hand."""

from __future__ import annotations

import pytest

from shared.fairness import age_band, age_years, disparate_impact, fairness_report, group_metrics


@pytest.mark.parametrize(
    ("days_birth", "band"),
    [
        (-(24 * 365.25 + 364), "<25"),  # 24 years and 364 days: still 24
        (-25 * 365.25, "25-34"),
        (-(34 * 365.25 + 300), "25-34"),
        (-35 * 365.25, "35-44"),
        (-45 * 365.25, "45-54"),
        (-55 * 365.25, "55-64"),
        (-65 * 365.25, "65+"),
        (-25550, "65+"),
        (None, "unknown"),
        (float("nan"), "unknown"),
    ],
)
def test_age_band_floors_the_age(days_birth: float | None, band: str) -> None:
    assert age_band(days_birth) == band


def test_age_years_is_the_floor() -> None:
    assert age_years(-9461) == 25  # 25.9 years
    assert age_years(-9131) == 24  # 24.999 years


def test_group_metrics_by_hand() -> None:
    # group A: 4 applications, 3 approved; defaulters: rows 0 (approved) and 3 (refused)
    # group B: 2 applications, 1 approved; defaulter: row 5 (refused); row 4 outcome unknown
    groups = ["A", "A", "A", "A", "B", "B"]
    approved = [True, True, True, False, True, False]
    defaulted = [True, False, False, True, None, True]
    metrics = group_metrics(groups, approved, defaulted)
    assert metrics["A"] == {"n": 4, "approval_rate": 0.75, "tpr": 0.5, "fpr": 0.0, "n_outcomes": 4}
    # B: no good client with an outcome, so FPR is undefined
    assert metrics["B"] == {"n": 2, "approval_rate": 0.5, "tpr": 1.0, "fpr": None, "n_outcomes": 1}


def test_group_metrics_without_outcomes() -> None:
    metrics = group_metrics(["F", "M", "M"], [True, False, True])
    assert metrics["F"]["tpr"] is None and metrics["M"]["approval_rate"] == 0.5


def test_disparate_impact_ignores_small_and_xna_groups() -> None:
    metrics = {
        "F": {"n": 200, "approval_rate": 0.8},
        "M": {"n": 150, "approval_rate": 0.6},
        "XNA": {"n": 500, "approval_rate": 0.1},  # reported, never in the ratio
        "small": {"n": 99, "approval_rate": 0.05},
    }
    assert disparate_impact(metrics) == pytest.approx(0.75)
    assert disparate_impact({"F": {"n": 200, "approval_rate": 0.8}}) is None


def test_fairness_report_shape() -> None:
    genders = ["F"] * 100 + ["M"] * 100 + ["XNA"] * 2
    days = [-30 * 365.25] * 202
    approved = [True] * 90 + [False] * 10 + [True] * 45 + [False] * 55 + [True, True]
    report = fairness_report(genders, days, approved)
    assert report["disparate_impact"]["CODE_GENDER"] == pytest.approx(0.45 / 0.90)
    assert report["disparate_impact"]["age_band"] is None  # one band only
    assert report["CODE_GENDER"]["XNA"]["n"] == 2
    assert set(report["age_band"]) == {"25-34"}


def test_lengths_must_match() -> None:
    with pytest.raises(ValueError):
        group_metrics(["A"], [True, False])
