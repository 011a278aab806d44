"""The synthetic generator against the profile's figures and the table's structure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shared.columns import CLIENT_ID, DAYS_EMPLOYED_UNEMPLOYED, TARGET, csv_columns, feature_columns, profile
from shared.schema import LoanApplication
from training.data import csv_dtypes
from training.exceptions import DriftError
from training.frames import building_columns
from training.synthetic import Drift, generate, generate_applications

ROWS = 30_000
NOT_EMPLOYED = ("Pensioner", "Unemployed")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate(ROWS, seed=11)


@pytest.fixture(scope="module")
def figures() -> dict:
    return profile()["columns"]


def test_columns_order_and_dtypes_are_those_of_the_real_csv(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == list(csv_columns())
    assert frame.dtypes.astype(str).to_dict() == csv_dtypes()
    assert (frame.dtypes == "int64").sum() == 41  # as pandas reads the real application_train.csv
    assert (frame.dtypes.astype(str) == "object").sum() == 16
    assert frame[CLIENT_ID].is_unique


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    pd.testing.assert_frame_equal(generate(500, seed=3), generate(500, seed=3))
    assert not generate(500, seed=3).equals(generate(500, seed=4))


def test_missing_rates_within_two_points(frame: pd.DataFrame, figures: dict) -> None:
    far = {
        name: (round(frame[name].isna().mean(), 4), f["missing_rate"])
        for name, f in figures.items()
        if abs(frame[name].isna().mean() - f["missing_rate"]) > 0.02
    }
    assert far == {}


def test_category_frequencies_close(frame: pd.DataFrame, figures: dict) -> None:
    far = {}
    for name, f in figures.items():
        if f["kind"] != "categorical":
            continue
        seen = frame[name].value_counts(normalize=True)
        for value, share in f["frequencies"].items():
            if abs(seen.get(value, 0.0) - share) > 0.02:
                far[(name, value)] = (round(seen.get(value, 0.0), 4), share)
        assert set(seen.index) <= set(f["frequencies"]), name
    assert far == {}


def test_flag_rates_close(frame: pd.DataFrame, figures: dict) -> None:
    far = {n: (frame[n].mean(), f["one_rate"]) for n, f in figures.items()
           if f["kind"] == "binary_flag" and abs(frame[n].mean() - f["one_rate"]) > 0.015}
    assert far == {}


def test_quantiles_follow_the_profile(frame: pd.DataFrame, figures: dict) -> None:
    far = {}
    for column in feature_columns():
        f = figures[column.name]
        if column.kind not in ("integer", "continuous"):
            continue
        values = frame[column.name].dropna()
        if column.name == "DAYS_EMPLOYED":
            continue  # its quantiles mix in the 365243 mass, checked below
        spread = f["quantiles"]["0.95"] - f["quantiles"]["0.05"]
        if spread <= 5:  # a few small counts: compare the means instead
            if abs(values.mean() - f["mean"]) > 0.15 * f["std"] + 0.02:
                far[column.name] = ("mean", round(values.mean(), 3), f["mean"])
            continue
        for q in ("0.1", "0.25", "0.5", "0.75", "0.9"):
            got = float(values.quantile(float(q)))
            if abs(got - f["quantiles"][q]) > 0.06 * spread:
                far[(column.name, q)] = (round(got, 4), f["quantiles"][q])
    assert far == {}


def test_target_rate_is_about_eight_percent(frame: pd.DataFrame) -> None:
    assert abs(frame[TARGET].mean() - profile()["target_rate"]) < 0.01


def test_365243_only_for_pensioners_and_unemployed(frame: pd.DataFrame) -> None:
    not_working = frame["DAYS_EMPLOYED"] == DAYS_EMPLOYED_UNEMPLOYED
    assert (not_working == frame["NAME_INCOME_TYPE"].isin(NOT_EMPLOYED)).all()
    assert (not_working == (frame["ORGANIZATION_TYPE"] == "XNA")).all()
    assert (not_working == (frame["FLAG_EMP_PHONE"] == 0)).all()
    assert frame.loc[not_working, "OCCUPATION_TYPE"].isna().all()
    assert (frame.loc[~not_working, "DAYS_EMPLOYED"] <= 0).all()
    share = not_working.mean()
    assert abs(share - profile()["special_values"]["DAYS_EMPLOYED"]["365243"]) < 0.02
    pensioners = frame["NAME_INCOME_TYPE"] == "Pensioner"
    age = -frame["DAYS_BIRTH"] / 365.25
    assert age[pensioners].median() > age[~pensioners].median() + 15  # pensioners are old


def test_employment_started_after_sixteen(frame: pd.DataFrame) -> None:
    working = frame["DAYS_EMPLOYED"] != DAYS_EMPLOYED_UNEMPLOYED
    assert (frame.loc[working, "DAYS_EMPLOYED"] >= frame.loc[working, "DAYS_BIRTH"] + 16 * 365).all()


def test_spearman_of_key_pairs_kept(frame: pd.DataFrame) -> None:
    spearman = profile()["spearman_correlations"]
    names = spearman["columns"]
    expected = np.array(spearman["matrix"])
    data = frame[names].copy()
    # the profile's figures leave the 365243 placeholder out (it is not a duration)
    data.loc[data["DAYS_EMPLOYED"] == DAYS_EMPLOYED_UNEMPLOYED, "DAYS_EMPLOYED"] = np.nan
    got = data.corr(method="spearman").to_numpy()
    wrong_sign, far = [], []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            if abs(expected[i, j]) >= 0.1 and np.sign(got[i, j]) != np.sign(expected[i, j]):
                wrong_sign.append((names[i], names[j], expected[i, j], round(got[i, j], 3)))
            if abs(got[i, j] - expected[i, j]) > 0.12:
                far.append((names[i], names[j], expected[i, j], round(got[i, j], 3)))
    assert wrong_sign == []
    assert far == []


def test_target_links_ranked_like_the_real_data(frame: pd.DataFrame) -> None:
    """EXT_SOURCE first, then age and employment, with the real data's signs."""
    employed = frame["DAYS_EMPLOYED"].replace(DAYS_EMPLOYED_UNEMPLOYED, np.nan)
    rho = {
        name: frame[name].corr(frame[TARGET], method="spearman")
        for name in ("EXT_SOURCE_1", "EXT_SOURCE_2", "EXT_SOURCE_3", "DAYS_BIRTH")
    }
    rho["DAYS_EMPLOYED"] = employed.corr(frame[TARGET], method="spearman")
    assert all(rho[f"EXT_SOURCE_{i}"] < -0.1 for i in (1, 2, 3))
    assert rho["DAYS_BIRTH"] > 0.03 and rho["DAYS_EMPLOYED"] > 0.03  # younger, shorter employed: riskier
    assert min(abs(rho[f"EXT_SOURCE_{i}"]) for i in (1, 2, 3)) > max(rho["DAYS_BIRTH"], rho["DAYS_EMPLOYED"])


