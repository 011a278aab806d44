"""A faster first pass over one application's JSON body, for the bodies that are certainly valid.

:class:`shared.schema.LoanApplication` (pydantic) is the contract: what it accepts, how it
normalises and how it refuses. For a valid body its ``model_validate_json`` is the largest
single cost of a scored request. :func:`decode_valid` decodes the body with msgspec into a
struct built from the same column specification (:mod:`shared.columns`), with the same
bounds, categories, types and nulls, no extra key allowed, and the one rule outside the
types (``DAYS_EMPLOYED``) checked after. It is never the last word:

* when it accepts, the values are those pydantic gives (same keys in the same order, same
  Python types and floats; ``tests/shared/test_fast_schema.py`` compares both on real and
  fuzzed applications);
* when it refuses, or has any doubt, it answers None and the caller validates with pydantic,
  so every error answer and "invalid" event is pydantic's. Its checks are the same or
  stricter: a float integer column is held to exact multiples of 1, where pydantic allows
  a rounding error (such a body simply takes pydantic's path).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional

import msgspec

from shared.columns import CLIENT_ID, CLIENT_ID_MAX, DAYS_EMPLOYED_UNEMPLOYED, Column, feature_columns

__all__ = ["decode_valid"]


def _type(column: Column) -> Any:
    """The msgspec type of one column, as :func:`shared.schema._annotation` builds pydantic's."""
    if column.kind == "categorical":
        base: Any = Literal[column.categories]  # type: ignore[valid-type]
    else:
        bounds: dict[str, Any] = {}
        if column.maximum is not None:
            bounds["le"] = column.maximum
        if column.minimum is not None:
            bounds["gt" if column.exclusive_minimum else "ge"] = column.minimum
        if column.kind in ("integer", "flag"):
            bounds["multiple_of"] = 1
        base = Annotated[float, msgspec.Meta(**bounds)]
    return base if column.required else Optional[base]  # noqa: UP045 (msgspec reads the typing form)


def _struct() -> type[msgspec.Struct]:
    fields: list[tuple[Any, ...]] = [(CLIENT_ID, Annotated[int, msgspec.Meta(ge=0, le=CLIENT_ID_MAX)])]
    for column in feature_columns():
        fields.append((column.name, _type(column)) if column.required else (column.name, _type(column), None))
    return msgspec.defstruct("FastApplication", fields, forbid_unknown_fields=True, kw_only=True)


_DECODER = msgspec.json.Decoder(_struct())
_asdict = msgspec.structs.asdict


def decode_valid(body: bytes) -> tuple[dict[str, Any], Any] | None:
    """The 120 features (a fresh dict, pydantic's order and values) and SK_ID_CURR of a valid body; else None.

    None means "not certainly valid": validate with pydantic, which gives the answer (values or errors).
    """
    try:
        values = _asdict(_DECODER.decode(body))
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    days = values.get("DAYS_EMPLOYED")
    if days is not None and days > 0 and days != DAYS_EMPLOYED_UNEMPLOYED:
        return None
    return values, values.pop(CLIENT_ID)
