"""Evidently's drift tests, computed here with the same arithmetic, without importing Evidently.

The three tests the calculator uses are those of Evidently's ``ValueDrift``
(``evidently.legacy.calculations.stattests``): the Wasserstein distance normed by
the reference's standard deviation, the Jensen-Shannon distance over the
categories, and the PSI over Sturges bins. Each is written below step for step
as Evidently and SciPy compute it (same operations in the same order), so the
values are Evidently's own; ``tests/monitoring/test_drift_calculator.py`` checks
them against ``ValueDrift``. Importing Evidently costs seconds of start-up (its
pydantic models), which a one-off ``python -m monitoring drift`` cannot afford;
it is imported for the HTML report only.

A reference prepared once (:class:`Prepared`: its sorted values and its norm)
saves sorting the reference again for every window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from monitoring.drift.plan import JENSEN_SHANNON, PSI, WASSERSTEIN


@dataclass(frozen=True)
class Prepared:
    """What a continuous reference needs for the Wasserstein test, computed once."""

    sorted_values: np.ndarray
    norm: float


def prepare_reference(reference: pd.Series) -> Prepared:
    """The sorted values and the norm (``max(np.std(reference), 0.001)``, as Evidently) of a reference."""
    values = np.asarray(reference, dtype=float)
    return Prepared(np.sort(values), max(float(np.std(reference)), 0.001))


def wasserstein_norm(reference: pd.Series | Prepared, current: pd.Series | np.ndarray) -> float:
    """``scipy.stats.wasserstein_distance(reference, current) / norm``, SciPy's ``_cdf_distance`` with p = 1."""
    prepared = reference if isinstance(reference, Prepared) else prepare_reference(reference)
    u_sorted = prepared.sorted_values
    v_values = np.asarray(current, dtype=float)
    v_sorted = np.sort(v_values)
    # SciPy sorts the concatenation; the sorted array is the same, and from two sorted runs the
    # stable sort (timsort) only merges them. Where the next value is larger (delta > 0), the values
    # of u up to a position of the merged order are those <= its value: counting them along the merge
    # gives SciPy's searchsorted(..., "right") counts exactly; elsewhere delta is 0 and so is the term.
    both = np.concatenate((u_sorted, v_sorted))
    order = np.argsort(both, kind="stable")
    all_values = both[order]
    deltas = np.diff(all_values)
    u_count = np.cumsum(order[:-1] < u_sorted.size)
    u_cdf = u_count / u_sorted.size
    v_cdf = (np.arange(1, all_values.size) - u_count) / v_values.size
    return float(np.vecdot(np.abs(u_cdf - v_cdf), deltas)) / prepared.norm


def rel_entr(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``scipy.special.rel_entr`` in numpy, branch for branch.

    ``x * log(x / y)`` where both are positive (``x * log1p((x - y) / y)`` when the ratio is within (0.5, 2),
    ``x * (log(x) - log(y))`` when it leaves the range of doubles), 0 where ``x`` is 0 and ``y`` is not negative,
    infinity elsewhere, NaN where either is NaN. Importing SciPy's special functions costs a one-off command a
    quarter of a second; numpy's logarithms may differ from the C library's in the last bit.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        both = (x > 0) & (y > 0)
        xs, ys = np.where(both, x, 1.0), np.where(both, y, 1.0)
        ratio = xs / ys
        near = (ratio > 0.5) & (ratio < 2)
        representable = (ratio > np.finfo(float).tiny) & (ratio < np.inf)
        value = np.where(near, xs * np.log1p((xs - ys) / ys),
                         np.where(representable, xs * np.log(ratio), xs * (np.log(xs) - np.log(ys))))
    out = np.where(both, value, np.inf)
    out[(x == 0) & (y >= 0)] = 0.0
    out[np.isnan(x) | np.isnan(y)] = np.nan
    return out


def jensenshannon(p: np.ndarray, q: np.ndarray) -> float:
    """``scipy.spatial.distance.jensenshannon(p, q)`` (natural logarithm)."""
    p = p / np.sum(p, axis=0, keepdims=True)
    q = q / np.sum(q, axis=0, keepdims=True)
    m = (p + q) / 2.0
    js = np.sum(rel_entr(p, m), axis=0) + np.sum(rel_entr(q, m), axis=0)
    return float(np.sqrt(js / 2.0))


def binned(reference: pd.Series, current: pd.Series, discrete: bool, fill_zeroes: bool,
           current_counts: pd.Series | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Evidently's ``get_binned_data``: shares per category (or per Sturges bin for a numeric with > 20 values)."""
    if not discrete and reference.nunique() > 20:
        combined = np.asarray(pd.concat([reference, current], axis=0).values)
        bins = np.histogram_bin_edges(combined, bins="sturges")
        reference_percents = np.histogram(reference, bins)[0] / len(reference)
        current_percents = np.histogram(current, bins)[0] / len(current)
    else:
        keys = list(set(reference.dropna().unique()) | set(current.dropna().unique()))
        reference_counts = {**dict.fromkeys(keys, 0), **dict(reference.value_counts())}
        counted = current.value_counts() if current_counts is None else current_counts
        current_counted = {**dict.fromkeys(keys, 0), **dict(counted)}
        reference_percents = np.array([reference_counts[key] / len(reference) for key in keys])
        current_percents = np.array([current_counted[key] / len(current) for key in keys])
    if fill_zeroes:
        for percents in (reference_percents, current_percents):
            smallest = min(percents[percents != 0])
            np.place(percents, percents == 0, smallest / 10**6 if smallest <= 0.0001 else 0.0001)
    return reference_percents, current_percents


def run_test(test: str, reference: pd.Series, current: pd.Series, threshold: float, discrete: bool,
             prepared: Prepared | None = None, current_counts: pd.Series | None = None) -> tuple[float, bool]:
    """Run one test on two non-empty, NaN-free series.

    Args:
        test: ``wasserstein``, ``jensenshannon`` or ``psi``.
        reference: the reference values.
        current: the current values.
        threshold: drift when the value reaches it.
        discrete: the values are categories (Evidently's categorical column type).
        prepared: :func:`prepare_reference` of ``reference`` (Wasserstein), to skip sorting it again.
        current_counts: ``current.value_counts()`` when the caller has it already (discrete values).

    Returns:
        (value, drifted): the distance (or PSI) and Evidently's verdict (value >= threshold).
    """
    if test == WASSERSTEIN:
        value = wasserstein_norm(prepared or reference, current)
    elif test == JENSEN_SHANNON:
        value = jensenshannon(*binned(reference, current, discrete, fill_zeroes=False, current_counts=current_counts))
    elif test == PSI:
        reference_percents, current_percents = binned(reference, current, discrete, fill_zeroes=True,
                                                      current_counts=current_counts)
        value = float(np.sum((reference_percents - current_percents)
                             * np.log(reference_percents / current_percents)))
    else:
        raise ValueError(f"unknown drift test {test!r}")
    return value, value >= threshold
