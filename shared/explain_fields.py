"""From the model's encoded columns back to the fields a person knows.

Every encoded column belongs to exactly one field:

* a raw numeric column is its own field;
* the one-hot columns ``NAME=value`` of a categorical field add up to ``NAME``;
* ``DAYS_EMPLOYED_UNEMPLOYED`` (the table's "not employed" value of
  ``DAYS_EMPLOYED``, which the encoding turns into a flag and a missing value)
  adds up to ``DAYS_EMPLOYED``;
* a derived column (a ratio, the age in years, a statistic of the external
  scores) is a field of its own, with the raw fields it was computed from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shared.encoding import DOMAIN_FEATURES, EXT_SOURCES, EncodingState

# Derived columns folded into a raw field rather than reported under their own name.
FOLDED_INTO = {"DAYS_EMPLOYED_UNEMPLOYED": "DAYS_EMPLOYED"}

# The raw fields each reported derived column is computed from (shared.encoding._domain).
DERIVED_FROM: dict[str, tuple[str, ...]] = {
    "CREDIT_INCOME_RATIO": ("AMT_CREDIT", "AMT_INCOME_TOTAL"),
    "ANNUITY_INCOME_RATIO": ("AMT_ANNUITY", "AMT_INCOME_TOTAL"),
    "CREDIT_TERM": ("AMT_CREDIT", "AMT_ANNUITY"),
    "GOODS_CREDIT_RATIO": ("AMT_GOODS_PRICE", "AMT_CREDIT"),
    "EMPLOYED_AGE_RATIO": ("DAYS_EMPLOYED", "DAYS_BIRTH"),
    "AGE_YEARS": ("DAYS_BIRTH",),
    "EXT_SOURCE_MEAN": EXT_SOURCES,
    "EXT_SOURCE_MIN": EXT_SOURCES,
    "EXT_SOURCE_MAX": EXT_SOURCES,
    "EXT_SOURCE_PROD": EXT_SOURCES,
    "EXT_SOURCE_STD": EXT_SOURCES,
}


@dataclass(frozen=True)
class FieldMap:
    """The grouping of an encoding's columns into fields.

    Attributes:
        names: the fields, in order: raw numeric fields, derived fields, categorical fields.
        column_field: for each encoded column (matrix order), the index of its field in ``names``.
        derived_from: for each derived field, the raw fields it is computed from.
        derived_column: for each derived field, its column in the encoded matrix (its value is read there).
    """

    names: tuple[str, ...]
    column_field: tuple[int, ...]
    derived_from: dict[str, tuple[str, ...]]
    derived_column: dict[str, int]

    def matrix(self) -> np.ndarray:
        """The 0/1 grouping matrix, encoded columns x fields (float64): contributions @ matrix sums by field."""
        grouping = np.zeros((len(self.column_field), len(self.names)), dtype=np.float64)
        grouping[np.arange(len(self.column_field)), list(self.column_field)] = 1.0
        return grouping


def field_map(state: EncodingState) -> FieldMap:
    """The field of every encoded column of ``state``.

    Raises:
        ValueError: a domain feature this module does not know (the encoding
            gained a column without its mapping).
    """
    unknown = set(DOMAIN_FEATURES) - set(DERIVED_FROM) - set(FOLDED_INTO)
    if unknown:
        raise ValueError(f"domain features without a field mapping: {sorted(unknown)}")
    names: list[str] = list(state.numeric)
    derived = [name for name in DOMAIN_FEATURES if name in DERIVED_FROM]
    names.extend(derived)
    names.extend(state.categories)
    position = {name: i for i, name in enumerate(names)}
    column_field: list[int] = [position[name] for name in state.numeric]
    derived_column: dict[str, int] = {}
    for offset, name in enumerate(DOMAIN_FEATURES, start=len(state.numeric)):
        column_field.append(position[FOLDED_INTO.get(name, name)])
        if name in DERIVED_FROM:
            derived_column[name] = offset
    for column, values in state.categories.items():
        column_field.extend(position[column] for _ in values)
    return FieldMap(tuple(names), tuple(column_field), {k: DERIVED_FROM[k] for k in derived}, derived_column)