def test_building_statistics_missing_together(frame: pd.DataFrame) -> None:
    names = [n for n in building_columns() if n.endswith("_AVG")]
    for avg in names:
        family = avg[: -len("_AVG")]
        for other in (f"{family}_MODE", f"{family}_MEDI"):
            assert (frame[avg].isna() == frame[other].isna()).all(), other
    # nested: when the least-missing statistic is missing, so is every other one
    assert frame.loc[frame["TOTALAREA_MODE"].isna(), "COMMONAREA_AVG"].isna().all()


def test_amounts_consistent(frame: pd.DataFrame) -> None:
    goods = frame["AMT_GOODS_PRICE"].dropna()
    assert (goods <= frame.loc[goods.index, "AMT_CREDIT"]).mean() > 0.95
    term = frame["AMT_CREDIT"] / frame["AMT_ANNUITY"]
    assert term.between(6.9, 45.1).all()
    assert frame.loc[frame["FLAG_OWN_CAR"] == "N", "OWN_CAR_AGE"].isna().all()
    assert frame.loc[frame["FLAG_OWN_CAR"] == "Y", "OWN_CAR_AGE"].notna().all()
    circle = frame[["OBS_30_CNT_SOCIAL_CIRCLE", "DEF_30_CNT_SOCIAL_CIRCLE"]].dropna()
    assert (circle["DEF_30_CNT_SOCIAL_CIRCLE"] <= circle["OBS_30_CNT_SOCIAL_CIRCLE"]).all()
    family = frame["CNT_FAM_MEMBERS"] - frame["CNT_CHILDREN"]
    assert family.isin((1, 2)).all()


