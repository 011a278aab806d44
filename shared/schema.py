"""Pydantic v2 model of one loan application (raw ``application_train`` columns).

The model is built from the column specification in :mod:`shared.columns`, so
the schema, the encoding and the Elasticsearch mapping cannot disagree on a
name. Every check runs in pydantic's compiled core except the one rule it
cannot express (``DAYS_EMPLOYED`` is <= 0 or exactly 365243).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, create_model

from shared.columns import CLIENT_ID, CLIENT_ID_MAX, DAYS_EMPLOYED_UNEMPLOYED, Column, feature_columns

__all__ = ["LoanApplication", "ValidationError", "field_errors", "example_application"]


def _days_employed_rule(value: float | None) -> float | None:
    if value is not None and value > 0 and value != DAYS_EMPLOYED_UNEMPLOYED:
        raise ValueError(
            f"DAYS_EMPLOYED must be <= 0 (days before the application) "
            f"or exactly {DAYS_EMPLOYED_UNEMPLOYED} (not employed)"
        )
    return value


def _annotation(column: Column) -> Any:
    if column.kind == "categorical":
        base: Any = Literal[column.categories]  # type: ignore[valid-type]
        return base if column.required else base | None
    bounds: dict[str, Any] = {"le": column.maximum}
    bounds["gt" if column.exclusive_minimum else "ge"] = column.minimum
    if column.kind in ("integer", "flag"):
        # strict float refuses text and booleans; multiple_of=1 refuses 2.5 but
        # takes 2.0, which is how the CSV spells many integer columns.
        bounds["multiple_of"] = 1
    number: Any = Annotated[float, Field(strict=True, **bounds)]
    if column.name == "DAYS_EMPLOYED":
        number = Annotated[number, AfterValidator(_days_employed_rule)]
    return number if column.required else number | None


def _field(column: Column) -> tuple[Any, Any]:
    description = f"{column.kind}" + (" (required)" if column.required else " (optional: null means missing)")
    default = ... if column.required else None
    return (_annotation(column), Field(default, description=description))


class _ApplicationBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


LoanApplication: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "LoanApplication",
    __base__=_ApplicationBase,
    __doc__="One loan application: the raw Home Credit application_train columns.",
    **{
        CLIENT_ID: (
            Annotated[int, Field(strict=True, ge=0, le=CLIENT_ID_MAX)],
            Field(..., description="client reference (pseudonymised before storage)"),
        )
    },
    **{c.name: _field(c) for c in feature_columns()},
)


def field_errors(error: ValidationError) -> list[dict[str, Any]]:
    """One entry per bad field: its name, the value sent and the rule broken.

    Args:
        error: the pydantic validation error.

    Returns:
        A list of ``{"field", "value", "rule", "message"}`` dicts, JSON-ready.
    """
    out = []
    for item in error.errors(include_url=False):
        loc = [str(part) for part in item["loc"] if part not in ("body",)]
        # a union with None reports under the branch name ("float", "literal[...]"): drop it
        loc = [p for p in loc if not p.startswith(("literal[", "function-after[")) and p not in ("float", "int")]
        value = item.get("input")
        out.append(
            {
                "field": ".".join(loc) or "body",
                "value": None if item["type"] == "missing" else _jsonable(value),
                "rule": item["type"],
                "message": item["msg"],
            }
        )
    return out


_INT64 = 2**63


def _jsonable(value: Any) -> Any:
    """The offending value as JSON can carry it (orjson refuses integers beyond 64 bits)."""
    if isinstance(value, int) and not isinstance(value, bool) and not -_INT64 <= value < _INT64:
        return str(value)[:200]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)[:200]


def example_application() -> dict[str, Any]:
    """A plausible application for documentation and smoke tests."""
    values: dict[str, Any] = {CLIENT_ID: 100002}
    for column in feature_columns():
        if not column.required:
            continue
        if column.kind == "categorical":
            values[column.name] = column.categories[0]
        elif column.kind == "flag":
            values[column.name] = 1 if column.name in ("FLAG_MOBIL", "FLAG_EMP_PHONE", "FLAG_CONT_MOBILE") else 0
    values.update(
        CNT_CHILDREN=0, AMT_INCOME_TOTAL=202500.0, AMT_CREDIT=406597.5, AMT_ANNUITY=24700.5,
        AMT_GOODS_PRICE=351000.0, NAME_INCOME_TYPE="Working", DAYS_BIRTH=-9461, DAYS_EMPLOYED=-637,
        DAYS_REGISTRATION=-3648.0, DAYS_ID_PUBLISH=-2120, REGION_POPULATION_RELATIVE=0.018801,
        REGION_RATING_CLIENT=2, REGION_RATING_CLIENT_W_CITY=2, EXT_SOURCE_1=0.083, EXT_SOURCE_2=0.263,
        EXT_SOURCE_3=0.139, FLAG_DOCUMENT_3=1, OCCUPATION_TYPE="Laborers", CNT_FAM_MEMBERS=1.0,
        ORGANIZATION_TYPE="Business Entity Type 3", NAME_FAMILY_STATUS="Single / not married",
        NAME_EDUCATION_TYPE="Secondary / secondary special", DAYS_LAST_PHONE_CHANGE=-1134.0,
    )
    return values
