"""The drift calculator on profile-drawn applications: what it flags, what it leaves alone."""

from __future__ import annotations

import pandas as pd
import pytest

from monitoring.drift.calculator import DriftCalculator, DriftConfig
from monitoring.drift.plan import JENSEN_SHANNON, MISSING_SHARE, PSI, SPECIAL_SHARE, WASSERSTEIN
from monitoring.exceptions import MonitoringError, NotFittedError, ReferenceDataError
from shared.columns import DAYS_EMPLOYED_UNEMPLOYED
from tests.monitoring.factories import make_applications

CONFIG = DriftConfig(min_rows=300, min_feature_rows=50)


@pytest.fixture
def calc(fitted_calculator: DriftCalculator) -> DriftCalculator:
    assert fitted_calculator.config == CONFIG
    return fitted_calculator


def _check(result, name: str, test: str):
    return next(c for c in result.checks if c.name == name and c.test == test)


def test_tests_are_chosen_by_feature_type(calc: DriftCalculator) -> None:
    plans = {p.name: p for p in calc.plans}
    assert plans["AMT_INCOME_TOTAL"].test == WASSERSTEIN
    assert plans["EXT_SOURCE_2"].test == WASSERSTEIN
    assert plans["NAME_CONTRACT_TYPE"].test == JENSEN_SHANNON
    assert plans["FLAG_DOCUMENT_3"].test == JENSEN_SHANNON  # a 0/1 flag
    assert plans["CNT_CHILDREN"].test == JENSEN_SHANNON  # an integer with few values
    assert plans["FLAG_MOBIL"].discrete  # constant in the reference: compared as categories, no division by a 0 std


def test_same_population_drifts_nowhere(calc: DriftCalculator) -> None:
    result = calc.calculate(make_applications(3000, seed=7))
    assert result.status == "ok"
    assert result.drifted_features == []
    assert result.score is not None and not result.score.drifted
    assert result.share_drifted == 0
    assert result.severity is None
    assert result.n_reference == calc.n_reference == len(calc.score_reference) and result.n_current == 3000
    # one distribution check and one missing-share check per feature, plus the special-value check
    assert len(result.checks) == 2 * len(calc.plans) + 1


def test_income_inflation_is_caught_by_wasserstein_on_income_only(calc: DriftCalculator) -> None:
    result = calc.calculate(make_applications(3000, seed=8, income_factor=1.3))
    income = _check(result, "AMT_INCOME_TOTAL", WASSERSTEIN)
    assert income.drifted and income.value >= income.threshold
    assert income.current_value > income.reference_value * 1.2
    assert result.drifted_features == ["AMT_INCOME_TOTAL"]
    assert result.severity == "warning"


def test_category_shift_is_caught_by_jensen_shannon(calc: DriftCalculator) -> None:
    shifted = make_applications(3000, seed=9, category_shift={"NAME_CONTRACT_TYPE": "Revolving loans"})
    check = _check(calc.calculate(shifted), "NAME_CONTRACT_TYPE", JENSEN_SHANNON)
    assert check.drifted


def test_missing_ext_source_is_caught_by_the_missing_share_check(calc: DriftCalculator) -> None:
    result = calc.calculate(make_applications(3000, seed=10, missing_extra=0.3))
    for name in ("EXT_SOURCE_1", "EXT_SOURCE_2", "EXT_SOURCE_3"):
        missing = _check(result, name, MISSING_SHARE)
        assert missing.drifted, name
        assert missing.current_value > missing.reference_value
        # Evidently's distance drops missing values: the remaining values look the same
        assert not _check(result, name, WASSERSTEIN).drifted
    assert set(result.drifted_features) == {"EXT_SOURCE_1", "EXT_SOURCE_2", "EXT_SOURCE_3"}


def test_days_employed_placeholder_is_its_own_share(calc: DriftCalculator) -> None:
    rows = make_applications(3000, seed=11)
    for i, row in enumerate(rows):
        if i % 2 == 0:
            row["DAYS_EMPLOYED"] = DAYS_EMPLOYED_UNEMPLOYED  # half the applicants not employed
    result = calc.calculate(rows)
    special = _check(result, "DAYS_EMPLOYED", SPECIAL_SHARE)
    assert special.drifted and special.current_value > 0.5 > special.reference_value
    # the employed ones keep their distribution, and 365243 never enters the distance
    distance = _check(result, "DAYS_EMPLOYED", WASSERSTEIN)
    assert not distance.drifted and distance.current_value < 0


def test_unseen_category_is_pooled_and_flagged_when_frequent(calc: DriftCalculator) -> None:
    rows = make_applications(2000, seed=12)
    for i, row in enumerate(rows):
        if i % 3 == 0:
            row["NAME_TYPE_SUITE"] = "Robot"  # never seen in the reference
    check = _check(calc.calculate(rows), "NAME_TYPE_SUITE", JENSEN_SHANNON)
    assert check.drifted


