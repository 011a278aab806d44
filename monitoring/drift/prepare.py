"""From rows (dicts of raw fields) or a columnar sample to the columns the drift tests compare.

Rows come from the bundle's reference as plain dicts (None = missing); the
production window comes from the store as a :class:`shared.store.columns.ColumnSample`
(one float64 matrix, one object matrix), already in columns. Both end up as the
same typed frame: numbers as float64 with NaN, categories as the category dtype.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from shared.store.columns import ColumnSample, rows_to_columns

SCORE = "score"
RARE = "(rare or new)"


def to_frame(rows: Sequence[dict[str, Any]], names: Sequence[str], categorical: set[str]) -> pd.DataFrame:
    """Columns ``names`` of ``rows``: numbers as float64 with NaN, categories as object with NaN.

    Values of the wrong type (a text in a number column) become missing rather
    than failing the run: the gateway validated them, so this only guards
    against a corrupted document.
    """
    numeric = [n for n in names if n not in categorical]
    return from_columns(rows_to_columns(rows, numeric, [n for n in names if n in categorical]), names)


class Columns(Mapping[str, pd.Series]):
    """Typed columns by name, like the columns of :func:`to_frame`'s frame, without the frame.

    A DataFrame of 120 columns copies every column into its blocks; the checks read one
    column at a time, so each is kept as its own Series (a view of the sample's arrays).
    ``len()`` is the number of columns (a mapping); ``rows`` the number of rows.
    """

    def __init__(self, series: dict[str, pd.Series], rows: int) -> None:
        self._series = series
        self.rows = rows

    def __getitem__(self, name: str) -> pd.Series:
        return self._series[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._series)

    def __len__(self) -> int:
        return len(self._series)

    @property
    def columns(self) -> list[str]:
        """The column names, as ``DataFrame.columns`` lists them."""
        return list(self._series)

    def frame(self, names: Sequence[str]) -> pd.DataFrame:
        """A DataFrame of some of the columns."""
        return pd.DataFrame({name: self._series[name] for name in names})


def from_columns(sample: ColumnSample, names: Sequence[str]) -> Columns:
    """The typed columns ``names`` of a columnar sample (numbers float64 with NaN, categories category)."""
    numeric = {name: j for j, name in enumerate(sample.numeric_names)}
    categorical = {name: j for j, name in enumerate(sample.categorical_names)}
    by_column = np.ascontiguousarray(sample.numeric.T)  # every column contiguous (no copy when column-major)
    data: dict[str, pd.Series] = {}
    for name in names:
        if name in numeric:
            data[name] = pd.Series(by_column[numeric[name]], name=name, copy=False)
        else:
            # the category dtype makes value counts and membership tests hash once per category, not per row
            data[name] = pd.Series(sample.categorical[:, categorical[name]], dtype=object,
                                   name=name).astype("category")
    return Columns(data, len(sample))


def pool_categories(values: pd.Series, kept: Sequence[Any]) -> pd.Series:
    """Replace categories outside ``kept`` (rare in the reference, or never seen) by one pooled value.

    Pooling keeps the Jensen-Shannon distance from being inflated by sampling
    noise on dozens of rare categories, while a surge of an unknown or rare
    category still shows as a growing pooled share.
    """
    non_null = values.dropna()
    known = non_null.isin(list(kept))
    if known.all():
        return non_null
    if isinstance(non_null.dtype, pd.CategoricalDtype):
        pooled = non_null.cat.add_categories([RARE]) if RARE not in non_null.cat.categories else non_null
        return pooled.where(known, RARE).cat.remove_unused_categories()
    return non_null.astype(object).where(known, RARE)


def shares(values: pd.Series, categories: Sequence[Any], counts: pd.Series | None = None) -> list[float]:
    """Share of each category among the non-missing values (``counts``: their ``value_counts()``, if known)."""
    total = len(values)
    if not total:
        return [0.0 for _ in categories]
    counts = values.value_counts() if counts is None else counts
    return [float(counts.get(c, 0)) / total for c in categories]


def histogram(values: np.ndarray, edges: np.ndarray) -> list[float]:
    """Share of values per bin; values outside the edges fall into the end bins."""
    if not len(values):
        return [0.0] * (len(edges) - 1)
    clipped = np.clip(values, edges[0], edges[-1])
    counts, _ = np.histogram(clipped, bins=edges)
    return (counts / len(values)).tolist()


def bin_edges(reference: np.ndarray, bins: int = 20) -> np.ndarray:
    """Equal-width bins over the reference's 0.5 %-99.5 % range (tails go to the end bins)."""
    low, high = np.quantile(reference, [0.005, 0.995]) if len(reference) else (0.0, 1.0)
    if high <= low:
        low, high = float(np.min(reference)), float(np.max(reference))
        if high <= low:
            high = low + 1.0
    return np.linspace(low, high, bins + 1)
