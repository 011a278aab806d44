"""The real Kaggle ``application_train.csv``: loader, column check, conversion to raw applications.

The file is read as published (122 columns, its quirks included: 365243 in
DAYS_EMPLOYED, "XNA" genders, "Unknown" family status, many empty cells).
Rows become plain dicts (None = missing), the input of ``shared.encoding``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shared.columns import CLIENT_ID, TARGET, columns_by_name, csv_columns, feature_columns, profile
from training.exceptions import DataError

# Integer columns without a missing value in the profile that the real file
# still writes as floats ("-3648.0"): the full table has a few empty cells in
# the last two, and pandas reads all three as float64.
FLOAT_IN_CSV = frozenset({"DAYS_REGISTRATION", "CNT_FAM_MEMBERS", "DAYS_LAST_PHONE_CHANGE"})


def csv_dtypes() -> dict[str, str]:
    """The dtype pandas gives each column of the real ``application_train.csv``."""
    dtypes = {CLIENT_ID: "int64", TARGET: "int64"}
    missing = {name: figures["missing_rate"] > 0 for name, figures in profile()["columns"].items()}
    for column in feature_columns():
        if column.kind == "categorical":
            dtypes[column.name] = "object"
        elif column.kind in ("flag", "integer") and not missing[column.name] and column.name not in FLOAT_IN_CSV:
            dtypes[column.name] = "int64"
        else:
            dtypes[column.name] = "float64"
    return dtypes


def check_columns(columns: Sequence[str], source: str = "data") -> None:
    """Refuse a table whose columns are not exactly the 122 of ``application_train.csv``.

    Raises:
        DataError: naming the missing and the unexpected columns.
    """
    expected = csv_columns()
    if list(columns) == list(expected):
        return
    missing = [c for c in expected if c not in set(columns)]
    extra = [c for c in columns if c not in set(expected)]
    if not missing and not extra:
        duplicated = sorted({c for c in columns if list(columns).count(c) > 1})
        if duplicated:
            raise DataError(f"{source}: duplicated columns {duplicated}")
        return  # same columns in another order: accepted, reordered by the caller
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing column(s): {_names(missing)}")
    if extra:
        parts.append(f"{len(extra)} unexpected column(s): {_names(extra)}")
    raise DataError(f"{source} is not in the application_train.csv format: {'; '.join(parts)}")


def _names(names: list[str], shown: int = 10) -> str:
    return ", ".join(names[:shown]) + (f" ... ({len(names) - shown} more)" if len(names) > shown else "")


def load_csv(path: str | Path, nrows: int | None = None) -> pd.DataFrame:
    """Load the Kaggle ``application_train.csv`` (or a file in its format).

    Args:
        path: the CSV file.
        nrows: read only the first rows (None: all).

    Returns:
        The table with the 122 columns in the CSV's order.

    Raises:
        DataError: the file is missing or unreadable, its columns differ, or
            TARGET is not 0/1.
    """
    file = Path(path)
    if not file.is_file():
        raise DataError(f"{file}: no such file")
    try:
        header = pd.read_csv(file, nrows=0).columns.tolist()
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{file}: not a readable CSV ({exc})") from exc
    check_columns(header, source=str(file))
    categorical = {c.name: "object" for c in feature_columns() if c.kind == "categorical"}
    try:
        # round_trip: the exact floats written, so a file always gives the same fingerprint and model
        df = pd.read_csv(file, nrows=nrows, dtype=categorical, float_precision="round_trip")
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"{file}: cannot be parsed ({exc})") from exc
    df = df[list(csv_columns())]
    if df.empty:
        raise DataError(f"{file}: no rows")
    _check_values(df, str(file))
    return df


def _check_values(df: pd.DataFrame, source: str) -> None:
    target = df[TARGET]
    if target.isna().any() or not target.isin((0, 1)).all():
        raise DataError(f"{source}: TARGET must be 0 or 1 on every row")
    numeric = [c.name for c in feature_columns() if c.kind != "categorical"]
    bad = [name for name in numeric if not pd.api.types.is_numeric_dtype(df[name])]
    if bad:
        raise DataError(f"{source}: non-numeric values in numeric column(s) {', '.join(bad[:10])}")


def to_records(df: pd.DataFrame, ints: bool = False) -> list[dict[str, Any]]:
    """Rows as plain dicts of Python values, None for missing (NaN).

    Args:
        df: a table with some of the application columns (others are kept as is).
        ints: turn integer and flag columns into ``int`` (API-ready); otherwise
            numbers keep their pandas type (int or float).

    Returns:
        One dict per row, keys in the frame's column order.
    """
    kinds = {c.name: c.kind for c in feature_columns()}
    columns: list[list[Any]] = []
    for name in df.columns:
        series = df[name]
        if series.dtype.kind == "f":
            integer = ints and kinds.get(name) in ("integer", "flag")
            array = series.to_numpy()
            missing = np.isnan(array)
            values = (np.where(missing, 0, array).astype(np.int64) if integer else array).astype(object)
            values[missing] = None
            columns.append(values.tolist())
        elif series.dtype == object:
            values = series.to_numpy(dtype=object, copy=True)
            values[pd.isna(values)] = None
            columns.append(values.tolist())
        else:
            columns.append(series.tolist())
    names = list(df.columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def fingerprint(df: pd.DataFrame) -> str:
    """SHA-256 of the table's content (values and column names), hex."""
    digest = hashlib.sha256()
    digest.update("\x1f".join(map(str, df.columns)).encode())
    digest.update(np.ascontiguousarray(pd.util.hash_pandas_object(df, index=False).to_numpy()).tobytes())
    return digest.hexdigest()


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def unknown_categories(df: pd.DataFrame) -> dict[str, list[str]]:
    """Values of each categorical column that the schema does not accept (empty when all are known)."""
    specs = columns_by_name()
    unknown = {}
    for name, spec in specs.items():
        if spec.kind == "categorical":
            seen = set(df[name].dropna().unique())
            bad = sorted(seen - set(spec.categories))
            if bad:
                unknown[name] = bad
    return unknown