def test_too_small_or_empty_windows_say_not_enough_data(calc: DriftCalculator) -> None:
    for rows in ([], make_applications(20, seed=13)):
        result = calc.calculate(rows, window={"last": 20})
        assert result.status == "not_enough_data"
        assert "not enough data" in result.message
        assert result.checks == [] and result.share_drifted is None and not result.drift_detected
        summary = result.summary()
        assert summary["features"] == [] and summary["window"] == {"last": 20}


def test_a_feature_missing_everywhere_gets_not_enough_data_and_a_missing_share_drift(calc: DriftCalculator) -> None:
    rows = make_applications(1000, seed=14)
    for row in rows:
        row["EXT_SOURCE_1"] = None
    result = calc.calculate(rows)
    assert _check(result, "EXT_SOURCE_1", WASSERSTEIN).status == "not_enough_data"
    assert _check(result, "EXT_SOURCE_1", MISSING_SHARE).drifted


def test_values_match_evidently_value_drift(calc: DriftCalculator) -> None:
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift

    rows = make_applications(1500, seed=15, income_factor=1.2)
    frame = calc.frame(rows)
    result = calc.calculate(frame)
    plans = {p.name: p for p in calc.plans}
    for name in ("AMT_INCOME_TOTAL", "NAME_EDUCATION_TYPE", "CNT_CHILDREN"):
        plan = plans[name]
        reference, current = calc.prepared(plan, frame[name])
        kind = {"categorical_columns": [name]} if plan.discrete else {"numerical_columns": [name]}
        definition = DataDefinition(**kind)
        snapshot = Report([ValueDrift(column=name, method=plan.test, threshold=plan.threshold)]).run(
            Dataset.from_pandas(pd.DataFrame({name: current.reset_index(drop=True)}), data_definition=definition),
            Dataset.from_pandas(pd.DataFrame({name: reference.reset_index(drop=True)}), data_definition=definition))
        value = snapshot.dict()["metrics"][0]["value"]
        assert float(value) == pytest.approx(_check(result, name, plan.test).value, rel=1e-9), name
    assert result.score is not None and result.score.test == PSI


def test_thresholds_are_configurable_per_feature(reference_rows: list[dict]) -> None:
    strict = DriftCalculator(DriftConfig(min_rows=300, min_feature_rows=50, noise_factor=0,
                                         features=["AMT_CREDIT", "AMT_ANNUITY"],
                                         feature_thresholds={"AMT_CREDIT": 1e-6})).fit(reference_rows)
    result = strict.calculate(make_applications(1000, seed=16))
    credit = _check(result, "AMT_CREDIT", WASSERSTEIN)
    assert credit.threshold == 1e-6 and credit.drifted
    assert _check(result, "AMT_ANNUITY", WASSERSTEIN).threshold == 0.1


def test_noise_floor_raises_the_threshold_on_small_windows_only(calc: DriftCalculator) -> None:
    plan = next(p for p in calc.plans if p.name == "AMT_INCOME_TOTAL")
    small, small_floor = calc.threshold_for(plan, 100)
    large, large_floor = calc.threshold_for(plan, 1_000_000)
    assert small_floor > large_floor > 0
    assert small == small_floor > plan.threshold  # chance alone reaches 0.1 on 100 values
    assert large == plan.threshold


def test_feature_subset_and_errors(reference_rows: list[dict]) -> None:
    subset = DriftCalculator(DriftConfig(min_rows=10, features=["AMT_INCOME_TOTAL", "CODE_GENDER"]))
    with pytest.raises(NotFittedError):
        subset.calculate(reference_rows[:100])
    subset.fit(reference_rows)
    assert {c.name for c in subset.calculate(reference_rows[:100]).checks} == {"AMT_INCOME_TOTAL", "CODE_GENDER"}
    with pytest.raises(MonitoringError, match="NOT_A_COLUMN"):
        DriftCalculator(DriftConfig(features=["NOT_A_COLUMN"]))
    with pytest.raises(ReferenceDataError):
        DriftCalculator().fit([])


def test_document_is_json_ready(calc: DriftCalculator) -> None:
    import orjson

    document = calc.calculate(make_applications(600, seed=17)).to_document()
    assert orjson.loads(orjson.dumps(document))["kind"] == "drift"
    assert set(document["distributions"]["score"]) == {"type", "edges", "reference", "current"}
    assert document["distributions"]["NAME_CONTRACT_TYPE"]["labels"][0] == "Cash loans"


def test_the_calculator_defaults_are_the_drift_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    from monitoring.settings import DriftSettings, MonitoringSettings

    for name in DriftSettings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    assert DriftConfig() == DriftConfig.from_settings(MonitoringSettings())
