"""The Kaggle CSV loader: the real file's format and quirks, clear errors for anything else."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shared.columns import CLIENT_ID, DAYS_EMPLOYED_UNEMPLOYED, TARGET, csv_columns
from shared.schema import LoanApplication
from training.data import check_columns, csv_dtypes, fingerprint, load_csv, to_records, unknown_categories
from training.exceptions import DataError
from training.synthetic import generate


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return generate(400, seed=21)


def _with_real_quirks(df: pd.DataFrame) -> pd.DataFrame:
    """Values of the full real table that the profiled sample lacks (rare categories, extremes)."""
    df = df.copy()
    df.loc[0, "CODE_GENDER"] = "XNA"
    df.loc[1, "NAME_FAMILY_STATUS"] = "Unknown"
    df.loc[2, ["NAME_INCOME_TYPE", "DAYS_EMPLOYED"]] = ["Businessman", -100]
    df.loc[3, ["NAME_INCOME_TYPE", "DAYS_EMPLOYED"]] = ["Unemployed", DAYS_EMPLOYED_UNEMPLOYED]
    df.loc[4, "AMT_INCOME_TOTAL"] = 117_000_000.0  # the real table's largest income
    df.loc[5, "CNT_CHILDREN"] = 19
    df.loc[6, "REGION_RATING_CLIENT_W_CITY"] = -1
    df.loc[7, ["AMT_GOODS_PRICE", "AMT_ANNUITY", "CNT_FAM_MEMBERS", "DAYS_LAST_PHONE_CHANGE"]] = np.nan
    return df


def test_csv_round_trip_keeps_columns_dtypes_and_values(sample: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "application_train.csv"
    sample.to_csv(path, index=False)
    loaded = load_csv(path)
    assert loaded.dtypes.astype(str).to_dict() == csv_dtypes()
    pd.testing.assert_frame_equal(loaded, sample, check_exact=True)
    assert fingerprint(loaded) == fingerprint(sample)


def test_real_quirks_load_and_validate_with_the_schema(sample: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "quirks.csv"
    _with_real_quirks(sample).to_csv(path, index=False)
    loaded = load_csv(path)
    assert loaded["AMT_ANNUITY"].isna().sum() == 1
    assert unknown_categories(loaded) == {}
    for application in to_records(loaded.drop(columns=[TARGET])):
        LoanApplication.model_validate(application)


def test_records_use_none_for_missing_and_keep_numbers(sample: pd.DataFrame) -> None:
    records = to_records(sample)
    assert len(records) == len(sample)
    first = records[0]
    assert list(first) == list(csv_columns())
    assert all(v is None or v == v for record in records for v in record.values())  # no NaN left
    missing = sample.isna().to_numpy()
    assert sum(v is None for record in records for v in record.values()) == int(missing.sum())
    assert isinstance(first[CLIENT_ID], int)


def test_only_first_rows_when_asked(sample: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    sample.to_csv(path, index=False)
    assert len(load_csv(path, nrows=10)) == 10


def test_columns_in_another_order_are_accepted_and_reordered(sample: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "shuffled.csv"
    sample[list(reversed(sample.columns))].to_csv(path, index=False)
    assert list(load_csv(path).columns) == list(csv_columns())


def test_missing_and_extra_columns_are_named(sample: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    sample.drop(columns=["EXT_SOURCE_2", "AMT_CREDIT"]).assign(CREDIT_SCORE=1).to_csv(path, index=False)
    with pytest.raises(DataError) as caught:
        load_csv(path)
    message = str(caught.value)
    assert "2 missing column(s): AMT_CREDIT, EXT_SOURCE_2" in message
    assert "1 unexpected column(s): CREDIT_SCORE" in message
    assert str(path) in message


def test_many_missing_columns_are_summarised() -> None:
    with pytest.raises(DataError, match=r"120 missing column\(s\): .* \.\.\. \(110 more\)"):
        check_columns([CLIENT_ID, TARGET], source="x")


def test_no_such_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load_csv(tmp_path / "nope.csv")


def test_not_a_csv(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(DataError, match="not a readable CSV"):
        load_csv(path)


def test_target_must_be_binary(sample: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    sample.assign(TARGET=2).to_csv(path, index=False)
    with pytest.raises(DataError, match="TARGET must be 0 or 1"):
        load_csv(path)


def test_text_in_a_numeric_column_is_named(sample: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "text.csv"
    sample.assign(AMT_CREDIT="a lot").to_csv(path, index=False)
    with pytest.raises(DataError, match="AMT_CREDIT"):
        load_csv(path)


def test_header_only_file(sample: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    sample.head(0).to_csv(path, index=False)
    with pytest.raises(DataError, match="no rows"):
        load_csv(path)