def test_applications_validate_with_the_schema() -> None:
    applications = generate_applications(2_000, seed=5)
    assert len(applications) == 2_000
    for application in applications:
        assert TARGET not in application
        assert set(application) == {CLIENT_ID, *(c.name for c in feature_columns())}
        LoanApplication.model_validate(application)
    integer_columns = [c.name for c in feature_columns() if c.kind in ("integer", "flag")]
    for application in applications[:50]:
        for name in integer_columns:
            assert application[name] is None or type(application[name]) is int, name
        assert all(v is None or v == v for v in application.values())  # no NaN: None for missing


def test_drifted_applications_still_validate() -> None:
    drift = Drift(income_factor=3.0, credit_factor=2.0, ext_source_missing_extra=0.3, age_shift_years=10,
                  category_shift={"NAME_INCOME_TYPE": {"Working": 0.5, "Pensioner": 0.5}})
    for application in generate_applications(1_000, seed=2, drift=drift):
        LoanApplication.model_validate(application)


def test_drift_moves_what_it_says() -> None:
    base = generate(20_000, seed=7)
    moved = generate(20_000, seed=7, drift=Drift(
        income_factor=1.5,
        credit_factor=1.2,
        ext_source_missing_extra=0.2,
        age_shift_years=5,
        category_shift={"NAME_CONTRACT_TYPE": {"Cash loans": 0.6, "Revolving loans": 0.4}},
    ))
    ratio = moved["AMT_INCOME_TOTAL"].median() / base["AMT_INCOME_TOTAL"].median()
    assert 1.4 < ratio < 1.6
    assert 1.1 < moved["AMT_CREDIT"].median() / base["AMT_CREDIT"].median() < 1.3
    for name in ("EXT_SOURCE_1", "EXT_SOURCE_2", "EXT_SOURCE_3"):
        extra = moved[name].isna().mean() - base[name].isna().mean()
        assert 0.15 < extra < 0.25, name
    assert abs((moved["NAME_CONTRACT_TYPE"] == "Revolving loans").mean() - 0.4) < 0.02
    years = (base["DAYS_BIRTH"].median() - moved["DAYS_BIRTH"].median()) / 365.25
    assert 3 < years < 6


def test_income_type_drift_keeps_the_pensioner_quirk() -> None:
    df = generate(10_000, seed=1, drift=Drift(category_shift={"NAME_INCOME_TYPE": {"Working": 0.6, "Pensioner": 0.4}}))
    pensioners = df["NAME_INCOME_TYPE"] == "Pensioner"
    assert abs(pensioners.mean() - 0.4) < 0.03
    assert (df.loc[pensioners, "DAYS_EMPLOYED"] == DAYS_EMPLOYED_UNEMPLOYED).all()
    assert set(df.loc[~pensioners, "NAME_INCOME_TYPE"]) == {"Working"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"income_factor": 0}, "income_factor"),
        ({"ext_source_missing_extra": 1.5}, "ext_source_missing_extra"),
        ({"category_shift": {"NOT_A_COLUMN": {"x": 1.0}}}, "NOT_A_COLUMN"),
        ({"category_shift": {"AMT_CREDIT": {"x": 1.0}}}, "AMT_CREDIT"),
        ({"category_shift": {"NAME_CONTRACT_TYPE": {"Mortgage": 1.0}}}, "Mortgage"),
        ({"category_shift": {"NAME_CONTRACT_TYPE": {"Cash loans": 0.0}}}, "positive sum"),
        ({"inflation": 2}, "inflation"),
    ],
)
def test_bad_drift_options_are_refused_by_name(options: dict, message: str) -> None:
    with pytest.raises(DriftError, match=message):
        Drift.from_dict(options)


def test_zero_rows_refused() -> None:
    with pytest.raises(ValueError, match="n_rows"):
        generate(0)
