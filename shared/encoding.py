"""Feature encoding: one pure function from raw applications to the model's matrix.

Training and serving call the same :func:`encode`; its fitted state (column
order, category codes, handling of unseen categories) lives in
:class:`EncodingState`, saved in the bundle metadata and loaded back, never
re-derived at serving time. Pure Python and numpy: no pandas on this path.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import numpy as np

from shared.columns import DAYS_EMPLOYED_UNEMPLOYED, feature_columns
from shared.exceptions import EncodingError

ENCODING_VERSION = 1
NAN = float("nan")
EXT_SOURCES = ("EXT_SOURCE_1", "EXT_SOURCE_2", "EXT_SOURCE_3")
# Domain features, in matrix order, after the raw numeric columns.
DOMAIN_FEATURES = (
    "DAYS_EMPLOYED_UNEMPLOYED",  # 1 when DAYS_EMPLOYED is the table's 365243 value
    "CREDIT_INCOME_RATIO",
    "ANNUITY_INCOME_RATIO",
    "CREDIT_TERM",  # credit / annuity: the loan's length in annuities
    "GOODS_CREDIT_RATIO",
    "EMPLOYED_AGE_RATIO",
    "AGE_YEARS",
    "EXT_SOURCE_MEAN",
    "EXT_SOURCE_MIN",
    "EXT_SOURCE_MAX",
    "EXT_SOURCE_PROD",
    "EXT_SOURCE_STD",
)
# The numeric columns the domain features are computed from.
_DOMAIN_INPUTS = ("AMT_INCOME_TOTAL", "AMT_CREDIT", "AMT_ANNUITY", "AMT_GOODS_PRICE", "DAYS_BIRTH", "DAYS_EMPLOYED",
                  *EXT_SOURCES)


@dataclass(frozen=True)
class EncodingState:
    """Fitted state of the encoding, stored in the bundle's metadata.

    Attributes:
        numeric: raw numeric columns (flags, integers, continuous), in matrix order.
        categories: for each categorical column, the values seen in training, in
            one-hot order. A value valid in the schema but unseen in training (or
            missing) encodes as all zeros: the model treats it like a missing value.
        version: encoding version, checked on load.
    """

    numeric: tuple[str, ...]
    categories: dict[str, tuple[str, ...]]
    version: int = ENCODING_VERSION
    _slots: dict[str, dict[str, int]] = field(default_factory=dict, repr=False, compare=False)
    _employed: int = field(default=-1, repr=False, compare=False)
    _take: Any = field(default=None, repr=False, compare=False)
    _at: dict[str, int] = field(default_factory=dict, repr=False, compare=False)
    _width: int = field(default=0, repr=False, compare=False)

    def __post_init__(self) -> None:
        if "DAYS_EMPLOYED" in self.numeric:
            object.__setattr__(self, "_employed", self.numeric.index("DAYS_EMPLOYED"))
        object.__setattr__(self, "_take", itemgetter(*self.numeric) if len(self.numeric) > 1 else
                           (lambda row: (row[self.numeric[0]],)) if self.numeric else (lambda row: ()))
        self._at.update({name: self.numeric.index(name) for name in _DOMAIN_INPUTS if name in self.numeric})
        offset = len(self.numeric) + len(DOMAIN_FEATURES)
        for column, values in self.categories.items():
            self._slots[column] = {value: offset + i for i, value in enumerate(values)}
            offset += len(values)
        object.__setattr__(self, "_width", offset)

    @property
    def feature_names(self) -> list[str]:
        """Names of the matrix columns, in order."""
        names = [*self.numeric, *DOMAIN_FEATURES]
        for column, values in self.categories.items():
            names.extend(f"{column}={value}" for value in values)
        return names

    @property
    def n_features(self) -> int:
        """Width of the encoded matrix (computed once: ``encode`` reads it on every call)."""
        return self._width

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, for the bundle metadata."""
        return {
            "version": self.version,
            "numeric": list(self.numeric),
            "domain_features": list(DOMAIN_FEATURES),
            "categories": {k: list(v) for k, v in self.categories.items()},
            "unseen_category": "all-zero one-hot (same as missing)",
            "days_employed_unemployed": DAYS_EMPLOYED_UNEMPLOYED,
            "feature_names": self.feature_names,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EncodingState:
        """Load the state saved by :meth:`to_dict`.

        Raises:
            EncodingError: when the state was written by another encoding version.
        """
        if data.get("version") != ENCODING_VERSION:
            raise EncodingError(f"encoding version {data.get('version')!r} is not {ENCODING_VERSION}")
        if list(data.get("domain_features", DOMAIN_FEATURES)) != list(DOMAIN_FEATURES):
            raise EncodingError("the bundle's domain features differ from this code's")
        state = cls(
            numeric=tuple(data["numeric"]),
            categories={k: tuple(v) for k, v in data["categories"].items()},
        )
        if "feature_names" in data and list(data["feature_names"]) != state.feature_names:
            raise EncodingError("the bundle's feature names differ from the ones this state produces")
        return state


def fit_encoding(rows: Iterable[Mapping[str, Any]]) -> EncodingState:
    """Fit the encoding on training applications.

    Args:
        rows: raw applications (dicts of the application columns, None = missing).

    Returns:
        The fitted state: numeric columns in the CSV's order, and the categories
        seen in training, most frequent first (ties by name).
    """
    columns = feature_columns()
    categorical = [c.name for c in columns if c.kind == "categorical"]
    counts: dict[str, dict[str, int]] = {name: {} for name in categorical}
    for row in rows:
        for name in categorical:
            value = row.get(name)
            if value is not None:
                counts[name][value] = counts[name].get(value, 0) + 1
    categories = {
        name: tuple(sorted(seen, key=lambda v, s=seen: (-s[v], v))) for name, seen in counts.items()  # type: ignore[misc]
    }
    numeric = tuple(c.name for c in columns if c.kind != "categorical")
    return EncodingState(numeric=numeric, categories=categories)


def _ratio(num: float, den: float) -> float:
    return num / den if den != 0 else NAN


def _domain(values: Sequence[Any], at: dict[str, int], unemployed: bool) -> list[float]:
    """The domain features of one row, from its numeric values (NaN = missing; DAYS_EMPLOYED already NaN'd)."""
    income = values[at["AMT_INCOME_TOTAL"]]
    credit = values[at["AMT_CREDIT"]]
    annuity = values[at["AMT_ANNUITY"]]
    birth = values[at["DAYS_BIRTH"]]
    ext = [v for v in (values[at[name]] for name in EXT_SOURCES) if v == v]  # v == v: not NaN
    if ext:
        mean = sum(ext) / len(ext)
        ext_stats = [mean, min(ext), max(ext), math.prod(ext), math.sqrt(sum((v - mean) ** 2 for v in ext) / len(ext))]
    else:
        ext_stats = [NAN] * 5
    return [
        1.0 if unemployed else 0.0,
        _ratio(credit, income),
        _ratio(annuity, income),
        _ratio(credit, annuity),
        _ratio(values[at["AMT_GOODS_PRICE"]], credit),
        _ratio(values[at["DAYS_EMPLOYED"]], birth),
        -birth / 365.25,
        *ext_stats,
    ]


def encode(rows: Sequence[Mapping[str, Any]], state: EncodingState) -> np.ndarray:
    """Encode raw applications into the model's float32 matrix.

    The same function serves training (all rows of the data set) and serving
    (one validated application, or a batch). Row by row, in plain Python floats:
    the numeric columns taken with one ``itemgetter`` call, the domain features
    computed on them, the values written straight into the float32 matrix
    (a column-wise numpy version was measured no faster: the cost is in reading
    the Python values, not in the arithmetic).

    Args:
        rows: raw applications: dicts keyed by the application's column names,
            numbers as numbers, categoricals as their text, None (or absent, or
            NaN) for a missing value.
        state: the fitted encoding state (from the bundle).

    Returns:
        A C-contiguous float32 array of shape ``(len(rows), state.n_features)``;
        missing values are NaN.
    """
    numeric = state.numeric
    take = state._take
    at = state._at
    employed = state._employed
    slots = state._slots
    base = len(numeric) + len(DOMAIN_FEATURES)
    out = np.zeros((len(rows), state.n_features), dtype=np.float32)
    for i, row in enumerate(rows):
        try:
            raw = take(row)  # one C call when every column is present (validated applications)
        except KeyError:
            raw = tuple(map(row.get, numeric))
        values: list[Any] = [NAN if v is None else v for v in raw]
        unemployed = employed >= 0 and values[employed] == DAYS_EMPLOYED_UNEMPLOYED
        if unemployed:
            values[employed] = NAN  # the flag among the domain features keeps the information
        values.extend(_domain(values, at, unemployed))
        line = out[i]
        line[:base] = values
        get = row.get
        for column, positions in slots.items():
            position = positions.get(get(column))  # type: ignore[arg-type]
            if position is not None:
                line[position] = 1.0
    return out
