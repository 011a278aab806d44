"""Column specification of Home Credit's ``application_train`` table.

The column order, kinds and category values come from the profile copied into
``shared/data/home_credit_profile.json`` (figures profiled from real rows); the
validation ranges are domain rules, set wide enough that every row of the full
real table validates and tight enough to reject impossible values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

Kind = Literal["categorical", "flag", "integer", "continuous"]

CLIENT_ID = "SK_ID_CURR"
CLIENT_ID_MAX = 10**12  # the largest client reference accepted (it is a non-negative integer)
TARGET = "TARGET"
# The table's "not employed" value of DAYS_EMPLOYED (pensioners, unemployed).
DAYS_EMPLOYED_UNEMPLOYED = 365243
# Age bounds: 18 to 70 years, in days before the application.
DAYS_BIRTH_MIN = -25550
DAYS_BIRTH_MAX = -6570

# Fields every real application has (no missing value in the real table).
REQUIRED = frozenset(
    {
        "NAME_CONTRACT_TYPE", "CODE_GENDER", "FLAG_OWN_CAR", "FLAG_OWN_REALTY",
        "CNT_CHILDREN", "AMT_INCOME_TOTAL", "AMT_CREDIT",
        "DAYS_BIRTH", "DAYS_EMPLOYED", "DAYS_REGISTRATION", "DAYS_ID_PUBLISH",
        "NAME_INCOME_TYPE", "NAME_EDUCATION_TYPE", "NAME_FAMILY_STATUS", "NAME_HOUSING_TYPE",
        "REGION_POPULATION_RELATIVE", "REGION_RATING_CLIENT", "REGION_RATING_CLIENT_W_CITY",
        "FLAG_MOBIL", "FLAG_EMP_PHONE", "FLAG_WORK_PHONE", "FLAG_CONT_MOBILE",
        "FLAG_PHONE", "FLAG_EMAIL",
        *(f"FLAG_DOCUMENT_{i}" for i in range(2, 22)),
    }
)

# (minimum, maximum) by column; "gt0" marks amounts that must be strictly positive.
# The real full table reaches beyond the profiled sample (income up to 117 M,
# 19 children, 348 people in the social circle, 261 bureau enquiries a quarter),
# hence the margins.
_RANGES: dict[str, tuple[float, float]] = {
    "CNT_CHILDREN": (0, 20),
    "AMT_INCOME_TOTAL": (0, 1e9),
    "AMT_CREDIT": (0, 1e8),
    "AMT_ANNUITY": (0, 1e7),
    "AMT_GOODS_PRICE": (0, 1e8),
    "REGION_POPULATION_RELATIVE": (0, 1),
    "DAYS_BIRTH": (DAYS_BIRTH_MIN, DAYS_BIRTH_MAX),
    "DAYS_EMPLOYED": (DAYS_BIRTH_MIN, DAYS_EMPLOYED_UNEMPLOYED),
    "DAYS_REGISTRATION": (DAYS_BIRTH_MIN, 0),
    "DAYS_ID_PUBLISH": (DAYS_BIRTH_MIN, 0),
    "DAYS_LAST_PHONE_CHANGE": (DAYS_BIRTH_MIN, 0),
    "OWN_CAR_AGE": (0, 100),
    "CNT_FAM_MEMBERS": (1, 30),
    # The full table holds one REGION_RATING_CLIENT_W_CITY of -1.
    "REGION_RATING_CLIENT": (1, 3),
    "REGION_RATING_CLIENT_W_CITY": (-1, 3),
    "HOUR_APPR_PROCESS_START": (0, 23),
}
_POSITIVE = frozenset({"AMT_INCOME_TOTAL", "AMT_CREDIT", "AMT_ANNUITY", "AMT_GOODS_PRICE"})
_COUNT_RANGE = (0, 500)  # social-circle counts and credit-bureau enquiries
_UNIT_RANGE = (0, 1)  # EXT_SOURCE_* and the normalised building statistics


@dataclass(frozen=True)
class Column:
    """One input column of the application table.

    Attributes:
        name: exact upper-case name, as in the CSV.
        kind: categorical, flag (0/1), integer or continuous.
        required: True when every real application has it.
        minimum: lowest accepted value (numbers only).
        maximum: highest accepted value (numbers only).
        exclusive_minimum: True when ``minimum`` itself is refused (amounts > 0).
        categories: accepted values (categoricals only), most frequent first.
    """

    name: str
    kind: Kind
    required: bool
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    categories: tuple[str, ...] = ()


@cache
def profile() -> dict[str, Any]:
    """The Home Credit profile (figures only, no rows) shipped with the package."""
    text = resources.files("shared").joinpath("data/home_credit_profile.json").read_text()
    return json.loads(text)  # type: ignore[no-any-return]


def _numeric_range(name: str, kind: Kind) -> tuple[float, float]:
    if name in _RANGES:
        return _RANGES[name]
    if kind == "flag":
        return (0, 1)
    if name.startswith(("OBS_", "DEF_", "AMT_REQ_CREDIT_BUREAU_")):
        return _COUNT_RANGE
    return _UNIT_RANGE


def _column(name: str, figures: dict[str, Any]) -> Column:
    required = name in REQUIRED
    if figures["kind"] == "categorical":
        seen = tuple(figures["frequencies"])
        rare = tuple(v for v in figures.get("also_seen_in_full_table_rarely", ()) if v not in seen)
        return Column(name, "categorical", required, categories=seen + rare)
    kind: Kind = "flag" if figures["kind"] == "binary_flag" else figures["kind"]
    low, high = _numeric_range(name, kind)
    return Column(name, kind, required, low, high, exclusive_minimum=name in _POSITIVE)


@cache
def feature_columns() -> tuple[Column, ...]:
    """The 120 feature columns, in the CSV's order."""
    return tuple(_column(name, figures) for name, figures in profile()["columns"].items())


@cache
def columns_by_name() -> dict[str, Column]:
    """Feature columns keyed by name."""
    return {c.name: c for c in feature_columns()}


def feature_names() -> tuple[str, ...]:
    """The 120 feature column names, in the CSV's order."""
    return tuple(c.name for c in feature_columns())


def csv_columns() -> tuple[str, ...]:
    """The 122 columns of ``application_train.csv``, in order."""
    return (CLIENT_ID, TARGET, *feature_names())
