"""A sample of applications in columnar form: what drift checks read, without a dict per row kept.

``sample_applications`` gives one dict per event (120 features, the score, the
time): on 100,000 events that is twelve million Python objects, over a
gigabyte. Drift needs columns: :class:`ColumnSample` holds the numeric columns
as one float64 matrix (NaN = missing) and the categorical ones as one object
matrix (None = missing), built page by page so that only one page of dicts is
alive at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np


@dataclass
class ColumnSample:
    """Columns of a sample of scored applications, newest first.

    Attributes:
        numeric_names: names of the columns of ``numeric``.
        numeric: float64 matrix (rows x numeric names); NaN where missing or not a number.
        categorical_names: names of the columns of ``categorical``.
        categorical: object matrix (rows x categorical names); None where missing.
        timestamps: object vector of the rows' ``timestamp`` texts (ISO, UTC).
    """

    numeric_names: list[str]
    numeric: np.ndarray
    categorical_names: list[str]
    categorical: np.ndarray
    timestamps: np.ndarray

    def __len__(self) -> int:
        return int(self.numeric.shape[0])

    @property
    def first_event(self) -> str | None:
        """The oldest timestamp (ISO texts in UTC sort as times), None when there is none."""
        stamps = [t for t in self.timestamps if t]
        return min(stamps) if stamps else None

    @property
    def last_event(self) -> str | None:
        """The newest timestamp."""
        stamps = [t for t in self.timestamps if t]
        return max(stamps) if stamps else None

    def column(self, name: str) -> np.ndarray:
        """One column by name."""
        if name in self.numeric_names:
            return self.numeric[:, self.numeric_names.index(name)]  # type: ignore[no-any-return]
        return self.categorical[:, self.categorical_names.index(name)]  # type: ignore[no-any-return]


def _getter(names: Sequence[str]) -> Any:
    """A function from a row to the tuple of its values for ``names`` (KeyError when one is absent)."""
    if len(names) == 1:
        one = itemgetter(names[0])
        return lambda row: (one(row),)
    return itemgetter(*names)


def _values(rows: Sequence[dict[str, Any]], names: Sequence[str]) -> list[tuple[Any, ...]]:
    if not names:
        return [() for _ in rows]
    get = _getter(names)
    try:
        return [get(row) for row in rows]
    except KeyError:  # some rows lack some fields: the slower way for this page
        return [tuple(row.get(name) for name in names) for row in rows]


def _numeric_matrix(values: list[tuple[Any, ...]], width: int) -> np.ndarray:
    """float64 matrix of ``values``; None becomes NaN, and a value that is not a number too (column by column)."""
    if not values:
        return np.empty((0, width), dtype=np.float64)
    try:
        return np.array(values, dtype=np.float64).reshape(len(values), width)
    except (TypeError, ValueError):
        pass
    import pandas as pd  # a corrupted document: coerce its column as pandas would (text -> number or NaN)

    objects = np.array(values, dtype=object).reshape(len(values), width)
    out = np.empty((len(values), width), dtype=np.float64)
    for j in range(width):
        try:
            out[:, j] = objects[:, j].astype(np.float64)
        except (TypeError, ValueError):
            out[:, j] = pd.to_numeric(pd.Series(objects[:, j]), errors="coerce").astype(float).to_numpy()
    return out


def _object_matrix(values: list[tuple[Any, ...]], width: int) -> np.ndarray:
    out = np.empty((len(values), width), dtype=object)
    if values and width:
        out[:] = values
    return out


def rows_to_columns(rows: Sequence[dict[str, Any]], numeric_names: Sequence[str],
                    categorical_names: Sequence[str], time_field: str = "timestamp") -> ColumnSample:
    """The :class:`ColumnSample` of ``rows`` (dicts of raw fields, in their order).

    Args:
        rows: dicts holding the named fields (absent = missing) and ``time_field``.
        numeric_names: fields read as numbers.
        categorical_names: fields kept as they are (texts).
        time_field: the field kept as ``timestamps``.
    """
    stamps = np.empty(len(rows), dtype=object)
    stamps[:] = [row.get(time_field) for row in rows]
    return ColumnSample(
        numeric_names=list(numeric_names),
        numeric=_numeric_matrix(_values(rows, numeric_names), len(numeric_names)),
        categorical_names=list(categorical_names),
        categorical=_object_matrix(_values(rows, categorical_names), len(categorical_names)),
        timestamps=stamps,
    )


def concat(parts: Sequence[ColumnSample], limit: int | None = None) -> ColumnSample:
    """The parts one after the other, cut to the first ``limit`` rows.

    The numeric matrix comes out in column-major (Fortran) order: each column is then one contiguous
    run that the checks read as it is, and the one copy made here is also the transposition.
    """
    if not parts:
        raise ValueError("nothing to concatenate")
    first = parts[0]
    rows = sum(len(p) for p in parts)
    rows = rows if limit is None else min(rows, limit)
    numeric = np.empty((rows, first.numeric.shape[1]), dtype=np.float64, order="F")
    done = 0
    for part in parts:
        take = min(len(part), rows - done)
        if take <= 0:
            break
        numeric[done:done + take] = part.numeric[:take]
        done += take
    if len(parts) == 1:
        categorical, stamps = first.categorical, first.timestamps
    else:
        categorical = np.concatenate([p.categorical for p in parts])
        stamps = np.concatenate([p.timestamps for p in parts])
    return ColumnSample(first.numeric_names, numeric, first.categorical_names, categorical[:rows], stamps[:rows])
