"""The application schema: what real rows look like passes, impossible values fail clearly."""

from __future__ import annotations

import math
from typing import Any

import pytest

from shared.columns import (
    CLIENT_ID,
    DAYS_EMPLOYED_UNEMPLOYED,
    REQUIRED,
    csv_columns,
    feature_columns,
    profile,
)
from shared.schema import LoanApplication, ValidationError, example_application, field_errors

COLUMNS = feature_columns()
NUMERIC = [c for c in COLUMNS if c.kind != "categorical"]
CATEGORICAL = [c for c in COLUMNS if c.kind == "categorical"]


def errors_for(payload: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as info:
        LoanApplication.model_validate(payload)
    return field_errors(info.value)


def test_columns_match_the_csv_layout() -> None:
    names = csv_columns()
    assert len(names) == 122
    assert names[:2] == ("SK_ID_CURR", "TARGET")
    assert len(set(names)) == 122
    assert "TARGET" not in LoanApplication.model_fields
    assert len(LoanApplication.model_fields) == 121


def test_example_validates() -> None:
    app = LoanApplication.model_validate(example_application())
    assert app.model_dump()["AMT_CREDIT"] == 406597.5


def test_only_required_fields_is_enough() -> None:
    payload = {k: v for k, v in example_application().items() if k in REQUIRED or k == CLIENT_ID}
    dumped = LoanApplication.model_validate(payload).model_dump()
    assert dumped["EXT_SOURCE_1"] is None  # absent means missing


def test_required_fields_are_the_ones_never_missing_in_the_profile() -> None:
    figures = profile()["columns"]
    for name in REQUIRED:
        assert figures[name]["missing_rate"] == 0.0, name


@pytest.mark.parametrize("name", sorted(REQUIRED | {CLIENT_ID}))
def test_each_required_field_missing_is_named(name: str) -> None:
    payload = example_application()
    del payload[name]
    assert errors_for(payload) == [{"field": name, "value": None, "rule": "missing", "message": "Field required"}]


@pytest.mark.parametrize("column", NUMERIC, ids=lambda c: c.name)
def test_profile_min_and_max_of_every_numeric_column_accepted(column: Any) -> None:
    figures = profile()["columns"][column.name]
    for value in (figures["min"], figures["max"]):
        LoanApplication.model_validate({**example_application(), column.name: value})


@pytest.mark.parametrize("column", CATEGORICAL, ids=lambda c: c.name)
def test_every_profiled_category_accepted(column: Any) -> None:
    for value in profile()["columns"][column.name]["frequencies"]:
        LoanApplication.model_validate({**example_application(), column.name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [("CODE_GENDER", "XNA"), ("NAME_INCOME_TYPE", "Maternity leave"), ("NAME_FAMILY_STATUS", "Unknown"),
     ("NAME_INCOME_TYPE", "Businessman"), ("NAME_INCOME_TYPE", "Student")],
)
def test_rare_values_of_the_full_table_accepted(name: str, value: str) -> None:
    LoanApplication.model_validate({**example_application(), name: value})


@pytest.mark.parametrize("column", NUMERIC, ids=lambda c: c.name)
def test_each_range_broken_is_named(column: Any) -> None:
    above = column.maximum + (1 if column.maximum >= 1 or column.kind != "continuous" else 0.5)
    below = column.minimum - 1
    for value in (above, below):
        errors = errors_for({**example_application(), column.name: value})
        assert [e["field"] for e in errors] == [column.name]
        assert errors[0]["value"] == value
        assert errors[0]["rule"] in {"less_than_equal", "greater_than_equal", "greater_than", "value_error"}


def test_amounts_must_be_strictly_positive() -> None:
    for name in ("AMT_INCOME_TOTAL", "AMT_CREDIT"):
        errors = errors_for({**example_application(), name: 0})
        assert errors[0]["field"] == name and errors[0]["rule"] == "greater_than"


def test_age_of_minus_five_years_fails_clearly() -> None:
    errors = errors_for({**example_application(), "DAYS_BIRTH": -5 * 365})
    assert errors == [{"field": "DAYS_BIRTH", "value": -1825, "rule": "less_than_equal",
                       "message": "Input should be less than or equal to -6570"}]


def test_age_bounds_are_18_and_70_years() -> None:
    for days in (-6570, -25550):
        LoanApplication.model_validate({**example_application(), "DAYS_BIRTH": days})
    for days in (-6569, -25551):
        errors_for({**example_application(), "DAYS_BIRTH": days})


def test_days_employed_accepts_the_unemployed_value_only() -> None:
    LoanApplication.model_validate({**example_application(), "DAYS_EMPLOYED": DAYS_EMPLOYED_UNEMPLOYED})
    LoanApplication.model_validate({**example_application(), "DAYS_EMPLOYED": 0})
    for value in (1, 365242, 365244):
        errors = errors_for({**example_application(), "DAYS_EMPLOYED": value})
        assert errors[0]["field"] == "DAYS_EMPLOYED"
        assert "365243" in errors[0]["message"]


@pytest.mark.parametrize("value", ["abc", "12", True, [1], {"a": 1}])
def test_text_or_other_types_where_a_number_is_expected(value: Any) -> None:
    errors = errors_for({**example_application(), "AMT_INCOME_TOTAL": value})
    assert [(e["field"], e["rule"]) for e in errors] == [("AMT_INCOME_TOTAL", "float_type")]


def test_integer_columns_take_whole_floats_but_not_fractions() -> None:
    LoanApplication.model_validate({**example_application(), "CNT_FAM_MEMBERS": 2.0, "CNT_CHILDREN": 1})
    errors = errors_for({**example_application(), "CNT_CHILDREN": 1.5})
    assert errors[0]["rule"] == "multiple_of"


@pytest.mark.parametrize("name", [c.name for c in COLUMNS if c.kind == "flag"][:5])
def test_flags_are_zero_or_one(name: str) -> None:
    assert errors_for({**example_application(), name: 2})[0]["field"] == name


def test_unknown_category_names_field_and_allowed_values() -> None:
    errors = errors_for({**example_application(), "NAME_CONTRACT_TYPE": "Mortgage"})
    assert errors[0]["field"] == "NAME_CONTRACT_TYPE"
    assert errors[0]["value"] == "Mortgage"
    assert "'Cash loans'" in errors[0]["message"] and "'Revolving loans'" in errors[0]["message"]


def test_category_case_matters() -> None:
    assert errors_for({**example_application(), "CODE_GENDER": "f"})[0]["field"] == "CODE_GENDER"


def test_extra_field_rejected() -> None:
    errors = errors_for({**example_application(), "TARGET": 1, "favourite_colour": "blue"})
    assert {e["field"] for e in errors} == {"TARGET", "favourite_colour"}
    assert all(e["rule"] == "extra_forbidden" for e in errors)


def test_several_errors_reported_at_once() -> None:
    payload = {**example_application(), "AMT_INCOME_TOTAL": 0, "CODE_GENDER": "?", "EXT_SOURCE_2": 1.5}
    del payload["AMT_CREDIT"]
    fields = {e["field"] for e in errors_for(payload)}
    assert fields == {"AMT_INCOME_TOTAL", "CODE_GENDER", "EXT_SOURCE_2", "AMT_CREDIT"}


def test_null_means_missing_for_optional_but_not_required() -> None:
    LoanApplication.model_validate({**example_application(), "EXT_SOURCE_3": None, "OCCUPATION_TYPE": None})
    assert errors_for({**example_application(), "AMT_CREDIT": None})[0]["field"] == "AMT_CREDIT"


def test_nan_is_not_a_valid_json_number() -> None:
    errors = errors_for({**example_application(), "EXT_SOURCE_1": math.nan})
    assert errors[0]["field"] == "EXT_SOURCE_1"


def test_validate_json_reports_the_same_errors() -> None:
    with pytest.raises(ValidationError) as info:
        LoanApplication.model_validate_json(b'{"SK_ID_CURR": 1, "AMT_CREDIT": "lots"}')
    fields = {e["field"] for e in field_errors(info.value)}
    assert "AMT_CREDIT" in fields and "CODE_GENDER" in fields
