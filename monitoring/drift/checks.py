"""Checks Evidently does not make: shares of missing and of special values (and a rate's interval).

Evidently's drift tests drop missing values, so a feature that goes missing
twice as often looks stable to them. These checks compare the two shares
directly: drift when the absolute change reaches a threshold (a size that
matters to the credit team) *and* a two-proportion z-test says the change is
not sampling noise (which matters on small windows only).
"""

from __future__ import annotations

import math

import numpy as np


def two_proportion_z(p_ref: float, n_ref: int, p_cur: float, n_cur: int) -> float:
    """Absolute z statistic of the difference of two proportions (pooled variance)."""
    if n_ref <= 0 or n_cur <= 0:
        return 0.0
    pooled = (p_ref * n_ref + p_cur * n_cur) / (n_ref + n_cur)
    variance = pooled * (1 - pooled) * (1 / n_ref + 1 / n_cur)
    if variance <= 0:
        # Both shares are 0 or both are 1: no difference; otherwise impossible.
        return 0.0 if p_ref == p_cur else math.inf
    return abs(p_cur - p_ref) / math.sqrt(variance)


def share_drifted(p_ref: float, n_ref: int, p_cur: float, n_cur: int, threshold: float, min_z: float) -> bool:
    """True when the share moved by at least ``threshold`` and the move is significant."""
    return abs(p_cur - p_ref) >= threshold and two_proportion_z(p_ref, n_ref, p_cur, n_cur) >= min_z


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion (``z`` = 1.96: 95 %); (0, 1) when ``n`` is 0.

    Unlike the normal approximation it stays inside [0, 1] and is honest on
    small counts: 1 of 25 gives 0.7 %-19.5 %, 5 of 100 gives 2.2 %-11.2 %.
    """
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


LATTICE_MIN_TIES = 5  # values sit on a lattice when each distinct value shows up this often on average
LATTICE_MAX_POINTS = 200
_LATTICE_PROBE = 2000  # values looked at first: more distinct values than a lattice holds means continuous


def lattice_spacing(values: np.ndarray) -> float:
    """The spacing of the points the values sit on when they hold few distinct values with many ties; 0 otherwise.

    The building counts of the real table (floors / 24, entrances / 29, ...) sit
    on such a lattice; a continuous sample (distinct values about as many as
    values) gives 0.
    """
    values = values[~np.isnan(values)] if values.dtype.kind == "f" else values
    head = values[:_LATTICE_PROBE]
    if len(values) > _LATTICE_PROBE and len(np.unique(head)) > LATTICE_MAX_POINTS:
        return 0.0  # continuous: no need to sort a whole big window to see it
    distinct = np.unique(values)
    if len(distinct) < 3 or len(distinct) > min(LATTICE_MAX_POINTS, len(values) / LATTICE_MIN_TIES):
        return 0.0
    return float(np.median(np.diff(distinct)))


def resolution_allowance(reference_spacing: float, current_spacing: float, reference_std: float) -> float:
    """The normed Wasserstein distance that a difference of resolution alone produces.

    Rounding a smooth distribution to a lattice of step s moves each value by
    s/4 on average, so a continuous reference and a current window of the same
    population on a lattice (or two lattices of different steps) are about
    s/4 apart, divided by the reference's standard deviation, without any
    drift. When both sides share one lattice (or are both continuous) the
    allowance is 0 and the test keeps its full sensitivity.
    """
    coarse, fine = max(reference_spacing, current_spacing), min(reference_spacing, current_spacing)
    if coarse <= 0 or reference_std <= 0 or coarse - fine <= 0.01 * coarse:
        return 0.0
    return coarse / 4 / reference_std
